// The engine: the cluster view plus one detector per family, behind the pure Engine interface.
// Deterministic: the same events (and ticks) give the same findings. No I/O, no clock.

import type { Finding, NodeId, RaftEvent } from '../events/types.js';
import { EVENT_TYPES } from '../events/types.js';
import type {
  ClusterSnapshot,
  Engine,
  EngineOptions,
  LeaderState,
  NodeState,
  StallInfo,
  Thresholds,
} from '../engine.js';
import { DEFAULT_THRESHOLDS } from '../engine.js';
import { ClusterView } from '../cluster/view.js';
import type { CodeInfo, Detector } from './detector.js';
import { FindingLedger } from './detector.js';
import { ElectionDetector } from './election.js';
import { LogDetector } from './log.js';
import { CommitDetector } from './commit.js';
import { TermDetector } from './term.js';
import { VoteDetector } from './vote.js';
import { StallDetector, copyAction } from './stall.js';
import { LivenessDetector } from './liveness.js';
import { TimingDetector } from './timing.js';

/** Returned when an event raises nothing (nearly always): one shared, frozen array, no allocation per event. */
const NO_FINDINGS = Object.freeze([]) as unknown as Finding[];

export type { Detector, CodeInfo } from './detector.js';

const TYPES = new Set<string>(EVENT_TYPES);

function resolveThresholds(partial: Partial<Thresholds> | undefined): Thresholds {
  const th: Thresholds = { ...DEFAULT_THRESHOLDS };
  if (partial && typeof partial === 'object') {
    for (const k of Object.keys(DEFAULT_THRESHOLDS) as (keyof Thresholds)[]) {
      const v = partial[k];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) th[k] = v;
    }
    if (partial.staleLeaderGraceMs === undefined && typeof partial.electionTimeoutMs === 'number') {
      th.staleLeaderGraceMs = th.electionTimeoutMs;
    }
    if (partial.noopVerifyMs === undefined && typeof partial.electionTimeoutMs === 'number') {
      th.noopVerifyMs = th.electionTimeoutMs;
    }
  }
  th.logWindow = Math.max(16, Math.floor(th.logWindow));
  return th;
}

/** Findings so far plus one detector's (either may be absent or empty; no copy when one is). */
function more(out: Finding[] | undefined, f: Finding[] | undefined): Finding[] | undefined {
  if (f === undefined || f.length === 0) return out;
  return out === undefined ? f : out.concat(f);
}

export class RaftGuardEngine implements Engine {
  readonly thresholds: Thresholds;
  readonly view: ClusterView;
  readonly ledger = new FindingLedger();
  readonly detectors: Detector[];
  private readonly stall: StallDetector;
  readonly log: LogDetector;
  private lastEval = -Infinity;
  /** Events ignored because they were not usable at all (not an object, unknown type, no sender). */
  rejected = 0;
  /** Internal errors caught (a bug; counted so the data path never stops). */
  internalErrors = 0;

  constructor(opts: EngineOptions = {}) {
    this.thresholds = resolveThresholds(opts.thresholds);
    this.view = new ClusterView(this.thresholds, opts.nodes, opts.observed);
    this.stall = new StallDetector(this.ledger, this.thresholds);
    this.log = new LogDetector(this.ledger, this.thresholds.logWindow);
    this.detectors = [
      new ElectionDetector(this.ledger),
      this.log,
      new CommitDetector(this.ledger, this.thresholds),
      new TermDetector(this.ledger, this.thresholds),
      new VoteDetector(this.ledger, this.thresholds),
      this.stall,
      new LivenessDetector(this.ledger, this.thresholds),
      new TimingDetector(this.ledger, this.thresholds),
    ];
    this.onEvents = this.detectors.map((d) => d.onEvent.bind(d));
  }

  /** Each detector's onEvent, bound once: calling through these beats a method lookup on eight classes per event. */
  private readonly onEvents: Array<(ev: RaftEvent, view: ClusterView) => Finding[] | undefined>;

  /** Every code the engine can raise, with its rule and recommendation. */
  get codes(): CodeInfo[] {
    return this.detectors.flatMap((d) => d.codes);
  }

  apply(ev: RaftEvent): Finding[] {
    // The two commonest types are compared first: cheaper than hashing a freshly parsed string.
    const ty = ev === null || typeof ev !== 'object' ? undefined : ev.type;
    if (ty === undefined || (ty !== 'append' && ty !== 'append_resp' && !TYPES.has(ty)) || typeof ev.from !== 'string' || ev.from === '') {
      this.rejected++;
      return [];
    }
    if (typeof ev.t !== 'number' || !Number.isFinite(ev.t)) {
      // Keep the event but give it the current time: the rest of it may still be good.
      ev = { ...ev, t: Number.isFinite(this.view.now) ? this.view.now : 0 };
    }
    let out: Finding[] | undefined;
    try {
      const v = this.view;
      v.apply(ev);
      const on = this.onEvents;
      for (let i = 0; i < on.length; i++) out = more(out, on[i]!(ev, v));
      if (this.view.now - this.lastEval >= this.thresholds.evalEveryMs) {
        const tf = this.runTick();
        if (tf !== undefined) out = out === undefined ? tf : out.concat(tf);
      }
    } catch {
      this.internalErrors++;
    }
    return out ?? NO_FINDINGS;
  }

  tick(t: number): Finding[] {
    if (typeof t === 'number' && Number.isFinite(t) && t > this.view.now) this.view.now = t;
    if (!Number.isFinite(this.view.now)) return [];
    try {
      return this.runTick() ?? NO_FINDINGS;
    } catch {
      this.internalErrors++;
      return [];
    }
  }

  settle(t: number): Finding[] {
    const v = this.view;
    if (typeof t !== 'number' || !Number.isFinite(t) || !Number.isFinite(v.now)) return NO_FINDINGS;
    const now = v.now;
    if (t > now) v.now = t;
    let out: Finding[] | undefined;
    try {
      const ds = this.detectors;
      for (let i = 0; i < ds.length; i++) {
        const d = ds[i]!;
        if (d.onSettle) out = more(out, d.onSettle(v));
      }
    } catch {
      this.internalErrors++;
    } finally {
      v.now = now;
    }
    return out ?? NO_FINDINGS;
  }

  private runTick(): Finding[] | undefined {
    this.lastEval = this.view.now;
    const v = this.view;
    const t = v.now;
    let out: Finding[] | undefined;
    const ds = this.detectors;
    for (let i = 0; i < ds.length; i++) out = more(out, ds[i]!.onTick(t, v));
    return out;
  }

  /** Is RG010 open for (leader, term)? */
  isStallOpen(leader: NodeId, term: number): boolean {
    return this.stall.stallFor(leader, term)?.open === true;
  }

  /** When a majority of voters had accepted an append of `term` from `leader` (undefined: not yet / unknown). */
  establishedAt(leader: NodeId, term: number): number | undefined {
    const lt = this.view.leaderTerm(term);
    return lt && lt.leader.id === leader ? lt.establishedAt : undefined;
  }

  stallInfo(leader: NodeId, term: number): StallInfo | undefined {
    const s = this.stall.stallFor(leader, term);
    const lt = this.view.leaderTerm(term);
    if (!s && !(lt && lt.leader.id === leader)) return undefined;
    return {
      leader,
      term,
      open: s?.open === true,
      establishedAt: lt && lt.leader.id === leader ? lt.establishedAt : undefined,
      hazardSince: s?.hazardSince,
      raisedAt: s?.raisedAt,
      clearedAt: s?.clearedAt,
      stalledFrom: s?.stalledFrom,
      stalledIndex: s?.stalledIndex,
      firstHazardAt: s?.firstHazardAt,
      action: s?.action && copyAction(s.action),
      escalated: s?.escalated,
      clearedBy: s?.clearedBy,
    };
  }

  openFindings(): Finding[] {
    return [...this.ledger.open.values()].map((o) => o.finding);
  }

  clearedFindings(): { finding: Finding; clearedAt: number }[] {
    return this.ledger.cleared.map((c) => ({ finding: c.finding, clearedAt: c.clearedAt! }));
  }

  /** Sizes of the internal structures (for memory-bound tests and diagnostics). */
  sizes(): Record<string, number> {
    const v = this.view;
    let leaderLogUsed = 0;
    let matchEntries = 0;
    for (const lt of v.leaderTerms.values()) {
      leaderLogUsed = Math.max(leaderLogUsed, lt.log.used);
      matchEntries += lt.match.size;
    }
    return {
      nodes: v.nodes.size,
      leaderTerms: v.leaderTerms.size,
      leaderLogUsed,
      matchEntries,
      committedUsed: v.committed.used,
      entryWindowUsed: this.log.entries.used,
      entryWindowSide: this.log.entries.sideSize,
      openFindings: this.ledger.open.size,
    };
  }

  snapshot(): ClusterSnapshot {
    const v = this.view;
    const nodes: NodeState[] = [];
    for (const n of v.nodes.values()) {
      if (n.id === 'raftguard') continue;
      const s: NodeState = {
        id: n.id,
        term: n.term,
        role: n.role,
        lastIndex: n.lastIndex,
        lastTerm: n.lastTerm,
        commit: n.commit,
        lastSeen: Number.isFinite(n.lastSeen) ? n.lastSeen : 0,
        voter: v.voters.has(n.id),
      };
      if (n.leader !== undefined) s.leader = n.leader;
      nodes.push(s);
    }
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    let leader: LeaderState | undefined;
    const lt = v.currentLeader;
    if (lt) {
      const match: Record<NodeId, number> = {};
      for (const [k, m] of lt.match) match[k] = m;
      leader = { id: lt.leader.id, term: lt.term, since: lt.since, match, lastIndex: lt.lastIndex, commit: lt.commit };
      if (lt.establishedAt !== undefined) leader.establishedAt = lt.establishedAt;
      if (lt.firstOwnIndex !== Infinity) leader.firstOwnIndex = lt.firstOwnIndex;
    }
    const stalls: StallInfo[] = [];
    for (const s of this.stall.stalls.values()) {
      const info = this.stallInfo(s.leader, s.term);
      if (info) stalls.push(info);
    }
    stalls.sort((a, b) => a.term - b.term);
    const snap: ClusterSnapshot = {
      t: Number.isFinite(v.now) ? v.now : 0,
      term: v.clusterTerm,
      nodes,
      voters: [...v.voters].sort(),
      complete: v.complete,
      maxCommit: v.maxCommit,
      open: this.openFindings(),
      cleared: this.clearedFindings(),
      stalls,
    };
    if (leader) snap.leader = leader;
    return snap;
  }
}

export function createEngine(opts: EngineOptions = {}): RaftGuardEngine {
  return new RaftGuardEngine(opts);
}
