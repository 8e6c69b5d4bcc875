// The historical view of a run, built from the event stream alone (pure, like the engine):
// terms and their leaders, how long each led, elections, commit progress, time from each election
// to the new leader's first own-term commit, and how long each follower takes to learn a commit
// the leader made. Memory is bounded by the number of nodes and a cap on remembered terms.

import type { Finding, NodeId, RaftEvent, Severity } from '../events/types.js';
import { Reservoir } from './reservoir.js';
import { TermMap } from '../cluster/term-map.js';

export interface TermSummary {
  term: number;
  leader: NodeId;
  /** First time the leader was seen acting as leader of this term (ms). */
  since: number;
  /** Last time it was seen acting as leader of this term. */
  lastSeen: number;
  ledMs: number;
  /** Index of the first entry of its own term the leader sent. */
  firstOwnIndex?: number;
  /** ms from `since` to the leader advertising a commit that covers its first own-term entry. */
  firstOwnCommitMs?: number;
  commitAtStart: number;
  commitAtEnd: number;
}

export interface RunSummary {
  cluster: string;
  nodes: NodeId[];
  events: number;
  durationMs: number;
  eventsByType: Record<string, number>;
  /** Terms that had an observed leader, oldest first (the most recent `maxTerms` of them). */
  terms: TermSummary[];
  termsOmitted: number;
  /** Campaigns seen (distinct (candidate, term) non-pre vote requests). */
  campaigns: number;
  /** Terms in which a leader was observed. */
  leaderTerms: number;
  leaderChanges: number;
  commit: { first?: number; last?: number; entriesCommitted: number };
  electionToFirstOwnCommitMs: ReturnType<Reservoir['stats']>;
  /** Per follower: ms between the leader first advertising commit ≥ c and the follower being told. */
  commitLearnMs: Record<NodeId, ReturnType<Reservoir['stats']>>;
  findings: Record<Severity, number>;
  findingsByCode: Record<string, number>;
}

interface PendingCommit {
  commit: number;
  t: number;
}

interface LeaderTerm extends TermSummary {
  /** Commits this leader advertised, oldest first, not yet learned by every follower (bounded). */
  pending: PendingCommit[];
  /** Sequence number of pending[0] (commits are numbered as advertised). */
  pendingBase: number;
  /**
   * Per follower: highest commit told, and the sequence number of the next pending commit to learn.
   * An array searched by id (a leader has a handful of followers): the minimum cursor is taken over
   * it on every commit a follower learns, which over a Map allocated an iterator each time.
   */
  told: FollowerTold[];
  advertised: number;
}

interface FollowerTold {
  id: NodeId;
  commit: number;
  cursor: number;
}

const MAX_PENDING = 1024;

/**
 * A counter slot per event type, picked by comparing the type with the contract's names (the two
 * commonest first): cheaper than a keyed property update on every event, which was measurable.
 * -1: a type outside the contract.
 */
const TYPE_SLOTS = 10;
function typeSlot(type: string): number {
  switch (type) {
    case 'append':
      return 0;
    case 'append_resp':
      return 1;
    case 'heartbeat':
      return 2;
    case 'heartbeat_resp':
      return 3;
    case 'vote':
      return 4;
    case 'vote_resp':
      return 5;
    case 'snapshot':
      return 6;
    case 'snapshot_resp':
      return 7;
    case 'timeout_now':
      return 8;
    case 'noop':
      return 9;
  }
  return -1;
}

export class SummaryBuilder {
  /**
   * Leader terms in the order they were first seen, the newest maxTerms (see cluster/term-map.ts for
   * why not a Map); the report lists them in this order.
   */
  private readonly byTerm = new TermMap<LeaderTerm>();
  private termsOmitted = 0;
  private readonly campaigns = new Set<string>();
  private campaignCount = 0;
  private events = 0;
  private firstT: number | undefined;
  private lastT = 0;
  /** Events per type (index: typeSlot), and the types in the order first seen (as eventsByType lists them). */
  private readonly typeCounts = new Float64Array(TYPE_SLOTS);
  private readonly typeOrder: string[] = [];
  /** Types outside the contract (not from a validated capture; counted all the same). */
  private readonly otherTypes = new Map<string, number>();
  private readonly nodes = new Set<NodeId>();
  private firstCommit: number | undefined;
  private maxCommit = 0;
  private readonly electionToCommit = new Reservoir();
  private readonly learn = new Map<NodeId, Reservoir>();
  private readonly findings: Record<Severity, number> = { critical: 0, warning: 0, info: 0 };
  private readonly findingsByCode: Record<string, number> = {};
  private lastLeader: NodeId | undefined;
  private leaderChanges = 0;

  /** Called when a leader's first own-term entry is first seen committed (live metrics use it). */
  onFirstOwnCommit?: (info: { term: number; leader: NodeId; ms: number }) => void;

  constructor(
    private readonly cluster: string,
    headerNodes: NodeId[] = [],
    private readonly maxTerms = 200,
  ) {
    for (const n of headerNodes) this.nodes.add(n);
  }

  addEvent(ev: RaftEvent): void {
    this.events++;
    if (this.firstT === undefined) this.firstT = ev.t;
    if (ev.t > this.lastT) this.lastT = ev.t;
    const slot = typeSlot(ev.type);
    if (slot >= 0) {
      if (this.typeCounts[slot]++ === 0) this.typeOrder.push(ev.type);
    } else {
      const n = this.otherTypes.get(ev.type) ?? 0;
      if (n === 0) this.typeOrder.push(ev.type);
      this.otherTypes.set(ev.type, n + 1);
    }
    if (ev.type === 'noop') return;
    this.nodes.add(ev.from);
    this.nodes.add(ev.to);

    if (ev.type === 'vote' && !ev.pre) {
      const key = `${ev.from}/${ev.term}`;
      if (!this.campaigns.has(key)) {
        this.campaignCount++;
        this.campaigns.add(key);
        // Only recent campaigns need dedupe; keep the set small.
        if (this.campaigns.size > 4096) this.campaigns.clear();
      }
      return;
    }
    if (ev.type !== 'append' && ev.type !== 'heartbeat') return;

    const lt = this.leaderTerm(ev.from, ev.term, ev.t, ev.commit);
    if (!lt) return;
    lt.lastSeen = Math.max(lt.lastSeen, ev.t);
    lt.ledMs = lt.lastSeen - lt.since;
    if (ev.type === 'append') {
      const entries = ev.entries;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e.term === ev.term && (lt.firstOwnIndex === undefined || e.index < lt.firstOwnIndex)) lt.firstOwnIndex = e.index;
      }
    }
    // A heartbeat's commit is min(match, commit) (etcd): it proves the leader's commit is at least
    // that high, and it is exactly what the follower was told.
    const c = ev.commit;
    if (c > lt.advertised) {
      lt.advertised = c;
      lt.commitAtEnd = c;
      if (lt.pending.length >= MAX_PENDING) {
        lt.pending.shift();
        lt.pendingBase++;
      }
      lt.pending.push({ commit: c, t: ev.t });
    }
    if (this.firstCommit === undefined) this.firstCommit = c;
    if (c > this.maxCommit) this.maxCommit = c;
    if (lt.firstOwnIndex !== undefined && lt.firstOwnCommitMs === undefined && c >= lt.firstOwnIndex) {
      lt.firstOwnCommitMs = ev.t - lt.since;
      this.electionToCommit.add(lt.firstOwnCommitMs);
      this.onFirstOwnCommit?.({ term: lt.term, leader: lt.leader, ms: lt.firstOwnCommitMs });
    }
    this.tellFollower(lt, ev.to, c, ev.t);
  }

  addFinding(f: Finding): void {
    this.findings[f.severity]++;
    this.findingsByCode[f.code] = (this.findingsByCode[f.code] ?? 0) + 1;
  }

  private leaderTerm(leader: NodeId, term: number, t: number, commit: number): LeaderTerm | undefined {
    const existing = this.byTerm.get(term);
    if (existing) return existing.leader === leader ? existing : undefined; // two leaders: RG001's business
    const lt: LeaderTerm = {
      term,
      leader,
      since: t,
      lastSeen: t,
      ledMs: 0,
      commitAtStart: commit,
      commitAtEnd: commit,
      pending: [],
      pendingBase: 0,
      told: [],
      advertised: commit,
    };
    this.byTerm.set(term, lt);
    if (leader !== this.lastLeader) {
      if (this.lastLeader !== undefined) this.leaderChanges++;
      this.lastLeader = leader;
    }
    while (this.byTerm.size > this.maxTerms) {
      this.byTerm.delete(this.byTerm.termAt(0));
      this.termsOmitted++;
    }
    return lt;
  }

  private tellFollower(lt: LeaderTerm, follower: NodeId, commit: number, t: number): void {
    const told = lt.told;
    let f: FollowerTold | undefined;
    for (let i = 0; i < told.length; i++) {
      if (told[i]!.id === follower) {
        f = told[i];
        break;
      }
    }
    if (!f) told.push((f = { id: follower, commit: lt.commitAtStart, cursor: lt.pendingBase }));
    if (commit <= f.commit) return;
    f.commit = commit;
    let r = this.learn.get(follower);
    if (!r) this.learn.set(follower, (r = new Reservoir()));
    // Every advertised commit up to `commit` is now known to this follower: one sample each.
    // Cursors make this amortised O(1) per event.
    let seq = Math.max(f.cursor, lt.pendingBase);
    const end = lt.pendingBase + lt.pending.length;
    while (seq < end) {
      const p = lt.pending[seq - lt.pendingBase]!;
      if (p.commit > commit) break;
      r.add(t - p.t);
      seq++;
    }
    f.cursor = seq;
    // Drop commits every follower has learned.
    let minCursor = Infinity;
    for (let i = 0; i < told.length; i++) if (told[i]!.cursor < minCursor) minCursor = told[i]!.cursor;
    if (told.length >= this.nodes.size - 1 && minCursor > lt.pendingBase) {
      // In place: splice would allocate an array of the removed commits.
      const drop = minCursor - lt.pendingBase;
      lt.pending.copyWithin(0, drop);
      lt.pending.length -= drop;
      lt.pendingBase = minCursor;
    }
  }

  private eventsByType(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const type of this.typeOrder) {
      const slot = typeSlot(type);
      out[type] = slot >= 0 ? this.typeCounts[slot]! : this.otherTypes.get(type)!;
    }
    return out;
  }

  build(): RunSummary {
    const terms: TermSummary[] = this.byTerm.values().map((lt) => {
      const { pending: _p, pendingBase: _b, told: _t, advertised: _a, ...rest } = lt;
      return rest;
    });
    const commitLearnMs: RunSummary['commitLearnMs'] = {};
    for (const [n, r] of [...this.learn].sort(([a], [b]) => a.localeCompare(b))) commitLearnMs[n] = r.stats();
    return {
      cluster: this.cluster,
      nodes: [...this.nodes].sort(),
      events: this.events,
      durationMs: this.firstT === undefined ? 0 : this.lastT - this.firstT,
      eventsByType: this.eventsByType(),
      terms,
      termsOmitted: this.termsOmitted,
      campaigns: this.campaignCount,
      leaderTerms: this.byTerm.size + this.termsOmitted,
      leaderChanges: this.leaderChanges,
      commit: {
        first: this.firstCommit,
        last: this.firstCommit === undefined ? undefined : this.maxCommit,
        entriesCommitted: this.firstCommit === undefined ? 0 : this.maxCommit - this.firstCommit,
      },
      electionToFirstOwnCommitMs: this.electionToCommit.stats(),
      commitLearnMs,
      findings: { ...this.findings },
      findingsByCode: { ...this.findingsByCode },
    };
  }
}
