// One step of the pure core, shared by the live monitor, `raftguard replay` and the benchmarks, so
// they all see time the same way: the engine is ticked to the event's time, then the event applies.
import type { Engine } from '../engine.js';
import type { Finding, RaftEvent } from '../events/types.js';

export function step(engine: Engine, ev: RaftEvent): Finding[] {
  const timed = engine.tick(ev.t);
  const applied = engine.apply(ev);
  if (timed.length === 0) return applied;
  if (applied.length === 0) return timed;
  return timed.concat(applied);
}
