// One step of the pure core, shared by the live monitor, `raftguard replay`, the simulator tests and
// the benchmarks, so they all see time the same way: applying an event advances the engine's clock
// to the event's time and runs the time-based checks (stall, no leader, lag) at most every
// `evalEveryMs` of event time. The live monitor additionally ticks on a timer so silence is noticed;
// replay ticks on past the last event for reorderToleranceMs so pending judgements mature.
import type { Engine } from '../engine.js';
import type { Finding, RaftEvent } from '../events/types.js';

export function step(engine: Engine, ev: RaftEvent): Finding[] {
  return engine.apply(ev);
}
