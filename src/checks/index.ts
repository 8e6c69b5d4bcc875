// Placeholder until the checks land: see src/engine.ts for the contract.
import type { Engine, EngineOptions } from '../engine.js';

export function createEngine(_opts: EngineOptions = {}): Engine {
  throw new Error('createEngine: not implemented yet');
}
