// RG015 heartbeat-timing: how long followers go without hearing from the leader, against the
// election timeout. A fixed log-scale histogram per (leader -> follower) link: no growth, no sorting.

import type { Finding, NodeId, RaftEvent } from '../events/types.js';
import type { ClusterView } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding } from './detector.js';

export const RG015: CodeInfo = {
  code: 'RG015',
  name: 'heartbeat-timing',
  severity: 'info',
  rule: 'Followers start an election when they hear nothing from the leader for an election timeout; heartbeat gaps need a wide margin below it (heartbeat interval about a tenth of the election timeout).',
  recommendation: 'Tune the heartbeat interval and election timeout as shown in details, or fix what delays leader messages (disk fsync on the leader, CPU starvation, network).',
};

const BUCKETS = 64;
const PER_OCTAVE = 4;

function bucketOf(gapMs: number): number {
  const b = Math.floor(PER_OCTAVE * Math.log2(1 + gapMs));
  return b < 0 ? 0 : b >= BUCKETS ? BUCKETS - 1 : b;
}
/** Upper edge of a bucket in ms. */
function bucketTop(b: number): number {
  return Math.pow(2, (b + 1) / PER_OCTAVE) - 1;
}

interface Link {
  term: number;
  last: number;
  n: number;
  hist: Uint32Array;
  maxGap: number;
}

export class TimingDetector implements Detector {
  readonly codes = [RG015];
  private readonly links = new Map<NodeId, Map<NodeId, Link>>();
  private lastEval = -Infinity;

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    if (e.type !== 'append' && e.type !== 'heartbeat') return undefined;
    const lt = view.lt;
    if (!lt || typeof e.to !== 'string') return undefined;
    let byTo = this.links.get(e.from);
    if (!byTo) {
      byTo = new Map();
      this.links.set(e.from, byTo);
    }
    let l = byTo.get(e.to);
    if (!l) {
      l = { term: lt.term, last: view.now, n: 0, hist: new Uint32Array(BUCKETS), maxGap: 0 };
      byTo.set(e.to, l);
      return undefined;
    }
    if (l.term !== lt.term) {
      l.term = lt.term;
      l.last = view.now;
      return undefined;
    }
    const gap = view.now - l.last;
    const gapStart = l.last;
    l.last = view.now;
    // If the follower sent nothing during the whole gap it was down or cut off (the connection
    // carried nothing either way): an outage, not heartbeat timing.
    const follower = view.nodes.get(e.to);
    if (!follower || follower.lastSeen < gapStart) return undefined;
    // Gaps longer than ten election timeouts are outages (RG013's business), not timing.
    if (gap <= 0 || gap > 10 * this.th.electionTimeoutMs) return undefined;
    l.hist[bucketOf(gap)]++;
    l.n++;
    if (gap > l.maxGap) l.maxGap = gap;
    return undefined;
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    if (view.now - this.lastEval < 1000) return undefined;
    this.lastEval = view.now;
    let out: Finding[] | undefined;
    const et = this.th.electionTimeoutMs;
    const limit = this.th.heartbeatMarginRatio * et;
    for (const [L, byTo] of this.links) {
      for (const [F, l] of byTo) {
        if (l.n < 200) continue; // with fewer gaps the "p99" is just the single worst one
        const p99 = percentile(l.hist, l.n, 0.99);
        if (p99 <= limit) continue;
        if (!this.ledger.claim(`RG015|${L}|${F}`)) continue;
        const recElection = Math.ceil((p99 / this.th.heartbeatMarginRatio) / 100) * 100;
        const recHeartbeat = Math.max(10, Math.floor(Math.min(et, recElection) / 10));
        const f = makeFinding(
          RG015,
          view.now,
          l.term,
          [L, F],
          `p99 gap between leader ${L}'s messages to ${F} is about ${Math.round(p99)} ms, over ${Math.round(this.th.heartbeatMarginRatio * 100)}% of the ${et} ms election timeout (max ${Math.round(l.maxGap)} ms over ${l.n} gaps).`,
          [ev(`${l.n} gaps measured on the ${L} -> ${F} link`)],
          {
            p99GapMs: p99,
            maxGapMs: l.maxGap,
            samples: l.n,
            electionTimeoutMs: et,
            recommendedElectionTimeoutMs: Math.max(et, recElection),
            recommendedHeartbeatMs: recHeartbeat,
          },
        );
        (out ??= []).push(f);
      }
    }
    return out;
  }
}

function percentile(hist: Uint32Array, n: number, q: number): number {
  const want = Math.ceil(q * n);
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    acc += hist[b];
    if (acc >= want) return bucketTop(b);
  }
  return bucketTop(hist.length - 1);
}
