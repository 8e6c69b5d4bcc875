// RG010 previous-term-commit-stall and RG011 transition-commit-lag: the leader-transition hazards.
// RG010 is what the no-op injector acts on, so its open/cleared state and the moment leadership
// was established are exposed (see StallDetector.stallFor / Engine accessors).

import type { Finding, RaftEvent } from '../events/types.js';
import type { ClusterView, LeaderTerm } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG010: CodeInfo = {
  code: 'RG010',
  name: 'previous-term-commit-stall',
  severity: 'warning',
  rule: 'A new leader can commit entries left from earlier terms only by committing an entry of its own term above them (Raft §5.4.2); without one, they stay uncommitted.',
  recommendation:
    'Make the implementation append a no-op entry on election (etcd and hashicorp/raft do). Meanwhile, one client write to the new leader clears the stall; RaftGuard active mode can send that no-op.',
};

export const RG011: CodeInfo = {
  code: 'RG011',
  name: 'transition-commit-lag',
  severity: 'warning',
  rule: 'After a leader change the new leader\'s commit index can be below what the cluster already committed; reads served from its state in that window are stale.',
  recommendation:
    'Serve linearizable reads only after the leader committed an entry of its own term (ReadIndex / a no-op on election); shorten the window by appending the no-op immediately.',
};

export interface StallState {
  leader: string;
  term: number;
  /** When the hazard (majority holds earlier-term entries above commit, no own-term entry) began. */
  hazardSince?: number;
  open: boolean;
  raisedAt?: number;
  clearedAt?: number;
  stalledFrom?: number;
  stalledIndex?: number;
  key?: string;
  finding?: Finding;
}

interface LagState {
  raised: boolean;
  key?: string;
  clearedAt?: number;
}

const KEEP = 16;

export class StallDetector implements Detector {
  readonly codes = [RG010, RG011];
  readonly stalls = new Map<number, StallState>();
  private readonly lags = new Map<number, LagState>();

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  /** RG010 state for (leader, term), if that leader was seen. */
  stallFor(leader: string, term: number): StallState | undefined {
    const s = this.stalls.get(term);
    return s && s.leader === leader ? s : undefined;
  }

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    const lt = view.lt;
    if (!lt) return undefined;
    let out = this.evalStall(lt, view, undefined);
    out = this.evalLag(lt, view, out);
    return out;
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    const lt = view.currentLeader;
    if (!lt) return undefined;
    let out = this.evalStall(lt, view, undefined);
    out = this.evalLag(lt, view, out);
    return out;
  }

  private stateOf(lt: LeaderTerm): StallState {
    let s = this.stalls.get(lt.term);
    if (!s || s.leader !== lt.leader.id) {
      s = { leader: lt.leader.id, term: lt.term, open: false };
      this.stalls.set(lt.term, s);
      if (this.stalls.size > KEEP) {
        let min = Infinity;
        for (const k of this.stalls.keys()) if (k < min) min = k;
        const old = this.stalls.get(min)!;
        if (old.open && old.key) this.ledger.clear(old.key, lt.since);
        this.stalls.delete(min);
      }
    }
    return s;
  }

  private evalStall(lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const s = this.stateOf(lt);
    if (s.open) {
      if (lt.firstOwnIndex <= lt.commit && lt.commit >= (s.stalledIndex ?? 0)) {
        s.open = false;
        s.clearedAt = view.now;
        const tr = this.ledger.clear(s.key!, view.now);
        if (tr?.finding.details) {
          tr.finding.details.clearedAt = view.now;
          tr.finding.details.timeToClearMs = view.now - (s.raisedAt ?? view.now);
        }
      } else if (view.currentLeader !== lt && view.currentLeader && view.currentLeader.term > lt.term) {
        // A newer leader took over: the stall of this term is moot.
        s.open = false;
        s.clearedAt = view.now;
        const tr = this.ledger.clear(s.key!, view.now);
        if (tr?.finding.details) tr.finding.details.supersededAt = view.now;
      }
      return out;
    }
    if (s.raisedAt !== undefined) return out;
    if (lt.firstOwnIndex !== Infinity || view.currentLeader !== lt) {
      s.hazardSince = undefined;
      return out;
    }
    const m = view.majorityIndex(lt);
    if (m <= lt.commit) {
      s.hazardSince = undefined;
      return out;
    }
    if (s.hazardSince === undefined) s.hazardSince = view.now;
    if (view.now - s.hazardSince < this.th.stallMs) return out;
    const L = lt.leader.id;
    const key = `RG010|${L}|${lt.term}`;
    if (!this.ledger.claim(key)) return out;
    s.open = true;
    s.raisedAt = view.now;
    s.stalledFrom = lt.commit + 1;
    s.stalledIndex = m;
    s.key = key;
    const evidence = [
      ev(`${L} acts as leader of term ${lt.term}; its commit is ${lt.commit}`, lt.commitEv),
      ev(`${L}'s log reaches index ${lt.lastIndex}, with no entry of term ${lt.term} sent`, lt.lastIndexEv),
    ];
    for (const [f, evt] of lt.matchEv) evidence.push(ev(`${f} holds up to index ${lt.match.get(f)} in term ${lt.term}`, evt));
    const f = makeFinding(
      RG010,
      view.now,
      lt.term,
      [L],
      `Leader ${L} of term ${lt.term} has entries ${s.stalledFrom}..${m} from earlier terms on a majority but above its commit ${lt.commit}, and no entry of term ${lt.term} for ${Math.round(view.now - s.hazardSince)} ms: they cannot commit until it appends one.`,
      evidence,
      {
        leader: L,
        stalledFrom: s.stalledFrom,
        stalledIndex: m,
        since: s.hazardSince,
        establishedAt: lt.establishedAt,
        commit: lt.commit,
      },
    );
    s.finding = f;
    this.ledger.openFinding(key, f);
    return push(out, f);
  }

  private evalLag(lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    if (!lt.commitSeen || lt.priorMaxCommit <= 0) return out;
    let s = this.lags.get(lt.term);
    if (!s) {
      s = { raised: false };
      this.lags.set(lt.term, s);
      if (this.lags.size > KEEP) {
        let min = Infinity;
        for (const k of this.lags.keys()) if (k < min) min = k;
        const old = this.lags.get(min)!;
        if (old.raised && old.key && old.clearedAt === undefined) this.ledger.clear(old.key, view.now);
        this.lags.delete(min);
      }
    }
    if (s.clearedAt !== undefined) return out;
    if (lt === view.currentLeader) {
      // Older leaders' lag windows ended when this leader took over.
      for (const [term, o] of this.lags) {
        if (term < lt.term && o.raised && o.key && o.clearedAt === undefined) {
          o.clearedAt = view.now;
          const tr = this.ledger.clear(o.key, view.now);
          if (tr?.finding.details) tr.finding.details.supersededAt = view.now;
        }
      }
    }
    if (lt.commit >= lt.priorMaxCommit) {
      s.clearedAt = view.now;
      if (s.raised && s.key) {
        const tr = this.ledger.clear(s.key, view.now);
        if (tr?.finding.details) {
          tr.finding.details.durationMs = view.now - lt.since;
          tr.finding.details.ongoing = false;
        }
      }
      return out;
    }
    if (s.raised || view.now - lt.since < this.th.transitionLagMs) return out;
    const L = lt.leader.id;
    const key = `RG011|${L}|${lt.term}`;
    if (!this.ledger.claim(key)) return out;
    s.raised = true;
    s.key = key;
    const f = makeFinding(
      RG011,
      view.now,
      lt.term,
      [L],
      `New leader ${L} of term ${lt.term} has commit ${lt.commit}, below the ${lt.priorMaxCommit} the cluster already reached, for ${Math.round(view.now - lt.since)} ms so far.`,
      [ev(`${L} advertises commit ${lt.commit} as leader of term ${lt.term}`, lt.commitEv)],
      { leader: L, leaderCommit: lt.commit, clusterCommit: lt.priorMaxCommit, since: lt.since, durationMs: view.now - lt.since, ongoing: true },
    );
    this.ledger.openFinding(key, f);
    return push(out, f);
  }
}
