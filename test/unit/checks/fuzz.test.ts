// A small, correct Raft (terms, votes, log matching, own-term commit rule, no-op on election,
// volatile commit, crash/restart with persistent term/vote/log) on a hostile network: random
// delays (reordering within and across pairs), drops, duplicates, and rare very late deliveries.
// Events are emitted when the receiver's tap would see them. A correct cluster must never raise a
// critical finding. This is a fast local guard; the project simulator in src/sim is the full one.
import { describe, expect, it } from 'vitest';
import type { Entry, Finding, RaftEvent } from '../../../src/events/types.js';
import { createEngine } from '../../../src/engine.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

interface LogEntry {
  term: number;
  digest: string;
}
type Msg =
  | { type: 'append'; term: number; prevIndex: number; prevTerm: number; entries: Entry[]; commit: number }
  | { type: 'append_resp'; term: number; success: boolean; match?: number }
  | { type: 'vote'; term: number; lastIndex: number; lastTerm: number; pre: boolean }
  | { type: 'vote_resp'; term: number; granted: boolean; pre: boolean }
  | { type: 'heartbeat'; term: number; commit: number }
  | { type: 'heartbeat_resp'; term: number };

interface Node {
  id: string;
  term: number;
  votedFor?: string;
  log: LogEntry[];
  commit: number;
  role: 'follower' | 'candidate' | 'leader';
  votes: Set<string>;
  next: Map<string, number>;
  match: Map<string, number>;
  deadline: number;
  alive: boolean;
  restartAt: number;
}

function simulate(seed: number, opts: { lateMs: number; durationMs: number; crash: number; bug?: 'old-term-commit' | 'stale-vote' | 'lose-term' | 'truncate' | 'commit-early'; style?: 'classic' | 'etcd' | 'clamp'; partitions?: boolean }): { events: RaftEvent[]; commits: number } {
  const r = rng(seed);
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'].slice(0, 3 + Math.floor(r() * 2) * 2);
  const q = (ids.length >> 1) + 1;
  const nodes = new Map<string, Node>();
  const elTimeout = () => 150 + r() * 150;
  for (const id of ids) {
    nodes.set(id, { id, term: 0, log: [{ term: 0, digest: '' }], commit: 0, role: 'follower', votes: new Set(), next: new Map(), match: new Map(), deadline: elTimeout(), alive: true, restartAt: 0 });
  }
  const queue: { at: number; from: string; to: string; m: Msg }[] = [];
  const events: RaftEvent[] = [];
  let now = 0;
  let digestSeq = 0;
  let maxCommitEver = 0;
  // Partitions: now and then one node is cut off from the others for a while.
  let isolated = '';
  let isolatedUntil = 0;
  const send = (from: string, to: string, m: Msg) => {
    if (now < isolatedUntil && (from === isolated || to === isolated)) return;
    if (r() < 0.05) return; // drop
    const copies = r() < 0.03 ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = 1 + r() * 25;
      if (r() < 0.02) delay += r() * opts.lateMs; // a message from an unrelated moment
      queue.push({ at: now + delay, from, to, m });
    }
  };
  const lastIndex = (n: Node) => n.log.length - 1;
  const lastTerm = (n: Node) => n.log[n.log.length - 1].term;
  const stepUp = (n: Node, term: number) => {
    if (term > n.term) {
      n.term = term;
      n.votedFor = undefined;
      n.role = 'follower';
    }
  };
  const sendAppend = (l: Node, to: string) => {
    const next = l.next.get(to) ?? lastIndex(l) + 1;
    const prevIndex = next - 1;
    const entries: Entry[] = [];
    for (let i = next; i <= lastIndex(l) && entries.length < 4; i++) entries.push({ index: i, term: l.log[i].term, kind: 'data', digest: l.log[i].digest });
    const lastNew = prevIndex + entries.length;
    const commit = opts.style === 'clamp' ? Math.min(l.commit, lastNew) : l.commit;
    send(l.id, to, { type: 'append', term: l.term, prevIndex, prevTerm: l.log[prevIndex].term, entries, commit });
  };
  const becomeLeader = (n: Node) => {
    n.role = 'leader';
    for (const p of ids) if (p !== n.id) {
      n.next.set(p, lastIndex(n) + 1);
      n.match.set(p, 0);
    }
    if (opts.bug !== 'old-term-commit') n.log.push({ term: n.term, digest: `noop${n.term}` });
    for (const p of ids) if (p !== n.id) sendAppend(n, p);
  };
  const advanceCommit = (l: Node) => {
    for (let N = lastIndex(l); N > l.commit; N--) {
      if (l.log[N].term !== l.term && opts.bug !== 'old-term-commit') break;
      let c = 1;
      for (const p of ids) if (p !== l.id && (l.match.get(p) ?? 0) >= N) c++;
      if (c >= q) {
        l.commit = N;
        if (N > maxCommitEver) maxCommitEver = N;
        break;
      }
    }
  };
  const deliver = (from: string, to: string, m: Msg) => {
    const n = nodes.get(to)!;
    if (!n.alive) return;
    const base = { t: now, from, to, term: m.term };
    events.push({ ...base, ...m } as RaftEvent);
    if (m.type === 'vote' && m.pre) {
      // etcd: a granted pre-vote answer carries the pre-vote's (future) term; the voter's term does not change.
      const upToDate = m.lastTerm > lastTerm(n) || (m.lastTerm === lastTerm(n) && m.lastIndex >= lastIndex(n));
      const granted = m.term > n.term && upToDate;
      return send(n.id, from, { type: 'vote_resp', term: granted ? m.term : n.term, granted, pre: true });
    }
    if (m.type === 'vote_resp' && m.pre) return;
    stepUp(n, m.term);
    switch (m.type) {
      case 'append': {
        if (m.term < n.term) return send(n.id, from, { type: 'append_resp', term: n.term, success: false });
        n.role = 'follower';
        n.deadline = now + elTimeout();
        if (m.prevIndex > lastIndex(n) || n.log[m.prevIndex].term !== m.prevTerm) return send(n.id, from, { type: 'append_resp', term: n.term, success: false });
        // Bug: truncate after the last new entry even when nothing conflicts (a stale append then cuts acknowledged, committed entries).
        if (opts.bug === 'truncate' && m.prevIndex + m.entries.length < lastIndex(n)) n.log.length = m.prevIndex + m.entries.length + 1;
        for (const e of m.entries) {
          if (e.index <= lastIndex(n) && n.log[e.index].term !== e.term) n.log.length = e.index;
          if (e.index > lastIndex(n)) n.log.push({ term: e.term, digest: e.digest! });
        }
        const lastNew = m.prevIndex + m.entries.length;
        n.commit = Math.max(n.commit, Math.min(m.commit, lastNew));
        return send(n.id, from, { type: 'append_resp', term: n.term, success: true, match: lastNew });
      }
      case 'append_resp': {
        if (n.role !== 'leader' || m.term !== n.term) return;
        if (m.success) {
          n.match.set(from, Math.max(n.match.get(from) ?? 0, m.match!));
          n.next.set(from, n.match.get(from)! + 1);
          advanceCommit(n);
        } else {
          n.next.set(from, Math.max(1, (n.next.get(from) ?? 1) - 1));
          sendAppend(n, from);
        }
        return;
      }
      case 'vote': {
        const upToDate = opts.bug === 'stale-vote' || m.lastTerm > lastTerm(n) || (m.lastTerm === lastTerm(n) && m.lastIndex >= lastIndex(n));
        const granted = m.term === n.term && (n.votedFor === undefined || n.votedFor === from) && upToDate;
        if (granted) {
          n.votedFor = from;
          n.deadline = now + elTimeout();
        }
        return send(n.id, from, { type: 'vote_resp', term: n.term, granted, pre: false });
      }
      case 'heartbeat': {
        if (m.term < n.term) return send(n.id, from, { type: 'append_resp', term: n.term, success: false });
        n.role = 'follower';
        n.deadline = now + elTimeout();
        n.commit = Math.max(n.commit, Math.min(m.commit, lastIndex(n)));
        return send(n.id, from, { type: 'heartbeat_resp', term: n.term });
      }
      case 'heartbeat_resp':
        return;
      case 'vote_resp': {
        if (n.role !== 'candidate' || m.term !== n.term || !m.granted) return;
        n.votes.add(from);
        if (n.votes.size >= q) becomeLeader(n);
        return;
      }
    }
  };
  let nextTick = 0;
  while (now < opts.durationMs) {
    queue.sort((a, b) => a.at - b.at);
    const at = queue.length ? Math.min(queue[0].at, nextTick) : nextTick;
    now = at;
    if (queue.length && queue[0].at <= nextTick) {
      const x = queue.shift()!;
      deliver(x.from, x.to, x.m);
      continue;
    }
    nextTick += 25;
    if (opts.partitions && now >= isolatedUntil && r() < 0.01) {
      isolated = ids[Math.floor(r() * ids.length)];
      isolatedUntil = now + 500 + r() * 2500;
    }
    for (const n of nodes.values()) {
      if (!n.alive) {
        if (now >= n.restartAt) {
          n.alive = true;
          n.role = 'follower';
          n.commit = 0; // volatile
          if (opts.bug === 'lose-term') {
            n.term = Math.max(0, n.term - 3);
            n.votedFor = undefined;
          }
          n.deadline = now + elTimeout();
        }
        continue;
      }
      if (r() < opts.crash) {
        n.alive = false;
        n.restartAt = now + 200 + r() * 2000;
        continue;
      }
      if (n.role === 'leader') {
        if (r() < (opts.bug === 'old-term-commit' ? 0.05 : 0.3)) {
          n.log.push({ term: n.term, digest: `c${digestSeq++}` });
          // Bug: commit a new entry before any follower has it.
          if (opts.bug === 'commit-early' && r() < 0.1) n.commit = lastIndex(n);
        }
        for (const p of ids) {
          if (p === n.id) continue;
          // etcd: heartbeats carry min(match, commit); appends only when there is something to send.
          if (opts.style === 'etcd') {
            send(n.id, p, { type: 'heartbeat', term: n.term, commit: Math.min(n.match.get(p) ?? 0, n.commit) });
            if ((n.next.get(p) ?? 0) <= lastIndex(n) || r() < 0.2) sendAppend(n, p);
          } else sendAppend(n, p);
        }
      } else if (now >= n.deadline) {
        n.term++;
        n.role = 'candidate';
        n.votedFor = n.id;
        n.votes = new Set([n.id]);
        n.deadline = now + elTimeout();
        for (const p of ids) if (p !== n.id) {
          if (r() < 0.5) send(n.id, p, { type: 'vote', term: n.term + 1, lastIndex: lastIndex(n), lastTerm: lastTerm(n), pre: true });
          send(n.id, p, { type: 'vote', term: n.term, lastIndex: lastIndex(n), lastTerm: lastTerm(n), pre: false });
        }
      }
    }
  }
  return { events, commits: maxCommitEver };
}

function criticalOf(events: RaftEvent[], nodes: string[]): Finding[] {
  const e = createEngine({ nodes });
  const out: Finding[] = [];
  for (const ev of events) out.push(...e.apply(ev), ...e.tick(ev.t));
  out.push(...e.tick(events[events.length - 1].t + 10_000));
  // Open conditions are closed when leadership moves on: only the current leader's can stay open.
  expect(e.sizes().openFindings).toBeLessThanOrEqual(nodes.length + 2);
  return out.filter((f) => f.severity === 'critical');
}

describe('fuzz: a correct Raft on a hostile network raises no critical finding', () => {
  it('40 seeds with crashes, delays up to 25 ms plus rare deliveries up to 400 ms late', () => {
    const stats: string[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const { events, commits } = simulate(seed, { lateMs: 400, durationMs: 15000, crash: 0.008 });
      const nodes = [...new Set(events.map((e) => e.to))].sort();
      expect(commits, `seed ${seed} made progress`).toBeGreaterThan(5);
      const crit = criticalOf(events, nodes);
      expect(crit.map((f) => `seed ${seed}: ${f.code} ${f.message}`)).toEqual([]);
      stats.push(`${seed}:${events.length}ev/${Math.max(...events.map((e) => e.term))}T/c${commits}`);
    }
    console.log(stats.join(' '));
  });
});

describe('fuzz: etcd-style heartbeats and clamped commits', () => {
  for (const style of ['etcd', 'clamp'] as const) {
    it(`${style}: 30 seeds raise no critical finding`, () => {
      for (let seed = 100; seed < 130; seed++) {
        const { events, commits } = simulate(seed, { lateMs: 400, durationMs: 15000, crash: 0.008, style, partitions: true });
        expect(commits).toBeGreaterThan(5);
        const crit = criticalOf(events, [...new Set(events.map((e) => e.to))].sort());
        expect(crit.map((f) => `seed ${seed}: ${f.code} ${f.message}`)).toEqual([]);
      }
    });
  }
});

describe('fuzz: the same simulator with a bug switched on is caught', () => {
  const caught = (bug: 'old-term-commit' | 'stale-vote' | 'lose-term' | 'truncate' | 'commit-early') => {
    const codes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const { events } = simulate(seed, { lateMs: 400, durationMs: 15000, crash: 0.008, bug });
      for (const f of criticalOf(events, [...new Set(events.map((e) => e.to))].sort())) codes.add(f.code);
    }
    return [...codes].sort();
  };
  it('commit by counting old-term replicas, no no-op: RG005', () => {
    expect(caught('old-term-commit')).toContain('RG005');
  });
  it('votes without the up-to-date check: RG008', () => {
    expect(caught('stale-vote')).toContain('RG008');
  });
  it('follower truncating acknowledged, committed entries on a stale append: RG004', () => {
    expect(caught('truncate')).toContain('RG004');
  });
  it('commit before a majority holds the entry: RG006', () => {
    expect(caught('commit-early')).toContain('RG006');
  });
  it('term and vote lost on restart: RG007', () => {
    expect(caught('lose-term')).toContain('RG007');
  });
});
