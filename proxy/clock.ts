// The live clock that stamps decoded events (the relay stamps each chunk as it reads it; the
// monitor's ticks use the same clock). Monotonic (never steps back when NTP corrects the wall
// clock), so one RaftGuard always stamps a message's cause before its effect: RG006 relies on that
// (see Thresholds.observerSkewMs). Epoch-based, so stamps still read as wall time.
import { performance } from 'node:perf_hooks';

export const monotonicNow = (): number => performance.timeOrigin + performance.now();
