// A seeded, deterministic simulation of a Raft cluster (Raft paper, Figure 2) on a hostile network,
// observed the way RaftGuard observes a real one: a message is seen when it enters the receiving
// member's listener. It proves the checks in both directions: correct executions (every bug switch
// off) must raise nothing critical, and each bug switch makes the nodes do one classic wrong thing
// while the simulator records, from its omniscient view of the real node states, whether the bug
// actually produced an unsafe (or, for the stall, stuck) state that reached the wire.
//
// No Math.random, no clock: the same seed and options give the same events, byte for byte.

import type { CaptureHeader, Entry, EntryKind, NodeId, RaftEvent } from '../events/types.js';

export type BugSwitch =
  | 'noNoopOnElection'
  | 'noTermCheck'
  | 'votedForNotPersisted'
  | 'termNotPersisted'
  | 'noUpToDateCheck'
  | 'commitOldTermByCounting'
  | 'commitWithoutMajority'
  | 'truncateCommitted'
  | 'divergentSameIndexTerm';

/** The finding code each bug class must raise when it manifests. */
export const EXPECTED_CODE: Record<BugSwitch, string> = {
  noNoopOnElection: 'RG010',
  noTermCheck: 'RG001',
  votedForNotPersisted: 'RG002',
  termNotPersisted: 'RG007',
  noUpToDateCheck: 'RG008',
  commitOldTermByCounting: 'RG005',
  commitWithoutMajority: 'RG006',
  truncateCommitted: 'RG004',
  divergentSameIndexTerm: 'RG003',
};

export interface SimOptions {
  seed: number;
  nodes?: 3 | 5 | 7;
  /** Simulated duration (ms); default 6000. */
  durationMs?: number;
  /** Stop after this many emitted events (for large benchmark captures). */
  maxEvents?: number;
  preVote?: boolean;
  /** Correct Raft either way; without it a new leader may stall until a client write. */
  noopOnElection?: boolean;
  heartbeatMs?: number;
  electionMinMs?: number;
  electionMaxMs?: number;
  /** Mean ms between client writes (0 = none). */
  writeEveryMs?: number;
  /** Probabilities per message. */
  loss?: number;
  duplicate?: number;
  /** Network delay range (ms). */
  delayMinMs?: number;
  delayMaxMs?: number;
  /** Mean ms between crashes / partitions / leadership transfers (0 = never). */
  crashEveryMs?: number;
  partitionEveryMs?: number;
  transferEveryMs?: number;
  bug?: BugSwitch;
  /** The stall threshold the checks run with (ground truth for RG010 waits this long plus a margin). */
  stallMs?: number;
}

export interface Manifestation {
  t: number;
  term: number;
  nodes: NodeId[];
  what: string;
}

export interface GroundTruth {
  bug?: BugSwitch;
  expectedCode?: string;
  /** When and where the bug produced an unsafe/stuck state that reached the wire. */
  manifestations: Manifestation[];
  elections: number;
  commits: number;
  crashes: number;
}

interface LogEntry {
  term: number;
  kind: EntryKind;
  digest: string;
  size: number;
}

type Msg =
  | { type: 'append'; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number }
  | { type: 'append_resp'; term: number; success: boolean; match?: number; hint?: number }
  | { type: 'vote'; term: number; lastIndex: number; lastTerm: number; pre: boolean; transfer?: boolean }
  | { type: 'vote_resp'; term: number; granted: boolean; pre: boolean }
  | { type: 'timeout_now'; term: number };

interface SimNode {
  id: NodeId;
  alive: boolean;
  // persistent
  term: number;
  votedFor?: NodeId;
  log: LogEntry[]; // log[0] is a sentinel {term 0}
  // volatile
  role: 'follower' | 'candidate' | 'precandidate' | 'leader';
  commit: number;
  /** Term in which this node, as leader, last computed `commit` (0 when learned from a leader). */
  commitTerm: number;
  leader?: NodeId;
  electionAt: number;
  lastHeardLeaderAt: number;
  votes: Set<NodeId>;
  next: Map<NodeId, number>;
  match: Map<NodeId, number>;
  heartbeatAt: number;
}

interface Scheduled {
  at: number;
  seq: number;
  kind: 'deliver' | 'timer' | 'write' | 'crash' | 'restart' | 'partition' | 'heal' | 'transfer' | 'stop';
  node?: NodeId;
  from?: NodeId;
  msg?: Msg;
  id?: string;
  /** false: observed by the proxy, then lost before the member. */
  deliver?: boolean;
}

/** mulberry32: small, fast, good enough for scheduling decisions. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A binary min-heap on (at, seq): deterministic order for equal times. */
class Agenda {
  private h: Scheduled[] = [];
  push(s: Scheduled): void {
    const h = this.h;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  pop(): Scheduled | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
  get size(): number {
    return this.h.length;
  }
}
function less(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

const DEFAULTS = {
  nodes: 3 as 3 | 5 | 7,
  durationMs: 6000,
  preVote: false,
  noopOnElection: true,
  heartbeatMs: 50,
  electionMinMs: 150,
  electionMaxMs: 300,
  writeEveryMs: 40,
  loss: 0.02,
  duplicate: 0.01,
  delayMinMs: 1,
  delayMaxMs: 12,
  crashEveryMs: 1500,
  partitionEveryMs: 2500,
  transferEveryMs: 4000,
  stallMs: 600,
};

/**
 * Runs the simulation lazily: `events` yields observed events in time order; `truth()` is complete
 * once `events` has been consumed.
 */
export function simulate(opts: SimOptions): { header: CaptureHeader; events: Iterable<RaftEvent>; truth(): GroundTruth } {
  const o = { ...DEFAULTS, ...opts };
  const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const header: CaptureHeader = {
    raftguard: 'capture',
    version: 1,
    cluster: 'sim',
    nodes: ids,
    source: `sim seed=${o.seed} nodes=${o.nodes}${o.bug ? ` bug=${o.bug}` : ''}`,
    // The simulated network reorders messages across connections by at most delayMax - delayMin (each
    // channel is FIFO and every delay lies in [delayMin, delayMax]); the header says so, as an
    // operator sets reorderToleranceMs to their network's bound. It observes each message as it is
    // delivered, on one exact clock, so a message's cause is always observed first (observerSkewMs 0).
    thresholds: { stallMs: o.stallMs, electionTimeoutMs: o.electionMinMs, reorderToleranceMs: Math.ceil(o.delayMaxMs - o.delayMinMs) + 1, observerSkewMs: 0 },
  };
  const truth: GroundTruth = { bug: o.bug, expectedCode: o.bug ? EXPECTED_CODE[o.bug] : undefined, manifestations: [], elections: 0, commits: 0, crashes: 0 };
  const events = { [Symbol.iterator]: () => run(o, ids, truth) };
  return { header, events, truth: () => truth };
}

function* run(o: typeof DEFAULTS & SimOptions, ids: NodeId[], truth: GroundTruth): Generator<RaftEvent> {
  const rnd = prng(o.seed * 2654435761 + 1);
  const bug = o.bug;
  const majority = Math.floor(ids.length / 2) + 1;
  const agenda = new Agenda();
  let seq = 0;
  let msgSeq = 0;
  let writeSeq = 0;
  let emitted = 0;
  const out: RaftEvent[] = [];
  const nodes = new Map<NodeId, SimNode>();
  const group = new Map<NodeId, number>(); // partition group per node
  const channelFree = new Map<string, number>(); // FIFO per (from,to): next free delivery time
  const at = (t: number, s: Omit<Scheduled, 'at' | 'seq'>): void => agenda.push({ ...s, at: t, seq: seq++ });
  const between = (a: number, b: number): number => a + rnd() * (b - a);
  const electionTimeout = (): number => between(o.electionMinMs, o.electionMaxMs);
  const expo = (mean: number): number => -Math.log(1 - rnd()) * mean;

  // Ground-truth bookkeeping (omniscient + what reached the wire).
  const leadersByTerm = new Map<number, Set<NodeId>>(); // observed leader traffic
  const grants = new Map<string, NodeId>(); // `${voter}/${term}` -> candidate (observed grants)
  const maxSentTerm = new Map<NodeId, { term: number; t: number }>();
  const lowerSent = new Map<NodeId, { to: NodeId; t: number }>();
  const voteRequestsSeen = new Set<string>(); // `${candidate}>${voter}/${term}` observed
  const digestAt = new Map<string, string>(); // `${index}/${term}` -> first observed digest
  let maxObservedCommit = 0;
  const wireCommitted = new Map<number, { term: number; byTerm: number }>();
  const stallSince = new Map<string, number>();
  const manifested = new Set<string>();
  const manifest = (key: string, m: Manifestation): void => {
    if (manifested.has(key)) return;
    manifested.add(key);
    truth.manifestations.push(m);
  };

  for (const id of ids) {
    nodes.set(id, {
      id,
      alive: true,
      term: 0,
      log: [{ term: 0, kind: 'noop', digest: '', size: 0 }],
      role: 'follower',
      commit: 0,
      commitTerm: 0,
      electionAt: 0,
      lastHeardLeaderAt: -1e9,
      votes: new Set(),
      next: new Map(),
      match: new Map(),
      heartbeatAt: 0,
    });
    group.set(id, 0);
    resetElection(nodes.get(id)!, 0);
  }
  if (o.writeEveryMs > 0) at(expo(o.writeEveryMs), { kind: 'write' });
  if (o.crashEveryMs > 0) at(300 + expo(o.crashEveryMs), { kind: 'crash' });
  if (o.partitionEveryMs > 0) at(300 + expo(o.partitionEveryMs), { kind: 'partition' });
  if (o.transferEveryMs > 0) at(500 + expo(o.transferEveryMs), { kind: 'transfer' });
  at(o.durationMs, { kind: 'stop' });

  function resetElection(n: SimNode, now: number): void {
    n.electionAt = now + electionTimeout();
    at(n.electionAt, { kind: 'timer', node: n.id });
  }
  const lastIndex = (n: SimNode): number => n.log.length - 1;
  const lastTerm = (n: SimNode): number => n.log[n.log.length - 1]!.term;

  function send(now: number, from: SimNode, to: NodeId, msg: Msg, id: string): void {
    if (group.get(from.id) !== group.get(to)) return; // partitioned: never reaches the proxy
    const copies = rnd() < o.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let deliver = true;
      if (rnd() < o.loss) {
        if (rnd() < 0.5) continue; // lost before the proxy: not observed
        deliver = false; // lost after the proxy: observed, never delivered
      }
      const key = `${from.id}>${to}`;
      // TCP-like FIFO per channel: a message never overtakes an earlier one on the same channel.
      const t = Math.max(now + between(o.delayMinMs, o.delayMaxMs), channelFree.get(key) ?? 0);
      channelFree.set(key, t);
      at(t, { kind: 'deliver', node: to, from: from.id, msg, id, deliver });
    }
  }

  function observe(tExact: number, from: NodeId, to: NodeId, msg: Msg, id: string): void {
    // Captures carry ms; a live run's clock gives whole ms, the simulator keeps microseconds.
    const t = Math.round(tExact * 1000) / 1000;
    let ev: RaftEvent;
    switch (msg.type) {
      case 'append':
        ev = { type: 'append', t, from, to, term: msg.term, id, prevIndex: msg.prevIndex, prevTerm: msg.prevTerm, entries: msg.entries, commit: msg.commit };
        noteLeader(from, msg.term, t);
        for (const e of msg.entries) {
          const k = `${e.index}/${e.term}`;
          const d = digestAt.get(k);
          if (d === undefined) digestAt.set(k, e.digest!);
          else if (d !== e.digest && bug === 'divergentSameIndexTerm') manifest(`div/${k}`, { t, term: e.term, nodes: [from], what: `entry ${e.index} term ${e.term} sent with two payloads` });
        }
        if (msg.commit > maxObservedCommit) {
          // What the wire shows committed: each index the first time an advertised commit covers it,
          // with the advertising leader's entry there.
          if (bug === 'truncateCommitted') {
            const sender = nodes.get(from)!;
            for (let i = maxObservedCommit + 1; i <= msg.commit; i++) {
              const term = sender.log[i]?.term;
              if (term !== undefined) wireCommitted.set(i, { term, byTerm: msg.term });
            }
          }
          maxObservedCommit = msg.commit;
        }
        break;
      case 'append_resp':
        ev = { type: 'append_resp', t, from, to, term: msg.term, id, success: msg.success, ...(msg.match !== undefined ? { match: msg.match } : {}), ...(msg.hint !== undefined ? { hint: msg.hint } : {}) };
        break;
      case 'vote':
        ev = { type: 'vote', t, from, to, term: msg.term, id, lastIndex: msg.lastIndex, lastTerm: msg.lastTerm, pre: msg.pre };
        if (!msg.pre) voteRequestsSeen.add(`${from}>${to}/${msg.term}`);
        break;
      case 'vote_resp':
        ev = { type: 'vote_resp', t, from, to, term: msg.term, id, granted: msg.granted, pre: msg.pre };
        if (msg.granted && !msg.pre) {
          const k = `${from}/${msg.term}`;
          const prev = grants.get(k);
          if (prev === undefined) grants.set(k, to);
          else if (prev !== to && bug === 'votedForNotPersisted') manifest(`dv/${k}`, { t, term: msg.term, nodes: [from], what: `${from} granted term ${msg.term} to ${prev} and ${to}` });
        }
        break;
      case 'timeout_now':
        ev = { type: 'timeout_now', t, from, to, term: msg.term, id };
        break;
    }
    const pre = (msg.type === 'vote' || msg.type === 'vote_resp') && msg.pre;
    if (!pre) {
      // Pre-vote messages carry the term a candidate would have (or the voter's term on a rejection):
      // they are not a node's own term, so term regression is judged on the other messages only.
      const m = maxSentTerm.get(from);
      if (m && msg.term < m.term && bug === 'termNotPersisted' && t - m.t > 1500) {
        const p = lowerSent.get(from);
        if (!p) lowerSent.set(from, { to, t });
        else if (p.to !== to || t - p.t >= 500) manifest(`tr/${from}/${m.term}`, { t, term: msg.term, nodes: [from], what: `${from} went from term ${m.term} back to ${msg.term}` });
      }
      if (!m || msg.term >= m.term) {
        maxSentTerm.set(from, { term: msg.term, t });
        lowerSent.delete(from);
      }
    }
    out.push(ev);
  }

  function noteLeader(from: NodeId, term: number, t: number): void {
    let s = leadersByTerm.get(term);
    if (!s) leadersByTerm.set(term, (s = new Set()));
    s.add(from);
    if (s.size > 1 && bug === 'noTermCheck') manifest(`el/${term}`, { t, term, nodes: [...s].sort(), what: `two leaders in term ${term}` });
  }

  function becomeFollower(n: SimNode, term: number, now: number): void {
    if (term > n.term) {
      n.term = term;
      n.votedFor = undefined;
    }
    if (n.role === 'leader') n.heartbeatAt = Infinity;
    n.role = 'follower';
    n.votes.clear();
    resetElection(n, now);
  }

  function startElection(n: SimNode, now: number, pre: boolean, transfer = false): void {
    n.votes = new Set([n.id]);
    if (pre) {
      n.role = 'precandidate';
    } else {
      // noTermCheck: campaigns in its current term instead of a new one.
      if (!(bug === 'noTermCheck' && n.term > 0 && rnd() < 0.5)) n.term++;
      n.role = 'candidate';
      n.votedFor = n.id;
      n.leader = undefined;
    }
    resetElection(n, now);
    for (const p of ids) {
      if (p === n.id) continue;
      send(now, n, p, { type: 'vote', term: pre ? n.term + 1 : n.term, lastIndex: lastIndex(n), lastTerm: lastTerm(n), pre, ...(transfer ? { transfer } : {}) }, `${n.id}>${p}#${++msgSeq}`);
    }
  }

  function becomeLeader(n: SimNode, now: number): void {
    n.role = 'leader';
    n.leader = n.id;
    truth.elections++;
    for (const p of ids) {
      n.next.set(p, lastIndex(n) + 1);
      n.match.set(p, 0);
    }
    n.match.set(n.id, lastIndex(n));
    if (o.noopOnElection && bug !== 'noNoopOnElection') appendLocal(n, 'noop', 0);
    broadcast(n, now);
    n.heartbeatAt = now + o.heartbeatMs;
    at(n.heartbeatAt, { kind: 'timer', node: n.id });
  }

  function appendLocal(n: SimNode, kind: EntryKind, size: number): void {
    const w = ++writeSeq;
    n.log.push({ term: n.term, kind, digest: kind === 'noop' ? hex(0) + hex(n.term) : hex(w * 2654435761) + hex(o.seed), size });
    n.match.set(n.id, lastIndex(n));
  }

  function broadcast(n: SimNode, now: number): void {
    for (const p of ids) if (p !== n.id) sendAppend(n, p, now);
  }

  function sendAppend(n: SimNode, p: NodeId, now: number): void {
    const next = Math.max(1, Math.min(n.next.get(p) ?? 1, lastIndex(n) + 1));
    const prevIndex = next - 1;
    const entries: Entry[] = [];
    for (let i = next; i <= lastIndex(n) && entries.length < 16; i++) {
      const e = n.log[i]!;
      let digest = e.digest;
      // divergentSameIndexTerm: a retransmission re-encodes an own-term entry from a mutated buffer.
      if (bug === 'divergentSameIndexTerm' && e.term === n.term && e.kind === 'data' && rnd() < 0.05) digest = hex(rnd() * 2 ** 32) + 'ffffffff';
      entries.push({ index: i, term: e.term, kind: e.kind, digest, size: e.size });
    }
    const id = `${n.id}>${p}#${++msgSeq}`;
    if ((bug === 'commitWithoutMajority' || bug === 'commitOldTermByCounting') && n.commit > maxObservedCommit) judgeCommit(n, id);
    send(now, n, p, { type: 'append', term: n.term, prevIndex, prevTerm: n.log[prevIndex]!.term, entries, commit: n.commit }, id);
  }

  // Ground truth for the commit bugs, judged when the leader advertises the commit (what the wire can
  // show): too few members really hold it, or it is an earlier-term entry with no own-term entry at or
  // below it on a majority. Manifest once that advertisement is observed.
  function judgeCommit(n: SimNode, id: string): void {
    const N = n.commit;
    const holds = (i: number): number =>
      ids.filter((p) => {
        const q = nodes.get(p)!;
        return q.log.length > i && q.log[i]!.term === n.log[i]!.term;
      }).length;
    if (bug === 'commitWithoutMajority' && holds(N) < majority) {
      pendingCommitTruth.set(id, { leader: n.id, term: n.term, commit: N, what: `${n.id} advertised commit ${N} held by ${holds(N)}/${ids.length}` });
    }
    // Judged in the term the leader computed the commit: a commit computed correctly on an own-term
    // entry in an earlier leadership and first advertised after a re-election is carried over, not
    // counted (its advert in the new term is legal).
    if (bug === 'commitOldTermByCounting' && n.commitTerm === n.term && n.log[N]!.term < n.term) {
      let ownOnMajority = false;
      for (let i = 1; i <= N && !ownOnMajority; i++) if (n.log[i]!.term === n.term && holds(i) >= majority) ownOnMajority = true;
      if (!ownOnMajority) pendingCommitTruth.set(id, { leader: n.id, term: n.term, commit: N, what: `${n.id} (term ${n.term}) advertised commit ${N} of term ${n.log[N]!.term}, committed by counting` });
    }
  }

  function advanceCommit(n: SimNode): void {
    const matches = ids.map((p) => (p === n.id ? lastIndex(n) : n.match.get(p) ?? 0)).sort((a, b) => b - a);
    let target = matches[majority - 1]!;
    if (bug === 'commitWithoutMajority' && rnd() < 0.3) target = lastIndex(n);
    for (let N = target; N > n.commit; N--) {
      const ownTerm = n.log[N]!.term === n.term;
      if (ownTerm || bug === 'commitOldTermByCounting') {
        truth.commits += N - n.commit;
        n.commit = N;
        n.commitTerm = n.term;
        break;
      }
    }
  }
  // Unsafe commits become manifest once the leader advertises them on the wire.
  const pendingCommitTruth = new Map<string, { leader: NodeId; term: number; commit: number; what: string }>();

  function onMessage(n: SimNode, from: NodeId, msg: Msg, id: string, now: number): void {
    if (msg.type === 'vote' && msg.pre) {
      // Pre-vote: grant if the candidate's log is up to date and we have not heard a leader recently;
      // never changes our term or vote.
      const upToDate = msg.lastTerm > lastTerm(n) || (msg.lastTerm === lastTerm(n) && msg.lastIndex >= lastIndex(n));
      const granted = msg.term > n.term && upToDate && now - n.lastHeardLeaderAt >= o.electionMinMs;
      send(now, n, from, { type: 'vote_resp', term: granted ? msg.term : n.term, granted, pre: true }, id);
      return;
    }
    if (msg.type === 'vote_resp' && msg.pre) {
      if (n.role === 'precandidate' && msg.granted && msg.term === n.term + 1) {
        n.votes.add(from);
        if (n.votes.size >= majority) startElection(n, now, false);
      } else if (!msg.granted && msg.term > n.term) becomeFollower(n, msg.term, now);
      return;
    }
    if (msg.term > n.term) {
      // A vote request from a leader's follower that heard a leader recently is ignored only with
      // pre-vote/check-quorum; plain Raft steps down.
      becomeFollower(n, msg.term, now);
    }
    switch (msg.type) {
      case 'vote': {
        let granted = false;
        if (msg.term >= n.term && (n.votedFor === undefined || n.votedFor === from)) {
          const upToDate = msg.lastTerm > lastTerm(n) || (msg.lastTerm === lastTerm(n) && msg.lastIndex >= lastIndex(n));
          if (upToDate || bug === 'noUpToDateCheck') {
            if (!upToDate) staleGrant(n, from, msg, now);
            granted = true;
            n.votedFor = from;
            resetElection(n, now);
            if (bug === 'votedForNotPersisted' && rnd() < 0.3) {
              // Crash right after answering, restart almost at once: the vote was never persisted.
              n.alive = false;
              truth.crashes++;
              at(now + between(2, 20), { kind: 'restart', node: n.id });
            }
          }
        }
        send(now, n, from, { type: 'vote_resp', term: n.term, granted, pre: false }, id);
        break;
      }
      case 'vote_resp':
        if (n.role === 'candidate' && msg.term === n.term && msg.granted) {
          n.votes.add(from);
          if (n.votes.size >= majority) becomeLeader(n, now);
        }
        break;
      case 'append': {
        if (msg.term < n.term) {
          send(now, n, from, { type: 'append_resp', term: n.term, success: false, hint: lastIndex(n) }, id);
          break;
        }
        if (n.role !== 'follower') becomeFollower(n, msg.term, now);
        n.leader = from;
        n.lastHeardLeaderAt = now;
        resetElection(n, now);
        if (msg.prevIndex > lastIndex(n) || n.log[msg.prevIndex]!.term !== msg.prevTerm) {
          send(now, n, from, { type: 'append_resp', term: n.term, success: false, hint: Math.min(lastIndex(n), Math.max(0, msg.prevIndex - 1)) }, id);
          break;
        }
        for (const e of msg.entries) {
          if (e.index <= lastIndex(n)) {
            if (n.log[e.index]!.term === e.term) continue;
            n.log.length = e.index; // conflict: truncate from here (only uncommitted entries, in correct Raft)
          }
          n.log.push({ term: e.term, kind: e.kind, digest: e.digest!, size: e.size ?? 0 });
        }
        const lastNew = msg.prevIndex + msg.entries.length;
        if (msg.commit > n.commit) {
          n.commit = Math.min(msg.commit, lastNew);
          n.commitTerm = 0;
        }
        send(now, n, from, { type: 'append_resp', term: n.term, success: true, match: lastNew }, id);
        break;
      }
      case 'append_resp': {
        if (n.role !== 'leader' || msg.term !== n.term) break;
        if (msg.success) {
          if ((msg.match ?? 0) > (n.match.get(from) ?? 0)) n.match.set(from, msg.match!);
          n.next.set(from, Math.max(n.next.get(from) ?? 1, (msg.match ?? 0) + 1));
          advanceCommit(n);
        } else {
          n.next.set(from, Math.max(1, Math.min((n.next.get(from) ?? 1) - 1, (msg.hint ?? 0) + 1)));
          sendAppend(n, from, now);
        }
        break;
      }
      case 'timeout_now':
        if (msg.term === n.term && n.role === 'follower') startElection(n, now, false, true);
        break;
    }
  }

  // noUpToDateCheck ground truth: the voter had acknowledged, on the wire, holding an entry that makes
  // the candidate's log stale (its own successful append_resp of an earlier term).
  const acks = new Map<NodeId, { term: number; match: number; entryTerm: number }>();
  const appendTermsIn = new Map<NodeId, Set<number>>(); // terms of observed appends to each node
  const sentIndex = new Map<NodeId, Map<NodeId, number>>(); // leader -> follower -> highest index seen sent
  function staleGrant(voter: SimNode, cand: NodeId, msg: { term: number; lastIndex: number; lastTerm: number }, now: number): void {
    const a = acks.get(voter.id);
    if (!a || a.term >= msg.term) return;
    // Provable from the wire only if no later leader's append reached the voter in between: that
    // append may have replaced the acknowledged entries (the acknowledgement of it can be unseen).
    const later = appendTermsIn.get(voter.id);
    if (later && [...later].some((x) => x > a.term && x < msg.term)) return;
    if (msg.lastTerm < a.entryTerm || (msg.lastTerm === a.entryTerm && msg.lastIndex < a.match)) {
      pendingGrantTruth.set(`${voter.id}>${cand}/${msg.term}`, { t: now, term: msg.term, nodes: [voter.id, cand], what: `${voter.id} granted term ${msg.term} to stale ${cand}` });
    }
  }
  const pendingGrantTruth = new Map<string, Manifestation>();

  function checkStall(now: number): void {
    if (bug !== 'noNoopOnElection') return;
    for (const n of nodes.values()) {
      if (!n.alive || n.role !== 'leader') continue;
      const key = `${n.id}/${n.term}`;
      const ownTerm = n.log.some((e, i) => i > 0 && e.term === n.term);
      const matches = ids.map((p) => (p === n.id ? lastIndex(n) : n.match.get(p) ?? 0)).sort((a, b) => b - a);
      const m = matches[majority - 1]!;
      if (ownTerm || m <= n.commit) {
        stallSince.delete(key);
        continue;
      }
      const since = stallSince.get(key) ?? now;
      stallSince.set(key, since);
      // Margin: the checks learn the majority from acknowledgements on the wire, a round trip later.
      if (now - since > o.stallMs + 4 * o.heartbeatMs + 2 * o.delayMaxMs) manifest(`stall/${key}`, { t: now, term: n.term, nodes: [n.id], what: `${n.id} stalled in term ${n.term} above commit ${n.commit}` });
    }
  }

  let now = 0;
  for (;;) {
    const s = agenda.pop();
    if (!s || s.kind === 'stop') break;
    now = s.at;
    switch (s.kind) {
      case 'deliver': {
        const n = nodes.get(s.node!)!;
        if (!n.alive) break; // the proxy cannot connect to a down member: not observed
        observe(now, s.from!, n.id, s.msg!, s.id!);
        afterObserve(s.from!, n.id, s.msg!, now, s.id!);
        if (s.deliver) onMessage(n, s.from!, s.msg!, s.id!, now);
        break;
      }
      case 'timer': {
        const n = nodes.get(s.node!)!;
        if (!n.alive) break;
        if (n.role === 'leader' && now >= n.heartbeatAt) {
          broadcast(n, now);
          n.heartbeatAt = now + o.heartbeatMs;
          at(n.heartbeatAt, { kind: 'timer', node: n.id });
        } else if (n.role !== 'leader' && now >= n.electionAt) {
          startElection(n, now, o.preVote);
        }
        break;
      }
      case 'write': {
        const leaders = [...nodes.values()].filter((n) => n.alive && n.role === 'leader');
        const l = leaders[Math.floor(rnd() * leaders.length)];
        // noNoopOnElection: client writes come in bursts with pauses, so stalls can last.
        const pause = bug === 'noNoopOnElection' && Math.floor(now / 1500) % 2 === 1;
        if (l && !pause) {
          appendLocal(l, 'data', 16 + Math.floor(rnd() * 200));
          broadcast(l, now);
        }
        at(now + expo(o.writeEveryMs), { kind: 'write' });
        break;
      }
      case 'crash': {
        const up = [...nodes.values()].filter((n) => n.alive);
        if (up.length > majority - 1) {
          // Prefer the leader: that is where the interesting transitions are.
          const leader = up.find((n) => n.role === 'leader');
          const n = leader && rnd() < 0.6 ? leader : up[Math.floor(rnd() * up.length)]!;
          n.alive = false;
          truth.crashes++;
          const downFor = bug === 'termNotPersisted' ? between(1600, 2500) : between(100, 1200);
          at(now + downFor, { kind: 'restart', node: n.id });
        }
        at(now + expo(o.crashEveryMs), { kind: 'crash' });
        break;
      }
      case 'restart': {
        const n = nodes.get(s.node!)!;
        n.alive = true;
        n.role = 'follower';
        n.commit = 0; // volatile
        n.commitTerm = 0;
        n.leader = undefined;
        n.votes.clear();
        n.next.clear();
        n.match.clear();
        n.heartbeatAt = Infinity;
        if (bug === 'votedForNotPersisted') n.votedFor = undefined;
        if (bug === 'termNotPersisted') {
          n.term = 0;
          n.votedFor = undefined;
        }
        if (bug === 'termNotPersisted' && rnd() < 0.7) {
          // Bias the schedule so the loss shows: the restarted node times out before it hears a leader.
          n.electionAt = now + 1;
          at(n.electionAt, { kind: 'timer', node: n.id });
          break;
        }
        if (bug === 'truncateCommitted' && n.log.length > 2) {
          // Lost the unsynced tail, committed entries included.
          n.log.length = Math.max(1, n.log.length - 1 - Math.floor(rnd() * 4));
        }
        resetElection(n, now);
        break;
      }
      case 'partition': {
        for (const id of ids) group.set(id, rnd() < 0.5 ? 0 : 1);
        at(now + between(200, 1500), { kind: 'heal' });
        at(now + expo(o.partitionEveryMs), { kind: 'partition' });
        break;
      }
      case 'heal':
        for (const id of ids) group.set(id, 0);
        break;
      case 'transfer': {
        const l = [...nodes.values()].find((n) => n.alive && n.role === 'leader');
        if (l) {
          const target = ids.find((p) => p !== l.id && (l.match.get(p) ?? 0) === lastIndex(l) && nodes.get(p)!.alive);
          if (target) send(now, l, target, { type: 'timeout_now', term: l.term }, `${l.id}>${target}#${++msgSeq}`);
        }
        at(now + expo(o.transferEveryMs), { kind: 'transfer' });
        break;
      }
    }
    checkStall(now);
    while (out.length) {
      yield out.shift()!;
      if (o.maxEvents !== undefined && ++emitted >= o.maxEvents) return;
    }
  }

  function afterObserve(from: NodeId, to: NodeId, msg: Msg, t: number, idOf: string): void {
    if (msg.type === 'append') {
      if (msg.entries.length) {
        let m = sentIndex.get(from);
        if (!m) sentIndex.set(from, (m = new Map()));
        const last = msg.entries[msg.entries.length - 1]!.index;
        if (last > (m.get(to) ?? 0)) m.set(to, last);
      }
      let set = appendTermsIn.get(to);
      if (!set) appendTermsIn.set(to, (set = new Set()));
      set.add(msg.term);
    }
    if (msg.type === 'append_resp' && msg.success && msg.match !== undefined) {
      const voter = nodes.get(from)!;
      const entryTerm = voter.log[msg.match]?.term ?? 0;
      const a = acks.get(from);
      if (!a || msg.term > a.term || (msg.term === a.term && msg.match > a.match)) acks.set(from, { term: msg.term, match: msg.match, entryTerm });
    }
    if (msg.type === 'vote_resp' && msg.granted && !msg.pre) {
      const m = pendingGrantTruth.get(`${from}>${to}/${msg.term}`);
      if (m && bug === 'noUpToDateCheck' && voteRequestsSeen.has(`${to}>${from}/${msg.term}`)) manifest(`stale/${from}/${msg.term}`, { ...m, t });
    }
    if (msg.type === 'append') {
      const p = pendingCommitTruth.get(idOf);
      if (p && bug === 'commitWithoutMajority') {
        // Visible only if, when the advertisement is seen, fewer than a majority had been sent index
        // N on the wire (a member that was sent it may already hold it: nothing to prove).
        const sentTo = sentIndex.get(p.leader);
        const count = 1 + ids.filter((q) => q !== p.leader && (sentTo?.get(q) ?? 0) >= p.commit).length;
        if (count >= majority) pendingCommitTruth.delete(idOf);
      }
      if (pendingCommitTruth.has(idOf) && p) {
        manifest(`commit/${p.leader}/${p.term}/${p.commit}`, { t, term: p.term, nodes: [p.leader], what: p.what });
        pendingCommitTruth.delete(idOf);
      }
      if (bug === 'truncateCommitted') {
        for (const e of msg.entries) {
          // Manifest when the wire showed the index committed with another term. Leader Completeness
          // binds leaders of the committing term and later; a deposed leader of an earlier term may
          // still send its old uncommitted entry (followers reject it by term).
          const w = wireCommitted.get(e.index);
          const ct = w?.term;
          if (w !== undefined && w.term !== e.term && msg.term >= w.byTerm) {
            manifest(`trunc/${e.index}/${e.term}`, { t, term: msg.term, nodes: [from], what: `${from} sends entry ${e.index} term ${e.term} over committed term ${ct}` });
          }
        }
      }
    }
  }
}

/** Runs a whole simulation into memory (tests). */
export function runSim(opts: SimOptions): { header: CaptureHeader; events: RaftEvent[]; truth: GroundTruth } {
  const s = simulate(opts);
  const events = [...s.events];
  return { header: s.header, events, truth: s.truth() };
}
