// How far V8 lets the old generation grow past the live heap before a full GC, for batch runs
// (`raftguard replay`).
//
// Why: a replay's live heap is small and flat (~10 MB after each full GC at 1M and at 4M events: the
// cluster view's windows, the summary, the findings), but it promotes garbage steadily (~18 MB per 1M
// events) and V8, on a machine with more than a few GB of memory, lets the old generation reach up to
// 4× the live heap before collecting it. Where a run ends in that sawtooth, not the length of the
// capture, then decided its peak RSS: a 1M replay ended below the top, a 4M one reached it (+13 to
// +18 % peak RSS for 4× the events). A growing factor of 2 keeps the old generation within ~2× the live
// heap (plus V8's minimum step), so the peak is set by what the replay keeps, for any capture length.
// The cost is a full GC of a ~10 MB heap every ~10 MB promoted, ~1 % of a replay (measured in the
// README's bench:replay row).
//
// V8 reads this flag each time it sets the next GC limit (MemoryController::GrowingFactor), so setting
// it at the start of the command applies to the whole run; Node documents flags set after start-up as
// unsupported in general, and the bench measures this one under Node 20 and 26.

import { setFlagsFromString } from 'node:v8';

/** Growing factor 1 + 100/100 = 2 (V8's default is dynamic, between 1.1 and 4). */
export const REPLAY_HEAP_GROWING_PERCENT = 100;

/**
 * Sets V8's heap growing factor for the rest of this process, unless the user chose one on the
 * command line (`node --heap-growing-percent=N …`), which wins. Returns the percent in effect, or
 * undefined when the user's flag was kept.
 */
export function limitHeapGrowth(percent: number = REPLAY_HEAP_GROWING_PERCENT, execArgv: readonly string[] = process.execArgv): number | undefined {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a))) return undefined;
  if (!Number.isInteger(percent) || percent <= 0) throw new RangeError(`heap growing percent: expected a positive integer, got ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
