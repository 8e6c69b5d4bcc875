// Critical checks RG001–RG009: each must fire on a real violation (with the proving events) and
// stay silent on the trap that looks like one.
import { describe, expect, it } from 'vitest';
import type { AppendEvent, RaftEvent } from '../../../src/events/types.js';
import { app, codes, grant, hb, ok, only, range, replicate, run, vote } from './helpers.js';

const N = { nodes: ['n1', 'n2', 'n3'] };
const critical = (fs: { severity: string }[]) => fs.filter((f) => f.severity === 'critical');

describe('RG001 election-safety', () => {
  it('raises when two nodes send appends with the same term', () => {
    const { findings } = run([app(0, 'n1', 'n2', 2, 0, 0, [], 0), app(5, 'n3', 'n2', 2, 0, 0, [], 0), app(6, 'n3', 'n1', 2, 0, 0, [], 0)]);
    const f = only(findings, 'RG001');
    expect(f).toHaveLength(1);
    expect(f[0].term).toBe(2);
    expect(f[0].nodes.sort()).toEqual(['n1', 'n3']);
    expect(f[0].evidence.map((e) => e.event?.from)).toEqual(['n1', 'n3']);
  });
  it('trap: a delayed append of the old leader after a new leader took a higher term', () => {
    const { findings } = run([
      app(0, 'n1', 'n2', 2, 0, 0, [], 0),
      vote(10, 'n2', 'n3', 3, 0, 0),
      grant(11, 'n3', 'n2', 3),
      app(12, 'n2', 'n3', 3, 0, 0, [], 0),
      app(13, 'n1', 'n3', 2, 0, 0, [], 0), // old term, delayed
    ]);
    expect(critical(findings)).toEqual([]);
  });
});

describe('RG002 double-vote', () => {
  it('raises when a node grants two candidates in one term', () => {
    const { findings } = run([vote(0, 'n1', 'n3', 4, 0, 0), vote(1, 'n2', 'n3', 4, 0, 0), grant(2, 'n3', 'n1', 4), grant(3, 'n3', 'n2', 4)]);
    const f = only(findings, 'RG002');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n3', 'n1', 'n2']);
    expect(f[0].evidence).toHaveLength(2);
  });
  it('trap: pre-votes to two candidates, then one real vote, plus a duplicated response', () => {
    const { findings } = run([
      vote(0, 'n1', 'n3', 4, 0, 0, true),
      vote(0, 'n2', 'n3', 4, 0, 0, true),
      grant(1, 'n3', 'n1', 4, true),
      grant(1, 'n3', 'n2', 4, true),
      vote(2, 'n2', 'n3', 4, 0, 0),
      grant(3, 'n3', 'n2', 4),
      grant(4, 'n3', 'n2', 4),
    ]);
    expect(critical(findings)).toEqual([]);
  });
});

describe('RG003 log-matching', () => {
  it('raises on one (index, term) with two digests', () => {
    const { findings } = run([app(0, 'n1', 'n2', 2, 4, 2, [[5, 2, 'aa']], 0), app(1, 'n1', 'n3', 2, 4, 2, [[5, 2, 'bb']], 0)]);
    const f = only(findings, 'RG003');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ index: 5, entryTerm: 2, digests: ['aa', 'bb'] });
  });
  it('gives as evidence the two appends as observed, the first one rebuilt from what the window kept of it', () => {
    // The first append carries three entries (the window keeps its entries array) and an id; the
    // second carries one (the window keeps the entry itself).
    const first = { ...app(0, 'n1', 'n2', 2, 4, 2, [[5, 2, 'aa'], [6, 2, 'cc'], [7, 2, 'dd']], 3), id: 'n1>n2#9' };
    const second = app(1, 'n1', 'n3', 2, 6, 2, [[7, 2, 'ee']], 3);
    const single = app(3, 'n1', 'n3', 2, 7, 2, [[8, 2, 'ff']], 3);
    const f = only(run([first, second, app(2, 'n1', 'n2', 2, 4, 2, [[5, 2, 'bb']], 3), single, app(4, 'n1', 'n2', 2, 7, 2, [[8, 2, 'gg']], 3)]).findings, 'RG003');
    expect(f.map((x) => x.details?.index)).toEqual([7, 5, 8]);
    expect(f[2].evidence[0].event).toEqual(single);
    expect(f[2].evidence[0].event).not.toBe(single);
    expect(f[0].evidence[0].event).toEqual(first);
    expect(f[0].evidence[1].event).toBe(second);
    expect(f[1].evidence[0].event).toEqual(first);
    expect(JSON.parse(JSON.stringify(f[1].evidence[0].event))).toEqual(JSON.parse(JSON.stringify(first)));
  });
  it('trap: a new leader overwrites an uncommitted entry at the same index with another term (Figure 7)', () => {
    const { findings } = run([
      app(0, 'n1', 'n2', 2, 0, 0, range(1, 3, 2), 0),
      ok(1, 'n2', 'n1', 2, 3),
      app(2, 'n1', 'n2', 2, 3, 2, [[4, 2, 'old']], 3), // 4 never committed
      app(10, 'n3', 'n2', 3, 3, 2, [[4, 3, 'new']], 3),
      ok(11, 'n2', 'n3', 3, 4),
      app(12, 'n3', 'n2', 3, 4, 3, [], 4),
    ]);
    expect(critical(findings)).toEqual([]);
  });
});

describe('RG004 committed-entry-overwritten', () => {
  it('raises when a later leader holds another entry at a committed index', () => {
    const ev = [
      ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 5, 0), // entries 1..5 term 2, commit 5
      app(100, 'n2', 'n3', 3, 4, 2, [[5, 3]], 4),
    ];
    const { findings } = run(ev);
    const f = only(findings, 'RG004');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ index: 5, committedTerm: 2, newTerm: 3 });
    expect(f[0].evidence[1].event?.from).toBe('n2');
  });
  it('proves the commit with a real append of the committing leader that covers the index, after its commit moved on', () => {
    // Index 2 is committed early (commit 2), then the leader's commit moves on to 8 in steps; the
    // proof of index 2 is the leader's widest commit message, which covers it too.
    const ev = [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 8, 0), app(100, 'n2', 'n3', 3, 1, 2, [[2, 3]], 1)];
    const f = only(run(ev).findings, 'RG004');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ index: 2, committedTerm: 2, newTerm: 3 });
    const proof = f[0].evidence[0].event as AppendEvent;
    expect(ev).toContain(proof); // one of the observed events, not a reconstruction
    expect(proof).toMatchObject({ type: 'append', from: 'n1', term: 2 });
    expect(proof.commit).toBeGreaterThanOrEqual(2);
  });
  it('trap: a stale leader of an older term still sends its overwritten uncommitted entry', () => {
    const ev: RaftEvent[] = [
      ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 5, 0),
      app(20, 'n1', 'n2', 2, 5, 2, [[6, 2, 'x']], 5), // 6@2 uncommitted
      app(30, 'n3', 'n2', 4, 5, 2, [[6, 4, 'y']], 5),
      ok(31, 'n2', 'n3', 4, 6),
      app(32, 'n3', 'n2', 4, 6, 4, [], 5),
      app(33, 'n3', 'n1', 4, 6, 4, [], 6), // commit 6 (term 4) known
      app(40, 'n1', 'n2', 2, 5, 2, [[6, 2, 'x']], 5), // delayed duplicate from the old leader
    ];
    expect(critical(run(ev).findings)).toEqual([]);
  });
});

describe('RG005 previous-term-commit', () => {
  const base = (): RaftEvent[] => [
    ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 3, 0), // 1..3 @2 committed
    app(20, 'n1', 'n2', 2, 3, 2, [[4, 2]], 3), // 4@2 reaches n2 only
    ok(21, 'n2', 'n1', 2, 4),
    vote(30, 'n2', 'n3', 3, 4, 2),
    grant(31, 'n3', 'n2', 3),
    app(32, 'n2', 'n3', 3, 3, 2, [[4, 2]], 3),
    ok(33, 'n3', 'n2', 3, 4),
  ];
  it('raises when a leader advances its commit onto an earlier-term entry', () => {
    const { findings } = run([...base(), app(40, 'n2', 'n3', 3, 4, 2, [], 4), app(40, 'n2', 'n1', 3, 4, 2, [], 4)], N, 3000);
    const f = only(findings, 'RG005');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n2']);
    expect(f[0].details).toMatchObject({ commit: 4, entryTerm: 2, previousCommit: 3 });
    expect(only(findings, 'RG006')).toEqual([]); // a majority (n2, n3) does hold 4
  });
  it('trap: commit through an own-term no-op is fine', () => {
    const { findings } = run([...base(), app(40, 'n2', 'n3', 3, 4, 2, [[5, 3]], 3), ok(41, 'n3', 'n2', 3, 5), app(42, 'n2', 'n3', 3, 5, 3, [], 5)], N, 5000);
    expect(critical(findings)).toEqual([]);
  });
  it('trap: a clamped commit (message ends at the commit) observed before the real commit on the own-term no-op', () => {
    const { findings } = run(
      [...base(), app(40, 'n2', 'n1', 3, 4, 2, [[5, 3]], 3), ok(41, 'n1', 'n2', 3, 5), app(42, 'n2', 'n3', 3, 3, 2, [[4, 2]], 4), app(43, 'n2', 'n1', 3, 5, 3, [], 5)],
      N,
      3000,
    );
    expect(critical(findings)).toEqual([]);
  });
  it('raises on a commit that ends its message (could be clamped) when no own-term entry was majority-acknowledged before it was sent', () => {
    // n2 sends commit 4 in a message ending at 4; its own-term entry 5 goes out right after, but the
    // acks for 5 arrive 20 ms later: no real commit on an own-term entry can hide behind 4.
    const ev: RaftEvent[] = [...base(), app(40, 'n2', 'n3', 3, 4, 2, [], 4), app(41, 'n2', 'n3', 3, 4, 2, [[5, 3]], 4), app(41, 'n2', 'n1', 3, 3, 2, [[4, 2], [5, 3]], 4), ok(60, 'n3', 'n2', 3, 5), ok(61, 'n1', 'n2', 3, 5)];
    const f = only(run(ev, N, 3000).findings, 'RG005');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ commit: 4, entryTerm: 2 });
    expect(f[0].evidence.map((e) => e.note).join(' ')).toContain('acknowledged only up to index 4');
  });
  it('trap: the same clamped-looking commit is silent when the own-term entry was acknowledged by a majority before it', () => {
    const ev: RaftEvent[] = [...base(), app(38, 'n2', 'n1', 3, 3, 2, [[4, 2], [5, 3]], 3), ok(39, 'n1', 'n2', 3, 5), app(40, 'n2', 'n3', 3, 4, 2, [], 4), app(41, 'n2', 'n3', 3, 4, 2, [[5, 3]], 5)];
    expect(critical(run(ev, N, 3000).findings)).toEqual([]);
  });
  it("trap: a new leader's first commit equals the old leader's, even when sent clamped to a lagging follower first", () => {
    const { findings } = run([
      ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 4, 0), // commit 4 known
      app(30, 'n2', 'n3', 3, 2, 2, [], 2), // clamped commit to a follower behind
      app(31, 'n2', 'n1', 3, 4, 2, [], 4),
    ]);
    expect(critical(findings)).toEqual([]);
  });
});

describe('RG006 commit-without-quorum', () => {
  const ev = (ackDelay: number, ackMatch: number): RaftEvent[] => [
    app(0, 'n1', 'n2', 2, 0, 0, range(1, 3, 2), 1),
    app(0, 'n1', 'n3', 2, 0, 0, range(1, 3, 2), 1),
    ok(1, 'n2', 'n1', 2, 2),
    app(10, 'n1', 'n3', 2, 3, 2, [], 3), // commit 3
    ok(10 + ackDelay, 'n3', 'n1', 2, ackMatch),
  ];
  it('raises when no majority is known to hold the commit after the reorder tolerance', () => {
    const { findings } = run(ev(5, 1), N, 3000);
    const f = only(findings, 'RG006');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ commit: 3, majorityIndex: 2, holders: 1 });
  });
  it('raises when the leader sends the commit together with the entry, even though acks follow within ms', () => {
    const ev: RaftEvent[] = [
      ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 2, 0),
      ok(5, 'n2', 'n1', 2, 2), ok(5, 'n3', 'n1', 2, 2),
      app(10, 'n1', 'n2', 2, 2, 2, [[3, 2]], 3), app(10, 'n1', 'n3', 2, 2, 2, [[3, 2]], 3), // committed before anyone has it
      ok(12, 'n2', 'n1', 2, 3), ok(12, 'n3', 'n1', 2, 3),
    ];
    const f = only(run(ev, N, 3000).findings, 'RG006');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ commit: 3, holders: 1, quorum: 2 });
  });
  it('trap: the ack that made the quorum is observed after the commit (other connection)', () => {
    expect(critical(run(ev(5, 3), N, 3000).findings)).toEqual([]);
  });
  it('raises when the acks that would make the quorum are observed only after the commit (beyond observerSkewMs): they cannot have caused it', () => {
    const f = only(run(ev(30, 3), N, 3000).findings, 'RG006');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ commit: 3, holders: 1 });
  });
  it('trap: the same late ack is within a configured observerSkewMs (merged captures of several observers)', () => {
    expect(critical(run(ev(30, 3), { ...N, thresholds: { observerSkewMs: 50 } }, 3000).findings)).toEqual([]);
  });
  it('trap: partial observation keeps it silent and the snapshot says complete: false', () => {
    const r = run(ev(5, 1), { nodes: ['n1', 'n2', 'n3'], observed: ['n1', 'n2'] }, 3000);
    expect(only(r.findings, 'RG006')).toEqual([]);
    expect(r.engine.snapshot().complete).toBe(false);
  });
});

describe('RG007 term-regression', () => {
  it('raises when a node comes back with a lower term after silence', () => {
    const { findings } = run([hb(0, 'n1', 'n2', 5, 0), ok(1, 'n2', 'n1', 5, 0), vote(4000, 'n2', 'n1', 2, 0, 0), vote(4000, 'n2', 'n3', 2, 0, 0)]);
    const f = only(findings, 'RG007');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n2']);
    expect(f[0].details).toMatchObject({ fromTerm: 5, toTerm: 2 });
  });
  it('trap: messages from two connections observed out of order, and a backlogged old message while the node is active', () => {
    const ev: RaftEvent[] = [];
    for (let t = 0; t < 5000; t += 100) ev.push(hb(t, 'n1', 'n2', 5, 0), ok(t + 1, 'n2', 'n1', 5, 0));
    ev.push(ok(150, 'n2', 'n3', 4, 0)); // reordered
    ev.push(ok(3000, 'n2', 'n3', 4, 0), ok(3001, 'n2', 'n3', 4, 0)); // backlog burst, n2 still at 5 elsewhere
    ev.sort((a, b) => a.t - b.t);
    expect(critical(run(ev).findings)).toEqual([]);
  });
  it('trap: pre-vote carries a higher term than the node has, then normal traffic at its real term', () => {
    const ev: RaftEvent[] = [vote(0, 'n2', 'n1', 6, 0, 0, true), grant(1, 'n1', 'n2', 6, true)];
    for (let t = 2000; t < 5000; t += 100) ev.push(hb(t, 'n1', 'n2', 5, 0), ok(t + 1, 'n2', 'n1', 5, 0));
    expect(critical(run(ev).findings)).toEqual([]);
  });
});

describe('RG008 vote-for-stale-log', () => {
  const history = (): RaftEvent[] => replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 5, 0);
  it('raises when a voter grants a candidate behind what it acknowledged', () => {
    const { findings } = run([...history(), vote(100, 'n2', 'n3', 3, 3, 2), grant(101, 'n3', 'n2', 3)], N, 3000);
    const f = only(findings, 'RG008');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n3', 'n2']);
    expect(f[0].details).toMatchObject({ voterMatch: 5, voterEntryTerm: 2, candidateLastIndex: 3 });
    expect(f[0].evidence).toHaveLength(3);
  });
  it('trap: an up-to-date candidate, and pre-votes granted to a stale one', () => {
    const { findings } = run(
      [...history(), vote(100, 'n2', 'n3', 3, 3, 2, true), grant(101, 'n3', 'n2', 3, true), vote(200, 'n1', 'n3', 3, 5, 2), grant(201, 'n3', 'n1', 3)],
      N,
      3000,
    );
    expect(critical(findings)).toEqual([]);
  });
  it('trap: appends from the candidate itself in the vote term say nothing about vote time', () => {
    const { findings } = run(
      [...history(), vote(100, 'n2', 'n3', 3, 5, 2), grant(101, 'n3', 'n2', 3), app(102, 'n2', 'n3', 3, 5, 2, [[6, 3], [7, 3]], 5), ok(103, 'n3', 'n2', 3, 7), vote(104, 'n1', 'n3', 3, 5, 2)],
      N,
      3000,
    );
    expect(critical(findings)).toEqual([]);
  });
  it('trap: the voter received appends of an intermediate term (its log may have been cut), so it stays silent', () => {
    const { findings } = run(
      [...history(), app(50, 'n2', 'n3', 3, 5, 2, [[6, 3]], 5), vote(100, 'n1', 'n3', 4, 3, 2), grant(101, 'n3', 'n1', 4)],
      N,
      3000,
    );
    expect(critical(findings)).toEqual([]);
  });
});

describe('RG009 commit-regression', () => {
  it('raises when the leader advertises a lower commit and no longer stands by the higher one', () => {
    const ev: RaftEvent[] = [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 10, 0)];
    ev.push(app(2000, 'n1', 'n2', 2, 10, 2, [], 5), app(2000, 'n1', 'n3', 2, 10, 2, [], 5));
    const f = only(run(ev).findings, 'RG009');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ highCommit: 10, lowCommit: 5 });
  });
  it('raises when two different entries are committed at one index', () => {
    const ev: RaftEvent[] = [
      ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 5, 0),
      app(100, 'n2', 'n3', 3, 4, 2, [[5, 3]], 4),
      app(101, 'n2', 'n3', 3, 4, 2, [[5, 3]], 5),
    ];
    const f = only(run(ev).findings, 'RG009');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ index: 5, terms: [2, 3] });
  });
  it('trap: etcd heartbeats carry min(match, commit), reordered commits, and a restarted leader with a lower commit in a new term', () => {
    const ev: RaftEvent[] = [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 10, 0)];
    ev.push(hb(100, 'n1', 'n2', 2, 0), hb(100, 'n1', 'n3', 2, 4));
    ev.push(app(110, 'n1', 'n2', 2, 10, 2, [[11, 2]], 10), app(110, 'n1', 'n3', 2, 10, 2, [[11, 2]], 10), ok(111, 'n2', 'n1', 2, 11));
    ev.push(app(113, 'n1', 'n2', 2, 11, 2, [], 11), app(112, 'n1', 'n3', 2, 11, 2, [], 10)); // observed out of order
    ev.push(vote(5000, 'n1', 'n2', 3, 11, 2), grant(5001, 'n2', 'n1', 3));
    ev.push(app(5002, 'n1', 'n2', 3, 11, 2, [[12, 3]], 0), app(5003, 'n1', 'n2', 3, 12, 3, [], 3)); // volatile commit after restart
    expect(critical(run(ev).findings)).toEqual([]);
  });
});

describe('RG009 clamped commits', () => {
  it('trap: a leader clamping the commit it sends to a lagging follower while the caught-up one is quiet', () => {
    const ev: RaftEvent[] = [...replicate(0, 'n1', ['n3'], 2, 0, 0, 10, 0)]; // n1+n3 commit 10
    // n3 goes quiet; n2 catches up slowly and the leader sends it min(commit, last sent).
    for (let k = 0, t = 100; k < 10; k++, t += 400) {
      ev.push(app(t, 'n1', 'n2', 2, k, k === 0 ? 0 : 2, [[k + 1, 2]], Math.min(10, k + 1)), ok(t + 1, 'n2', 'n1', 2, k + 1));
    }
    const r = run(ev);
    expect(critical(r.findings)).toEqual([]);
    expect(r.engine.snapshot().leader?.match.n2).toBe(10);
  });
});

describe('RG006 and membership', () => {
  it('trap: a configuration change in flight makes the majority uncertain, so it stays silent', () => {
    const cfg: RaftEvent = {
      type: 'append', t: 5, from: 'n1', to: 'n2', term: 2, prevIndex: 1, prevTerm: 2,
      entries: [{ index: 2, term: 2, kind: 'config', voters: ['n1', 'n2', 'n3', 'n4', 'n5'] }, { index: 3, term: 2, kind: 'data', digest: 'z' }], commit: 1,
    };
    const ev: RaftEvent[] = [
      app(0, 'n1', 'n2', 2, 0, 0, [[1, 2]], 0), app(0, 'n1', 'n3', 2, 0, 0, [[1, 2]], 0), ok(1, 'n2', 'n1', 2, 1), ok(1, 'n3', 'n1', 2, 1),
      app(2, 'n1', 'n2', 2, 1, 2, [], 1),
      cfg, { ...cfg, to: 'n3' } as RaftEvent,
      ok(6, 'n2', 'n1', 2, 3), ok(6, 'n3', 'n1', 2, 3), // 3 of the old 3 voters, 3 of the new 5 voters
      app(7, 'n1', 'n2', 2, 3, 2, [], 3),
    ];
    const r = run(ev, { nodes: ['n1', 'n2', 'n3'] }, 3000);
    expect(critical(r.findings)).toEqual([]);
    expect(r.engine.snapshot().voters).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
  });
});

describe('RG004 on the follower side', () => {
  const base = (): RaftEvent[] => [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 5, 0), ok(20, 'n2', 'n1', 2, 5), ok(20, 'n3', 'n1', 2, 5)]; // acked 5; commit 5
  const reject = (t: number): RaftEvent => ({ type: 'append_resp', t, from: 'n2', to: 'n1', term: 2, success: false, hint: 2 });
  it('raises when a follower rejects, in the same term, an index it acknowledged and that is committed', () => {
    const { findings } = run([...base(), app(2000, 'n1', 'n2', 2, 4, 2, [[5, 2]], 5), reject(2001)]);
    const f = only(findings, 'RG004');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n2', 'n1']);
    expect(f[0].details).toMatchObject({ follower: 'n2', prevIndex: 4, acknowledged: 5 });
    expect(f[0].evidence.map((e) => e.event?.type)).toEqual(['append_resp', 'append', 'append_resp']);
  });
  it('trap: pipelined appends make the pairing ambiguous, an old reject observed just after the ack, and a reject beyond the ack', () => {
    const ev: RaftEvent[] = [
      ...base(),
      app(2000, 'n1', 'n2', 2, 4, 2, [[5, 2]], 5), app(2000, 'n1', 'n2', 2, 8, 2, [[9, 2]], 5), reject(2001), // two outstanding
      app(2100, 'n1', 'n3', 2, 9, 2, [[10, 2]], 5), { type: 'append_resp', t: 2101, from: 'n3', to: 'n1', term: 2, success: false }, // prev 9 > acked 5
    ];
    expect(critical(run(ev).findings)).toEqual([]);
    const early: RaftEvent[] = [app(0, 'n1', 'n2', 2, 0, 0, range(1, 3, 2), 0), app(1, 'n1', 'n2', 2, 2, 2, [[3, 2]], 0), ok(2, 'n2', 'n1', 2, 3), app(3, 'n1', 'n3', 2, 3, 2, [], 3), reject(4)];
    expect(critical(run(early).findings)).toEqual([]);
  });
});
