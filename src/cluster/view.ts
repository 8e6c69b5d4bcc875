// The cluster view: what each member knows, reconstructed from the wire alone.
// Pure and deterministic: events in, state out; time only from events and ticks.
// Memory: a few records per node, a few (leader, term) records each holding one index window,
// and one global committed-index window. Nothing grows with log length or connection age.

import type {
  AppendEvent,
  Entry,
  NodeId,
  RaftEvent,
  SnapshotEvent,
} from '../events/types.js';
import type { Thresholds } from '../engine.js';
import { TermWindow } from './ring.js';
import { TermMap } from './term-map.js';

export function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Bounded (term, firstSeen) history: answers "since when was something above term t". */
export class TermHistory {
  private readonly terms: number[] = [];
  private readonly first: number[] = [];
  constructor(private readonly cap = 16) {}
  get max(): number {
    return this.terms.length ? this.terms[this.terms.length - 1] : 0;
  }
  /** Records a term seen at time t (only new maxima are kept). */
  see(term: number, t: number): void {
    if (term <= this.max) return;
    if (this.terms.length >= this.cap) {
      this.terms.shift();
      this.first.shift();
    }
    this.terms.push(term);
    this.first.push(t);
  }
  /**
   * Earliest time a term above `term` was seen; undefined when none. When old history was
   * dropped this answers a later time, which only makes time-gap checks more conservative.
   */
  firstAbove(term: number): number | undefined {
    for (let i = 0; i < this.terms.length; i++) if (this.terms[i] > term) return this.first[i];
    return undefined;
  }
}

/** What a node's own successful response proved about its log in one term (for RG008). */
export interface AckFact {
  term: number;
  /** Highest index it confirmed holding from that term's leader. */
  match: number;
  /** Term of the leader's entry at `match` (-1 unknown). */
  entryTerm: number;
  ev: RaftEvent;
}

export class NodeRec {
  term = 0;
  role: 'leader' | 'candidate' | 'follower' | 'unknown' = 'unknown';
  leader?: NodeId;
  lastIndex = 0;
  lastTerm = 0;
  commit = 0;
  lastSeen = -Infinity;
  /** Per-term best successful ack, newest terms last (bounded). */
  readonly acks: AckFact[] = [];
  /** Terms of appends/snapshots addressed to this node, ascending, bounded. */
  readonly recvTerms: number[] = [];
  /** Last snapshot addressed to this node (pairs snapshot_resp without match). */
  lastSnapIn?: SnapshotEvent;
  constructor(
    readonly id: NodeId,
    readonly num: number,
  ) {}

  noteAck(term: number, match: number, entryTerm: number, ev: RaftEvent): void {
    const a = this.acks;
    for (let i = a.length - 1; i >= 0; i--) {
      const f = a[i];
      if (f.term === term) {
        if (match > f.match || (match === f.match && f.entryTerm < 0 && entryTerm >= 0)) {
          f.match = match;
          f.entryTerm = entryTerm;
          f.ev = ev;
        }
        return;
      }
      if (f.term < term) {
        a.splice(i + 1, 0, { term, match, entryTerm, ev });
        if (a.length > 8) a.shift();
        return;
      }
    }
    a.unshift({ term, match, entryTerm, ev });
    if (a.length > 8) a.shift();
  }

  noteRecv(term: number): void {
    const r = this.recvTerms;
    if (r.length && r[r.length - 1] === term) return;
    if (r.includes(term)) return;
    r.push(term);
    r.sort((x, y) => x - y);
    if (r.length > 8) r.shift();
  }
}

/** One leader in one term: its log as far as it taught us, its commit, its followers' matchIndex. */
export class LeaderTerm {
  lastSeen: number;
  /** Highest leaderCommit it advertised in an `append` (never from `heartbeat`). */
  commit = 0;
  commitEv?: AppendEvent;
  /** Lowest positive leaderCommit it advertised in this term. */
  minCommit = Infinity;
  minCommitEv?: AppendEvent;
  /**
   * Lowest leaderCommit advertised in an append that also carried a position above it (prevIndex
   * or an entry beyond the commit). Implementations may clamp the commit they send to the last
   * index in the message; such a value cannot have been clamped, so it was the leader's real
   * commit at that moment. Proof that the leader's commit grew during this term.
   */
  minTrueCommit = Infinity;
  minTrueCommitEv?: AppendEvent;
  commitSeen = false;
  /** Last time an append advertised commit >= `commit` (the leader still stands by its commit). */
  commitLastAt = -Infinity;
  lastIndex = 0;
  lastIndexEv?: RaftEvent;
  /** Index of its first entry of its own term (Infinity = none seen). */
  firstOwnIndex = Infinity;
  firstOwnEv?: AppendEvent;
  readonly log: TermWindow;
  readonly match = new Map<NodeId, number>();
  readonly matchEv = new Map<NodeId, RaftEvent>();
  /** When a majority of voters (counting the leader) had accepted an append of this term. */
  establishedAt?: number;
  /** Highest commit the cluster had reached before this leader appeared (for RG011). */
  readonly priorMaxCommit: number;
  /** Per follower: pairing of rejects with their request, and when each ack level was reached. */
  readonly followers = new Map<NodeId, FollowerTrack>();

  constructor(
    readonly leader: NodeRec,
    readonly term: number,
    readonly since: number,
    logWindow: number,
    priorMaxCommit: number,
  ) {
    this.lastSeen = since;
    this.log = new TermWindow(logWindow);
    this.priorMaxCommit = priorMaxCommit;
  }
}

/** What a leader sent one follower in its term, to pair a reject with its request. */
export function notInQuorumFor(ft: FollowerTrack | undefined, c: number): AppendEvent | undefined {
  if (!ft) return undefined;
  for (const f of ft.early) if (f.s < c && c <= f.k) return f.ev;
  return undefined;
}

/** How many recent appends per follower can be paired with a response by id. */
const REQ_RING = 32;

/** The newest append in the follower's ring with this id. */
function requestById(ft: FollowerTrack, id: string): AppendEvent | undefined {
  const ring = ft.reqRing;
  if (!ring) return undefined;
  const n = ring.length;
  for (let k = 1; k <= n; k++) {
    const ev = ring[(ft.reqPos - k + n) % n];
    if (ev.id === id) return ev;
  }
  return undefined;
}

/**
 * The highest index an append of a leader of `term` carried (its prevIndex or an entry), with the
 * same filter ClusterView.apply uses when it learns the entries; -1 when it carried none.
 */
function lastCarried(ev: AppendEvent, term: number): number {
  let last = isIndex(ev.prevIndex) ? ev.prevIndex : -1;
  const entries = Array.isArray(ev.entries) ? ev.entries : undefined;
  if (entries) {
    for (let i = 0; i < entries.length; i++) {
      const e: Entry = entries[i];
      if (e === null || typeof e !== 'object' || !isIndex(e.index) || !isIndex(e.term) || e.term > term) continue;
      if (e.index > last) last = e.index;
    }
  }
  return last;
}

export interface FollowerTrack {
  /** Appends observed since the follower's last response (1 = the next response is unambiguous). */
  outstanding: number;
  lastPrev: number;
  lastEv?: AppendEvent;
  /** When the follower's matchIndex in this term first reached its current value. */
  matchAt: number;
  /**
   * The last REQ_RING appends sent to the follower that carry an id, oldest overwritten first, to pair
   * a reject (or a success that carries no match) with its request. A ring rather than a Map keyed by
   * id: every append writes here and lookups are rare, so two array stores beat hashing a fresh id
   * string per message (measured: the Map sets were ~20 % of view.apply's own time).
   */
  reqRing?: AppendEvent[];
  reqPos: number;
  /** Highest index this leader's appends to the follower carried (prevIndex or entries) in the term. */
  maxSent: number;
  /**
   * Facts "commit k was advertised to this follower while nothing above s had been sent to it"
   * (k > s), newest last, bounded. Appends on one leader->follower channel are observed in send
   * order, so the follower cannot have acknowledged any index in (s, k] before the leader's commit
   * reached k: it was not part of the quorum that committed those indices.
   */
  readonly early: { k: number; s: number; ev: AppendEvent }[];
}

/** A follower rejected an append at an index it had already acknowledged and that is committed. */
export interface LostAcked {
  follower: NodeId;
  leader: NodeId;
  term: number;
  prevIndex: number;
  match: number;
  ackEv: RaftEvent;
  request: AppendEvent;
  reject: RaftEvent;
}

/** A committed-index fact that contradicts an earlier one (RG009, cross-term part). */
export interface CommitConflict {
  index: number;
  term: number;
  byTerm: number;
  ev: RaftEvent;
  otherTerm: number;
  otherByTerm: number;
  otherEv: RaftEvent;
}

/** An entry a leader of term `leaderTerm` holds at an index already known committed with another term (RG004). */
export interface CommittedOverwrite {
  index: number;
  term: number;
  leaderTerm: number;
  ev: RaftEvent;
  committedTerm: number;
  committedByTerm: number;
  committedEv: RaftEvent;
}

/**
 * Why an index is known committed: the leader of `byTerm` (node `from`) advertised a commit, or sent a
 * snapshot, that covers it. One object per (byTerm, sender), shared by every index that sender's
 * commits marked, and `ev` is kept at the proof that covers the most (the highest commit or snapshot
 * lastIndex seen): that one event proves every index the object stands for, since each was at or
 * below the coverage of the event that marked it. A fresh {byTerm, ev} per index held every
 * commit-advancing append for the whole log window: ~10 of the 33 MB promoted to the old
 * generation per 1M simulator events (measured with --trace-gc-nvp).
 */
interface CommittedRef {
  byTerm: number;
  from: NodeId;
  ev: RaftEvent;
  /** The highest index `ev` proves committed. */
  covers: number;
}

/** The highest index a commit proof covers: an append's commit, or a snapshot's last index. */
function proofCovers(ev: RaftEvent): number {
  if (ev.type === 'snapshot') return ev.lastIndex;
  return ev.type === 'append' && isIndex(ev.commit) ? ev.commit : -1;
}

const MAX_LEADER_TERMS = 8;

export class ClusterView {
  readonly th: Thresholds;
  /** Latest time seen (events may arrive slightly out of order; time never goes back here). */
  now = -Infinity;
  readonly nodes = new Map<NodeId, NodeRec>();
  private nextNum = 0;
  /** Highest non-pre term seen from any node, with when each new maximum was first seen. */
  readonly clusterTerms = new TermHistory(32);
  /** Leader records by term (bounded to the newest few terms; see term-map.ts for why not a Map). */
  readonly leaderTerms = new TermMap<LeaderTerm>();
  /** Highest term with a known leader. */
  topLeaderTerm = 0;
  /** Highest commit advertised by any leader (append) or carried by a snapshot. */
  maxCommit = 0;
  maxCommitEv?: RaftEvent;
  /** index -> committed term, with the term of the leader that committed it and its proof. */
  readonly committed: TermWindow<CommittedRef>;
  /** The proof record markCommitted used last (consecutive indices nearly always share one). */
  private lastProof?: CommittedRef;
  /** Voting members. */
  readonly voters = new Set<NodeId>();
  /**
   * The same members as an array, in the same order: the per-event and per-tick loops over the voters
   * (majority index, replication lag) read this, because iterating a Set allocates an iterator each
   * time (measured: ~4 MB per 300k events). Changed only with `voters`, through addVoter/setVoters.
   */
  readonly voterIds: NodeId[] = [];
  /** Voters came from the header, a config entry or a snapshot (not merely learned from traffic). */
  votersKnown: boolean;
  readonly observed?: ReadonlySet<NodeId>;
  /** Highest index of a config entry seen (membership changes in flight make majorities uncertain). */
  lastConfigIndex = 0;

  // Scratch outputs of the last apply(), reused (no per-event allocation), read by detectors.
  /** LeaderTerm the last event was about (append/heartbeat sender, or response target). */
  lt?: LeaderTerm;
  /** The LeaderTerm's commit before this event. */
  prevLeaderCommit = 0;
  /** Cluster max commit before this event. */
  prevMaxCommit = 0;
  /** The event created a new LeaderTerm. */
  newLeaderTerm = false;
  readonly conflicts: CommitConflict[] = [];
  readonly overwrites: CommittedOverwrite[] = [];
  readonly lostAcked: LostAcked[] = [];

  constructor(th: Thresholds, nodes?: NodeId[], observed?: NodeId[]) {
    this.th = th;
    this.committed = new TermWindow<CommittedRef>(th.logWindow, true);
    const valid = Array.isArray(nodes) ? nodes.filter((n) => typeof n === 'string' && n !== '') : [];
    for (const n of valid) {
      this.addVoter(n);
      this.node(n);
    }
    this.votersKnown = valid.length > 0;
    if (Array.isArray(observed)) this.observed = new Set(observed.filter((n) => typeof n === 'string'));
  }

  node(id: NodeId): NodeRec {
    let n = this.nodes.get(id);
    if (!n) {
      n = new NodeRec(id, this.nextNum++);
      this.nodes.set(id, n);
      if (!this.votersKnown) this.addVoter(id);
    }
    return n;
  }

  private addVoter(id: NodeId): void {
    if (this.voters.has(id)) return;
    this.voters.add(id);
    this.voterIds.push(id);
  }

  isObserved(id: NodeId): boolean {
    return this.observed === undefined || this.observed.has(id);
  }

  /** Every voter's inbound traffic is observed. */
  get complete(): boolean {
    if (this.observed === undefined) return true;
    const ids = this.voterIds;
    for (let i = 0; i < ids.length; i++) if (!this.observed.has(ids[i]!)) return false;
    return true;
  }

  get quorum(): number {
    return (this.voters.size >> 1) + 1;
  }

  get clusterTerm(): number {
    return this.clusterTerms.max;
  }

  leaderTerm(term: number): LeaderTerm | undefined {
    return this.leaderTerms.get(term);
  }

  /** The leader of the highest term that has one. */
  get currentLeader(): LeaderTerm | undefined {
    return this.leaderTerms.get(this.topLeaderTerm);
  }

  /**
   * Highest index a majority of voters is known to hold in lt's term: the leader counts with its
   * last index, followers with their matchIndex in that term. 0 when not enough is known.
   */
  majorityIndex(lt: LeaderTerm): number {
    const q = this.quorum;
    // Small clusters: collect positions into a reused scratch array and pick the q-th highest.
    const pos = this.scratchPos;
    pos.length = 0;
    const ids = this.voterIds;
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i]!;
      // The leader holds everything up to its last index, and at least up to its own commit.
      if (v === lt.leader.id) pos.push(lt.lastIndex > lt.commit ? lt.lastIndex : lt.commit);
      else pos.push(lt.match.get(v) ?? 0);
    }
    if (pos.length < q) return 0;
    // Insertion sort, descending: a handful of voters, called on every ack (Array.sort's comparator
    // calls cost more than the sort).
    for (let i = 1; i < pos.length; i++) {
      const x = pos[i];
      let j = i - 1;
      while (j >= 0 && pos[j] < x) {
        pos[j + 1] = pos[j];
        j--;
      }
      pos[j + 1] = x;
    }
    return pos[q - 1];
  }
  private readonly scratchPos: number[] = [];

  /** Index and term of the config entry (or snapshot) the voter set came from; 0 = header. */
  votersIndex = 0;
  votersTerm = 0;

  /**
   * Whether the current voter set is settled: from the header, or from a config entry / snapshot
   * that is known committed (an uncommitted config entry may still be overwritten).
   */
  get votersSettled(): boolean {
    return this.votersKnown && (this.votersIndex === 0 || this.committed.get(this.votersIndex) === this.votersTerm);
  }

  private setVoters(list: unknown, index: number, term: number): void {
    if (!Array.isArray(list)) return;
    // A late or duplicated message may carry an older configuration: only a newer one replaces.
    if (index < this.votersIndex) return;
    const ids = list.filter((v): v is string => typeof v === 'string' && v !== '');
    if (ids.length === 0) return;
    this.votersIndex = index;
    this.votersTerm = term;
    this.voters.clear();
    this.voterIds.length = 0;
    for (const v of ids) {
      this.addVoter(v);
      this.node(v);
    }
    this.votersKnown = true;
  }

  private getOrCreateLeaderTerm(n: NodeRec, term: number, t: number): LeaderTerm {
    let lt = this.leaderTerms.get(term);
    if (lt && lt.leader === n) return lt;
    if (lt) return lt; // a second leader in one term: RG001 reports it; keep the first record
    lt = new LeaderTerm(n, term, t, this.th.logWindow, this.maxCommit);
    this.newLeaderTerm = true;
    this.leaderTerms.set(term, lt);
    if (term > this.topLeaderTerm) this.topLeaderTerm = term;
    if (this.leaderTerms.size > MAX_LEADER_TERMS) this.leaderTerms.deleteMin();
    return lt;
  }

  private seeTerm(n: NodeRec, term: number, t: number): void {
    if (term <= 0) return;
    if (term > n.term) {
      n.term = term;
      n.role = 'follower';
      n.leader = undefined;
      n.commit = 0;
    }
    this.clusterTerms.see(term, t);
  }

  /** Marks index committed with `term` by a leader of `byTerm`; records contradictions. */
  private markCommitted(index: number, term: number, byTerm: number, ev: RaftEvent): void {
    if (index <= 0) return;
    const held = this.committed.get(index);
    if (held < 0) {
      this.committed.set(index, term, this.commitProof(byTerm, ev));
      return;
    }
    if (held !== term) {
      const ref = this.committed.getRef(index)!;
      this.conflicts.push({ index, term, byTerm, ev, otherTerm: held, otherByTerm: ref.byTerm, otherEv: ref.ev });
    }
  }

  /** The shared proof record of (byTerm, ev's sender), moved to `ev` when `ev` covers more. */
  private commitProof(byTerm: number, ev: RaftEvent): CommittedRef {
    const covers = proofCovers(ev);
    let p = this.lastProof;
    if (p === undefined || p.byTerm !== byTerm || p.from !== ev.from) {
      p = { byTerm, from: ev.from, ev, covers };
      this.lastProof = p;
    } else if (covers > p.covers) {
      p.ev = ev;
      p.covers = covers;
    }
    return p;
  }

  /** lt's log holds (index, term): record it, and compare with what is known committed there. */
  private learnLeaderEntry(lt: LeaderTerm, index: number, term: number, ev: RaftEvent): void {
    if (index <= 0 || term <= 0) return;
    const before = lt.log.get(index);
    if (before !== term) lt.log.set(index, term);
    const ct = this.committed.get(index);
    if (ct >= 0 && ct !== term) {
      const ref = this.committed.getRef(index)!;
      // Leader completeness only binds leaders of terms >= the committing leader's term; a stale
      // leader of an older term may still hold the overwritten uncommitted entry.
      if (lt.term >= ref.byTerm) {
        this.overwrites.push({
          index,
          term,
          leaderTerm: lt.term,
          ev,
          committedTerm: ct,
          committedByTerm: ref.byTerm,
          committedEv: ref.ev,
        });
      }
    } else if (ct < 0 && index <= lt.commit && lt.commitEv) {
      this.markCommitted(index, term, lt.term, lt.commitEv);
    }
  }

  private followerTrack(lt: LeaderTerm, id: NodeId): FollowerTrack {
    let ft = lt.followers.get(id);
    if (!ft) {
      ft = { outstanding: 0, lastPrev: -1, matchAt: this.now, reqPos: 0, maxSent: -1, early: [] };
      lt.followers.set(id, ft);
    }
    return ft;
  }

  /**
   * A follower at the leader's term rejected an append. In a correct follower the entries it
   * acknowledged to this leader stay in its log for the whole term (truncation only removes
   * entries that conflict with this leader's, and those it acknowledged are this leader's). So a
   * reject of an append whose prevIndex it had acknowledged means it lost them. The reject is paired
   * with its request by id, or only when exactly one append was outstanding; the acknowledgement
   * must have been observed more than the reorder tolerance earlier (a reject written before the
   * ack can be observed a little after it).
   */
  private onReject(ev: RaftEvent & { type: 'append_resp' }, from: NodeRec, to: NodeRec, term: number): void {
    const lt = this.leaderTerms.get(term);
    if (!lt || lt.leader !== to) return;
    const ft = lt.followers.get(from.id);
    if (!ft) return;
    let req: AppendEvent | undefined;
    if (typeof ev.id === 'string') req = requestById(ft, ev.id);
    else if (ft.outstanding === 1) req = ft.lastEv;
    ft.outstanding = 0;
    if (!req || req.term !== term || !isIndex(req.prevIndex)) return;
    const p = req.prevIndex;
    const m = lt.match.get(from.id);
    if (m === undefined || p <= 0 || p > m) return;
    if (this.now - ft.matchAt <= this.th.reorderToleranceMs) return;
    if (p > this.maxCommit) return; // only committed entries are protected
    // A follower that installed a snapshot may no longer hold entries below it as a log.
    if (from.lastSnapIn && isIndex(from.lastSnapIn.lastIndex) && from.lastSnapIn.lastIndex >= p) return;
    this.lostAcked.push({
      follower: from.id,
      leader: to.id,
      term,
      prevIndex: p,
      match: m,
      ackEv: lt.matchEv.get(from.id)!,
      request: req,
      reject: ev,
    });
  }

  private raiseMaxCommit(c: number, ev: RaftEvent): void {
    if (c > this.maxCommit) {
      this.maxCommit = c;
      this.maxCommitEv = ev;
    }
  }

  /** Applies one event. Never throws on bad input: bad parts are ignored. */
  /**
   * What every leader message (append or heartbeat) teaches: the sender's term, and that it acts as
   * leader of that term. Returns its LeaderTerm, or undefined when the message cannot be a leader's
   * (no term, or another node already leads that term: RG001's business).
   */
  private leaderMessage(from: NodeRec, term: number, t: number): LeaderTerm | undefined {
    if (term <= 0) return undefined;
    this.seeTerm(from, term, t);
    const lt = this.getOrCreateLeaderTerm(from, term, t);
    if (lt.leader !== from) return undefined;
    this.lt = lt;
    this.prevLeaderCommit = lt.commit;
    if (t > lt.lastSeen) lt.lastSeen = t;
    if (from.term === term) {
      from.role = 'leader';
      from.leader = from.id;
    }
    return lt;
  }

  apply(ev: RaftEvent): void {
    // Setting length on an empty array still calls into the runtime: skip it (every event comes here).
    if (this.conflicts.length !== 0) this.conflicts.length = 0;
    if (this.overwrites.length !== 0) this.overwrites.length = 0;
    if (this.lostAcked.length !== 0) this.lostAcked.length = 0;
    this.lt = undefined;
    this.newLeaderTerm = false;
    this.prevMaxCommit = this.maxCommit;
    const t = ev.t;
    if (t > this.now) this.now = t;
    if (ev.type === 'noop') return; // written by the injector; "raftguard" is not a member
    const from = this.node(ev.from);
    if (t > from.lastSeen) from.lastSeen = t;
    const term = isIndex(ev.term) ? ev.term : -1;
    switch (ev.type) {
      case 'append': {
        const lt = this.leaderMessage(from, term, t);
        if (!lt) return;
        const to = typeof ev.to === 'string' && ev.to !== '' ? this.node(ev.to) : undefined;
        if (to) to.noteRecv(term);
        let last = -1;
        if (isIndex(ev.prevIndex)) {
          last = ev.prevIndex;
          if (ev.prevIndex > 0 && isIndex(ev.prevTerm) && ev.prevTerm > 0) {
            this.learnLeaderEntry(lt, ev.prevIndex, ev.prevTerm, ev);
          }
        }
        const entries = Array.isArray(ev.entries) ? ev.entries : undefined;
        if (entries) {
          for (let i = 0; i < entries.length; i++) {
            const e: Entry = entries[i];
            if (e === null || typeof e !== 'object' || !isIndex(e.index) || !isIndex(e.term) || e.term > term) continue;
            this.learnLeaderEntry(lt, e.index, e.term, ev);
            if (e.index > last) last = e.index;
            if (e.term === term && e.index < lt.firstOwnIndex) {
              lt.firstOwnIndex = e.index;
              lt.firstOwnEv = ev;
            }
            if (e.kind === 'config') {
              if (e.index > this.lastConfigIndex) this.lastConfigIndex = e.index;
              if (e.voters !== undefined) this.setVoters(e.voters, e.index, e.term);
            }
          }
        }
        if (last > lt.lastIndex) {
          lt.lastIndex = last;
          lt.lastIndexEv = ev;
          from.lastIndex = last;
          const lastTerm = lt.log.get(last);
          if (lastTerm > 0) from.lastTerm = lastTerm;
        }
        if (to && last >= 0 && typeof ev.id === 'string') {
          const ft = this.followerTrack(lt, to.id);
          const ring = (ft.reqRing ??= []);
          ring[ft.reqPos] = ev;
          ft.reqPos = ft.reqPos + 1 === REQ_RING ? 0 : ft.reqPos + 1;
        }
        if (to && isIndex(ev.prevIndex)) {
          const ft = this.followerTrack(lt, to.id);
          ft.outstanding++;
          ft.lastPrev = ev.prevIndex;
          ft.lastEv = ev;
          const k = ev.commit;
          if (isIndex(k) && k > ft.maxSent && k > 0) {
            const e = ft.early;
            const tail = e.length ? e[e.length - 1] : undefined;
            if (tail && tail.s === ft.maxSent) {
              if (k > tail.k) {
                tail.k = k;
                tail.ev = ev;
              }
            } else {
              if (e.length >= 8) e.shift();
              e.push({ k, s: ft.maxSent, ev });
            }
          }
          if (last > ft.maxSent) ft.maxSent = last;
        }
        const c = ev.commit;
        // A leader whose commit is still 0 (restarted: commit is volatile) while its log reaches
        // beyond 0 shows it too: everything it commits later was computed in this term.
        if (c === 0 && last > 0 && lt.minTrueCommit > 0) {
          lt.minTrueCommit = 0;
          lt.minTrueCommitEv = ev;
        }
        if (isIndex(c) && c > 0) {
          lt.commitSeen = true;
          if (c < lt.minCommit) {
            lt.minCommit = c;
            lt.minCommitEv = ev;
          }
          if (c < last && c < lt.minTrueCommit) {
            lt.minTrueCommit = c;
            lt.minTrueCommitEv = ev;
          }
          if (c > lt.commit) {
            const old = lt.commit;
            lt.commit = c;
            lt.commitEv = ev;
            if (from.term === term) from.commit = c;
            // Entries of lt's log in (old, c] are committed now; only those in its window are known.
            const lo = Math.max(old + 1, c - lt.log.size + 1);
            for (let i = lo; i <= c; i++) {
              const et = lt.log.get(i);
              if (et > 0) this.markCommitted(i, et, term, ev);
            }
          }
          this.raiseMaxCommit(c, ev);
          if (c >= lt.commit && t > lt.commitLastAt) lt.commitLastAt = t;
          if (to && to.term <= term && last >= 0) {
            const fc = Math.min(c, last);
            if (fc > to.commit) to.commit = fc;
          }
        }
        return;
      }
      case 'heartbeat': {
        const lt = this.leaderMessage(from, term, t);
        if (!lt) return;
        const to = typeof ev.to === 'string' && ev.to !== '' ? this.node(ev.to) : undefined;
        if (to) {
          to.noteRecv(term);
          // etcd: heartbeat commit = min(follower match, leader commit): what the follower may commit.
          if (isIndex(ev.commit) && to.term <= term && ev.commit > to.commit) to.commit = ev.commit;
        }
        return;
      }
      case 'append_resp':
      case 'snapshot_resp': {
        if (term <= 0) return;
        this.seeTerm(from, term, t);
        if (typeof ev.to !== 'string' || ev.to === '') return;
        const to = this.node(ev.to);
        if (ev.success !== true) {
          if (ev.type === 'append_resp') this.onReject(ev, from, to, term);
          return;
        }
        let match = isIndex(ev.match) ? ev.match : -1;
        let entryTerm = -1;
        if (ev.type === 'snapshot_resp') {
          const s = from.lastSnapIn;
          if (s && s.from === to.id && s.term === term && isIndex(s.lastIndex)) {
            if (match < 0) match = s.lastIndex;
            if (match === s.lastIndex && isIndex(s.lastTerm)) entryTerm = s.lastTerm;
          }
        }
        let lt = this.leaderTerms.get(term);
        if (lt && lt.leader !== to) return; // answers a node that is not the leader we know for this term
        if (!lt && term >= this.topLeaderTerm - 1) {
          // A successful answer in term T proves its target led T (a follower only accepts its leader).
          lt = this.getOrCreateLeaderTerm(to, term, t);
        }
        if (match < 0 && lt && typeof ev.id === 'string') {
          const ft = lt.followers.get(from.id);
          const req = ft && requestById(ft, ev.id);
          if (req) match = lastCarried(req, term);
        }
        if (from.term === term) {
          from.leader = to.id;
          if (from.role !== 'leader') from.role = 'follower';
        }
        if (!lt || match < 0) return;
        this.lt = lt;
        this.prevLeaderCommit = lt.commit;
        if (entryTerm < 0) entryTerm = lt.log.get(match);
        if (match === 0) entryTerm = 0;
        from.noteAck(term, match, entryTerm, ev);
        if (match > from.lastIndex || from.term === term) {
          if (match >= from.lastIndex) {
            from.lastIndex = match;
            if (entryTerm >= 0) from.lastTerm = entryTerm;
          }
        }
        const prev = lt.match.get(from.id);
        const ft = this.followerTrack(lt, from.id);
        ft.outstanding = 0;
        if (prev === undefined || match > prev) {
          lt.match.set(from.id, match);
          lt.matchEv.set(from.id, ev);
          ft.matchAt = t;
        }
        if (lt.establishedAt === undefined) {
          let acked = this.voters.has(to.id) ? 1 : 0;
          const ids = this.voterIds;
          for (let i = 0; i < ids.length; i++) if (ids[i] !== to.id && lt.match.has(ids[i]!)) acked++;
          if (acked >= this.quorum) lt.establishedAt = t;
        }
        return;
      }
      case 'snapshot': {
        if (term <= 0) return;
        this.seeTerm(from, term, t);
        const to = typeof ev.to === 'string' && ev.to !== '' ? this.node(ev.to) : undefined;
        if (to) {
          to.lastSnapIn = ev;
          to.noteRecv(term);
        }
        if (!isIndex(ev.lastIndex) || !isIndex(ev.lastTerm) || ev.lastIndex === 0 || ev.lastTerm > term) return;
        if (ev.voters !== undefined) this.setVoters(ev.voters, ev.lastIndex, ev.lastTerm);
        // A snapshot holds only committed state: its last entry is committed.
        this.markCommitted(ev.lastIndex, ev.lastTerm, term, ev);
        this.raiseMaxCommit(ev.lastIndex, ev);
        const lt = this.leaderTerms.get(term);
        if (lt && lt.leader === from) {
          this.learnLeaderEntry(lt, ev.lastIndex, ev.lastTerm, ev);
          if (ev.lastIndex > lt.lastIndex) lt.lastIndex = ev.lastIndex;
          if (to) {
            // The snapshot carries everything up to lastIndex to this follower.
            const ft = this.followerTrack(lt, to.id);
            if (ev.lastIndex > ft.maxSent) ft.maxSent = ev.lastIndex;
          }
        }
        return;
      }
      case 'vote': {
        if (ev.pre === true) return; // a pre-vote carries the term the sender would have, not its own
        if (term <= 0) return;
        this.seeTerm(from, term, t);
        if (from.term === term) {
          from.role = 'candidate';
          from.leader = undefined;
          if (isIndex(ev.lastIndex) && isIndex(ev.lastTerm)) {
            from.lastIndex = ev.lastIndex;
            from.lastTerm = ev.lastTerm;
          }
        }
        return;
      }
      case 'vote_resp': {
        if (ev.pre === true) return;
        this.seeTerm(from, term, t);
        return;
      }
      case 'heartbeat_resp': {
        this.seeTerm(from, term, t);
        // An answer to the leader of its term: shows that leader is alive even when only the
        // leader's inbound traffic is observed.
        const lt = term > 0 ? this.leaderTerms.get(term) : undefined;
        if (lt && lt.leader.id === ev.to) {
          this.lt = lt;
          this.prevLeaderCommit = lt.commit;
          if (from.term === term) {
            from.leader = lt.leader.id;
            if (from.role !== 'leader') from.role = 'follower';
          }
        }
        return;
      }
      case 'timeout_now': {
        this.seeTerm(from, term, t);
        return;
      }
      default:
        return; // noop and unknown types carry no Raft state
    }
  }
}
