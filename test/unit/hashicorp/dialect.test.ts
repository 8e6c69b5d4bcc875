// The HashiCorp dialect end to end on constructed NetworkTransport byte streams (shapes and key
// orders as captured from raft 1.1.2, shared/research/hashicorp-raft.md §3.5-3.8): RaftEvents,
// FIFO pairing with pipelining, heartbeat vs commit-carrying appends, member naming by advertised
// address, and fail-open decode problems.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConnectionInfo, Direction } from '../../../proxy/tap.js';
import { loadRunConfig } from '../../../src/config/run-config.js';
import { createDialectTap, type DecodeProblem } from '../../../src/dialects/index.js';
import { createHashicorpTapWithState, type HashicorpDecodeError } from '../../../src/dialects/hashicorp/index.js';
import type { RaftEvent } from '../../../src/events/types.js';
import {
  appendEntries,
  appendResp,
  configuration,
  enc,
  installSnapshot,
  requestVote,
  snapshotResp,
  timeoutNow,
  timeoutNowResp,
  voteResp,
} from './gomsgpack.js';

const A1 = '127.0.0.1:22001';
const A2 = '127.0.0.1:22002';
const A3 = '127.0.0.1:22003';
const MEMBERS = [
  { id: 'n1', address: { host: '127.0.0.1', port: 22001 } },
  { id: 'n2', address: { host: '127.0.0.1', port: 22002 } },
  { id: 'n3', address: { host: '127.0.0.1', port: 22003 } },
];

type Step = [Direction, Buffer];

function harness(members = MEMBERS) {
  const events: RaftEvent[] = [];
  const errors: HashicorpDecodeError[] = [];
  const tap = createHashicorpTapWithState({ runStart: 1000, members, onEvent: (e) => events.push(e), onDecodeError: (e) => errors.push(e), reportEveryError: true });
  let n = 0;
  const open = (member: string) => {
    const info: ConnectionInfo = { id: `${member}#${++n}`, member, startedAt: 1000 };
    return tap.factory(info)!;
  };
  return { tap, events, errors, open };
}

/** Feeds steps to one connection, each step cut at the given positions. */
function play(h: ReturnType<typeof harness>, member: string, steps: Step[], cut?: (len: number) => number[]): void {
  const c = h.open(member);
  let t = 1000;
  for (const [dir, bytes] of steps) {
    const cuts = cut ? [...new Set(cut(bytes.length).filter((x) => x > 0 && x < bytes.length))].sort((a, b) => a - b) : [];
    let prev = 0;
    for (const end of [...cuts, bytes.length]) {
      c.data(dir, bytes.subarray(prev, end), ++t);
      prev = end;
    }
  }
  c.end(++t);
}

const strip = (evs: RaftEvent[]) => evs.map(({ t: _t, id: _id, ...rest }) => rest);

const CONFIG_DATA = configuration([
  { ID: 'n1', Address: A1 },
  { ID: 'n2', Address: A2 },
  { ID: 'n3', Address: A3, Suffrage: 1 }, // a non-voter is not a voter
]);

/** n1 → n2 over one connection: election, bootstrap entries pipelined, commit probe. */
const BOOT: Step[] = [
  ['c2s', requestVote({ Term: 2, Candidate: A1, LastLogIndex: 1, LastLogTerm: 1 })],
  ['s2c', voteResp({ Term: 2, Granted: true })],
  // pipelined: three requests before any response
  ['c2s', Buffer.concat([
    appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 0, PrevLogTerm: 0, LeaderCommitIndex: 0, Entries: [{ Index: 1, Term: 1, Type: 5, Data: CONFIG_DATA }] }),
    appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1, Entries: [{ Index: 2, Term: 2, Type: 1 }] }),
    appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 2, PrevLogTerm: 2, LeaderCommitIndex: 2, Entries: [{ Index: 3, Term: 2, Type: 0, Data: 'k1=v1' }, { Index: 4, Term: 2, Type: 4 }] }),
  ])],
  ['s2c', Buffer.concat([appendResp({ Term: 2, LastLog: 0, Success: true }), appendResp({ Term: 2, LastLog: 1, Success: true })])],
  ['s2c', appendResp({ Term: 2, LastLog: 2, Success: true })],
  // commit propagation: an AppendEntries with Entries [] and real positions
  ['c2s', appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 4, PrevLogTerm: 2, LeaderCommitIndex: 4, Entries: [] })],
  ['s2c', appendResp({ Term: 2, LastLog: 4, Success: true })],
];

describe('hashicorp dialect: events', () => {
  it('election, pipelined bootstrap appends and a commit probe become the expected events', () => {
    const h = harness();
    play(h, 'n2', BOOT);
    expect(h.errors).toEqual([]);
    const evs = strip(h.events);
    expect(evs[0]).toEqual({ from: 'n1', to: 'n2', term: 2, type: 'vote', lastIndex: 1, lastTerm: 1, pre: false });
    expect(evs[1]).toEqual({ from: 'n2', to: 'n1', term: 2, type: 'vote_resp', granted: true, pre: false });
    const a1 = evs[2] as Extract<RaftEvent, { type: 'append' }>;
    expect(a1).toMatchObject({ type: 'append', from: 'n1', to: 'n2', term: 2, prevIndex: 0, prevTerm: 0, commit: 0 });
    expect(a1.entries).toEqual([{ index: 1, term: 1, kind: 'config', digest: expect.stringMatching(/^[0-9a-f]{16}$/), size: CONFIG_DATA.length, voters: ['n1', 'n2'] }]);
    expect((evs[3] as { entries: unknown[] }).entries).toEqual([{ index: 2, term: 2, kind: 'noop', digest: expect.any(String), size: 0 }]);
    const third = evs[4] as Extract<RaftEvent, { type: 'append' }>;
    expect(third.entries.map((e) => [e.index, e.kind, e.size])).toEqual([[3, 'data', 5], [4, 'noop', 0]]); // LogBarrier reported as noop
    // Responses in request order: match = PrevLogEntry + entries of the paired request, not LastLog.
    expect(evs.slice(5, 8)).toEqual([
      { from: 'n2', to: 'n1', term: 2, type: 'append_resp', success: true, match: 1 },
      { from: 'n2', to: 'n1', term: 2, type: 'append_resp', success: true, match: 2 },
      { from: 'n2', to: 'n1', term: 2, type: 'append_resp', success: true, match: 4 },
    ]);
    expect(evs[8]).toEqual({ from: 'n1', to: 'n2', term: 2, type: 'append', prevIndex: 4, prevTerm: 2, commit: 4, entries: [] });
    expect(evs[9]).toEqual({ from: 'n2', to: 'n1', term: 2, type: 'append_resp', success: true, match: 4 });
    // Ids pair each response with its request; times are ms since runStart.
    expect(h.events[5]!.id).toBe(h.events[2]!.id);
    expect(h.events[7]!.id).toBe(h.events[4]!.id);
    expect(h.events[0]!.t).toBe(1);
  });

  it('every chunk split of the conversation gives the same events', () => {
    const ref = harness();
    play(ref, 'n2', BOOT);
    const want = strip(ref.events);
    for (const cut of [(n: number) => Array.from({ length: n - 1 }, (_, k) => k + 1), (n: number) => [1], (n: number) => [n - 1], (n: number) => [Math.floor(n / 3), Math.floor((2 * n) / 3)]]) {
      const h = harness();
      play(h, 'n2', BOOT, (n) => cut(n).filter((x) => x > 0 && x < n));
      expect(h.errors).toEqual([]);
      expect(strip(h.events)).toEqual(want);
    }
  });

  it('a heartbeat is a heartbeat (commit 0 is not the leader’s commit) and its answer reports no match', () => {
    const h = harness();
    play(h, 'n3', [
      ['c2s', appendEntries({ Term: 3, Leader: A2 })],
      ['s2c', appendResp({ Term: 3, LastLog: 7, Success: true })],
    ]);
    expect(strip(h.events)).toEqual([
      { from: 'n2', to: 'n3', term: 3, type: 'heartbeat', commit: 0 },
      { from: 'n3', to: 'n2', term: 3, type: 'heartbeat_resp' },
    ]);
  });

  it('a reject carries LastLog as the hint and no match; a stale-term answer keeps its own term', () => {
    const h = harness();
    play(h, 'n3', [
      ['c2s', appendEntries({ Term: 5, Leader: A1, PrevLogEntry: 9, PrevLogTerm: 4, LeaderCommitIndex: 9, Entries: [{ Index: 10, Term: 5, Type: 0, Data: 'x' }] })],
      ['s2c', appendResp({ Term: 5, LastLog: 6, Success: false })],
      ['c2s', requestVote({ Term: 6, Candidate: A1, LastLogIndex: 10, LastLogTerm: 5 })],
      ['s2c', voteResp({ Term: 5, Granted: false })], // leader stickiness: rejected with the old term
    ]);
    expect(strip(h.events).slice(1)).toEqual([
      { from: 'n3', to: 'n1', term: 5, type: 'append_resp', success: false, hint: 6 },
      { from: 'n1', to: 'n3', term: 6, type: 'vote', lastIndex: 10, lastTerm: 5, pre: false },
      { from: 'n3', to: 'n1', term: 5, type: 'vote_resp', granted: false, pre: false },
    ]);
  });

  it('TimeoutNow: sender and term from the connection’s earlier requests, else the latest leader', () => {
    const h = harness();
    play(h, 'n2', [
      ['c2s', appendEntries({ Term: 2, Leader: A1 })],
      ['s2c', appendResp({ Term: 2, LastLog: 5, Success: true })],
      ['c2s', timeoutNow()],
      ['s2c', timeoutNowResp()],
      ['c2s', requestVote({ Term: 3, Candidate: A1, LastLogIndex: 5, LastLogTerm: 2, LeadershipTransfer: true })],
    ]);
    expect(strip(h.events)[2]).toEqual({ from: 'n1', to: 'n2', term: 2, type: 'timeout_now' });
    expect(strip(h.events).length).toBe(4); // the TimeoutNow answer carries nothing
    // a fresh connection carrying only the TimeoutNow: the latest leader seen anywhere
    play(h, 'n3', [['c2s', timeoutNow()], ['s2c', timeoutNowResp()]]);
    expect(strip(h.events)[4]).toEqual({ from: 'n1', to: 'n3', term: 2, type: 'timeout_now' });
    expect(h.errors).toEqual([]);
  });

  it('InstallSnapshot: positions and voters decoded, the data skipped, the next request read, success gives match', () => {
    const h = harness();
    const data = Buffer.concat([Buffer.from([0, 0x87]), Buffer.alloc(200, 0xc1)]); // would be garbage if parsed
    play(h, 'n2', [
      ['c2s', installSnapshot({ Term: 5, Leader: A3, LastLogIndex: 13, LastLogTerm: 5, Size: data.length, Configuration: configuration([{ ID: 'a', Address: A1 }, { ID: 'b', Address: A2 }, { ID: 'c', Address: A3 }]), ConfigurationIndex: 1 }, data)],
      ['s2c', snapshotResp({ Term: 5, Success: true })],
    ], (n) => [3, n - 100, n - 1]);
    expect(h.errors).toEqual([]);
    expect(strip(h.events)).toEqual([
      { from: 'n3', to: 'n2', term: 5, type: 'snapshot', lastIndex: 13, lastTerm: 5, voters: ['n1', 'n2', 'n3'] },
      { from: 'n2', to: 'n3', term: 5, type: 'snapshot_resp', success: true, match: 13 },
    ]);
    expect(h.tap.stats.snapshotBytesSkipped).toBe(data.length);
  });

  it('PreVote (type 4, raft ≥ 1.7): sender from the RPC header’s Addr', () => {
    const h = harness();
    play(h, 'n1', [
      ['c2s', Buffer.concat([Buffer.from([4]), enc({ Addr: Buffer.from(A3), ID: Buffer.from('n3'), LastLogIndex: 9, LastLogTerm: 4, ProtocolVersion: 3, Term: 6 })])],
      ['s2c', Buffer.concat([enc(''), enc({ Addr: Buffer.from(A1), Granted: true, ID: Buffer.from('n1'), ProtocolVersion: 3, Term: 5 })])],
    ]);
    expect(strip(h.events)).toEqual([
      { from: 'n3', to: 'n1', term: 6, type: 'vote', lastIndex: 9, lastTerm: 4, pre: true },
      { from: 'n1', to: 'n3', term: 5, type: 'vote_resp', granted: true, pre: true },
    ]);
  });

  it('a remote error answer (error string, nil response) gives no event and keeps the pairing', () => {
    const h = harness();
    play(h, 'n2', [
      ['c2s', Buffer.concat([appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 3, PrevLogTerm: 2, LeaderCommitIndex: 3, Entries: [] }), requestVote({ Term: 3, Candidate: A1, LastLogIndex: 3, LastLogTerm: 2 })])],
      ['s2c', Buffer.concat([enc('unexpected command'), Buffer.from([0xc0]), voteResp({ Term: 3, Granted: true })])],
    ]);
    expect(strip(h.events).map((e) => e.type)).toEqual(['append', 'vote', 'vote_resp']);
    expect(h.tap.stats.remoteErrors).toBe(1);
    expect(h.errors).toEqual([]);
  });

  it('unknown addresses are named by the address; a 0.0.0.0 listener is matched by port', () => {
    const h = harness([{ id: 'n1', address: { host: '0.0.0.0', port: 8300 } }]);
    play(h, 'n9', [
      ['c2s', appendEntries({ Term: 2, Leader: '10.0.0.5:8300' })],
      ['c2s', appendEntries({ Term: 2, Leader: '10.9.9.9:7777' })],
    ]);
    expect(h.events.map((e) => e.from)).toEqual(['n1', '10.9.9.9:7777']);
  });
});

describe('hashicorp dialect: fail open', () => {
  it('a position above 2^53 skips that message (and its answer) with a problem naming it; reading goes on', () => {
    const h = harness();
    play(h, 'n2', [
      ['c2s', appendEntries({ Term: 2n ** 60n, Leader: A1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1, Entries: [] })],
      ['c2s', appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1, Entries: [{ Index: 2n ** 53n, Term: 2, Type: 0 }] })],
      ['c2s', appendEntries({ Term: 2, Leader: A1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1, Entries: [{ Index: 2, Term: 2, Type: 0 }] })],
      ['s2c', Buffer.concat([appendResp({ Term: 2, LastLog: 1, Success: true }), appendResp({ Term: 2, LastLog: 1, Success: true }), appendResp({ Term: 2, LastLog: 1, Success: true })])],
    ]);
    expect(h.errors.map((e) => [e.direction, e.offset, e.rpc, e.fatal])).toEqual([
      ['c2s', 0, 'AppendEntries', false],
      ['c2s', appendEntries({ Term: 2n ** 60n, Leader: A1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1, Entries: [] }).length, 'AppendEntries', false],
    ]);
    expect(h.errors[0]!.message).toBe('AppendEntries.Term is 1152921504606846976 (above 2^53, not usable as a position), expected an unsigned integer');
    expect(h.errors[1]!.message).toMatch(/Entries\[0\]\.Index is 9007199254740992/);
    expect(strip(h.events)).toEqual([
      { from: 'n1', to: 'n2', term: 2, type: 'append', prevIndex: 1, prevTerm: 1, commit: 1, entries: [{ index: 2, term: 2, kind: 'data', digest: expect.any(String), size: 0 }] },
      { from: 'n2', to: 'n1', term: 2, type: 'append_resp', success: true, match: 2 },
    ]);
  });

  it('a framing error is one problem with connection, direction and offset; the connection is not read further', () => {
    const events: RaftEvent[] = [];
    const errors: HashicorpDecodeError[] = [];
    const tap = createHashicorpTapWithState({ runStart: 0, members: MEMBERS, onEvent: (e) => events.push(e), onDecodeError: (e) => errors.push(e) });
    const c = tap.factory({ id: 'n2#7', member: 'n2', startedAt: 0 })!;
    const good = appendEntries({ Term: 2, Leader: A1 });
    c.data('c2s', Buffer.concat([good, Buffer.from([0x09])]), 1);
    c.data('c2s', good, 2);
    c.data('s2c', appendResp({ Term: 2, LastLog: 0, Success: true }), 3);
    c.end(4);
    expect(errors).toEqual([{ connection: 'n2#7', member: 'n2', direction: 'c2s', offset: good.length, message: expect.stringMatching(/unknown rpc type byte 0x09.*reading stopped/), fatal: true }]);
    expect(events.map((e) => e.type)).toEqual(['heartbeat']);
    // another connection is unaffected
    const d = tap.factory({ id: 'n2#8', member: 'n2', startedAt: 0 })!;
    d.data('c2s', good, 5);
    expect(events.length).toBe(2);
  });

  it('a response with no outstanding request is a problem (the two directions disagree)', () => {
    const h = harness();
    play(h, 'n2', [['s2c', appendResp({ Term: 2, LastLog: 0, Success: true })]]);
    expect(h.errors[0]).toMatchObject({ direction: 's2c', offset: 0, fatal: true, message: expect.stringMatching(/no outstanding request/) });
  });

  it('too many outstanding requests stops reading (bounded memory)', () => {
    const events: RaftEvent[] = [];
    const errors: HashicorpDecodeError[] = [];
    const tap = createHashicorpTapWithState({ runStart: 0, members: MEMBERS, onEvent: (e) => events.push(e), onDecodeError: (e) => errors.push(e), limits: { maxOutstanding: 8 } });
    const c = tap.factory({ id: 'x', member: 'n2', startedAt: 0 })!;
    for (let k = 0; k < 20; k++) c.data('c2s', appendEntries({ Term: 2, Leader: A1 }), k);
    expect(events.length).toBe(8);
    expect(errors[0]!.message).toMatch(/more than 8 requests without a response/);
  });

  it('random garbage, truncation and a throwing sink never throw into the caller', () => {
    const tap = createHashicorpTapWithState({ runStart: 0, members: MEMBERS, onEvent: () => { throw new Error('sink'); }, onDecodeError: () => { throw new Error('sink'); } });
    let seed = 11;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const stream = Buffer.concat(BOOT.filter(([d]) => d === 'c2s').map(([, b]) => b));
    for (let trial = 0; trial < 500; trial++) {
      const c = tap.factory({ id: `r${trial}`, member: 'n2', startedAt: 0 })!;
      const b = Buffer.from(stream.subarray(0, Math.floor(rnd() * stream.length)));
      for (let k = 0; k < 2; k++) if (b.length) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      expect(() => {
        c.data('c2s', b.subarray(0, b.length >> 1), 1);
        c.data('s2c', b, 2);
        c.data('c2s', b.subarray(b.length >> 1), 3);
        c.end(4);
      }).not.toThrow();
    }
  });
});

describe('hashicorp dialect: config and wiring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftguard-hcfg-'));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('dialect: hashicorp loads, and createDialectTap names members by listen or advertise address', async () => {
    const p = file('ok.yaml', [
      'cluster: c',
      'dialect: hashicorp',
      'members:',
      '  - { id: s1, listen: "127.0.0.1:22001", target: "127.0.0.1:21001" }',
      '  - { id: s2, listen: "0.0.0.0:22002", target: "127.0.0.1:21002", advertise: "10.1.1.2:8300" }',
      '',
    ].join('\n'));
    const cfg = loadRunConfig(p, {});
    expect(cfg.dialect).toBe('hashicorp');
    expect(cfg.members[1]!.advertise).toEqual({ host: '10.1.1.2', port: 8300 });
    const events: RaftEvent[] = [];
    const problems: DecodeProblem[] = [];
    const factory = await createDialectTap(cfg, { runStart: 0, onEvent: (e) => events.push(e), onDecodeProblem: (x) => problems.push(x) });
    const c = factory({ id: 's1#1', member: 's1', startedAt: 0 })!;
    c.data('c2s', appendEntries({ Term: 4, Leader: '10.1.1.2:8300' }), 10);
    c.data('c2s', Buffer.from([0x2a]), 11);
    expect(events).toEqual([{ t: 10, from: 's2', to: 's1', term: 4, id: 's1#1/0', type: 'heartbeat', commit: 0 }]);
    const at = appendEntries({ Term: 4, Leader: '10.1.1.2:8300' }).length;
    expect(problems).toEqual([{ conn: 's1#1', member: 's1', protocol: 'hashicorp', reason: expect.stringMatching(new RegExp(`^c2s offset ${at}: unknown rpc type byte 0x2a`)) }]);
  });

  it('configuration problems are named with file, line and key', () => {
    const p = file('bad.yaml', [
      'cluster: c',
      'dialect: hashicorp',
      'members:',
      '  - { id: s1, listen: "127.0.0.1:22001", target: "127.0.0.1:21001", advertise: "nope" }',
      '  - { id: s2, listen: "127.0.0.1:22002", target: "127.0.0.1:21002", advertise: "0.0.0.0:8300" }',
      '  - { id: s3, listen: "127.0.0.1:22003", target: "127.0.0.1:21003", advertise: "127.0.0.1:22001" }',
      '  - { id: s4, listen: "127.0.0.1:22001", target: "127.0.0.1:21004" }',
      '',
    ].join('\n'));
    let msg = '';
    try {
      loadRunConfig(p, {});
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toContain(`${p}:4: members[0].advertise: expected the host:port the members advertise`);
    expect(msg).toContain(`${p}:5: members[1].advertise: an unspecified address (0.0.0.0, ::) cannot be advertised`);
    expect(msg).toContain(`${p}:7: members[3].listen: raft address 127.0.0.1:22001 names two members`);
    const e = file('etcd.yaml', 'cluster: c\ndialect: etcd\nmembers:\n  - { id: a, listen: "127.0.0.1:1", target: "127.0.0.1:2", advertise: "127.0.0.1:3" }\n');
    expect(() => loadRunConfig(e, {})).toThrow(/members\[0\]\.advertise: advertise is the raft address HashiCorp raft members advertise; it means nothing to dialect etcd/);
  });
});
