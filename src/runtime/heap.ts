// V8 heap settings for batch runs (`raftguard replay`), set by the command itself at its start.
//
// A replay's live heap is small and flat (~10 MB after each full GC at 1M and at 4M events: the
// cluster view's windows, the summary, the findings), while it allocates and promotes steadily. Two of
// V8's defaults suit a long-lived process better than that:
//
// - Old generation: on a machine with more than a few GB of memory V8 lets it reach up to 4× the live
//   heap before a full GC. Where a run ended in that sawtooth, not the length of the capture, then
//   decided its peak RSS (a 1M replay ended below the top, a 4M one reached it: +13 to +18 % peak RSS
//   for 4× the events). A growing factor of 2 keeps it within ~2× the live heap plus V8's minimum step,
//   so the peak follows what the replay keeps. Cost: 16 full GCs of a ~10 MB heap instead of 4–7 over
//   4M events, ~1 % of the run.
// - Young generation: it starts at 1 MB per semi-space and doubles on each growth, so a replay spends
//   its first tens of thousands of events in small young generations, scavenging often and promoting
//   what a larger one would have let die. A growth factor of 16 reaches the maximum in one step (44 → 32
//   scavenges, 142 → 100 ms on a 1M replay, Node 20; 2–4 % faster under Node 20 and 26). The maximum is
//   unchanged. (`--min-semi-space-size` would do it from the first allocation, but V8 reads it only at
//   start-up.)
//
// V8 reads both flags each time it sizes a space (MemoryController::GrowingFactor, the new space's
// grow step), so setting them at the start of the command applies to the whole run; Node documents
// flags set after start-up as unsupported in general, so the test checks their effect and the bench
// measures them under Node 20 and 26.

import { setFlagsFromString } from 'node:v8';

/** What `raftguard replay` sets: flag name without the leading dashes, value. */
export const REPLAY_V8_FLAGS: ReadonlyArray<readonly [name: string, value: number]> = [
  // Growing factor 1 + 100/100 = 2 (V8's own is dynamic, between 1.1 and 4).
  ['heap-growing-percent', 100],
  // New space: 1 MB → its maximum (16 MB per semi-space on 64-bit Node 20) at the first growth, not 1 → 2 → 4 → 8 → 16.
  ['semi-space-growth-factor', 16],
];

/**
 * The REPLAY_V8_FLAGS to set, as `--name=value`, leaving out any the user gave node on its command
 * line (`node --heap-growing-percent=N bin/raftguard.js replay …`), which wins.
 */
export function replayFlagsToSet(execArgv: readonly string[]): string[] {
  const given = (name: string): boolean => {
    const pattern = new RegExp(`^--${name.replace(/-/g, '[-_]')}(=|$)`);
    return execArgv.some((a) => pattern.test(a));
  };
  return REPLAY_V8_FLAGS.filter(([name]) => !given(name)).map(([name, value]) => `--${name}=${value}`);
}

/** Sets the replay heap flags for the rest of this process; returns those it set. */
export function tuneHeapForReplay(execArgv: readonly string[] = process.execArgv): string[] {
  const flags = replayFlagsToSet(execArgv);
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
