// The gRPC dialect against messages encoded by protobufjs from the real proto/raft.proto.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrpcDialect, GrpcDialectConfigError, toSafeInteger, type GrpcDecodeError, type GrpcMessage } from '../../../src/dialects/grpc/index.js';

const RAFT_PROTO = resolve(__dirname, '../../../proto/raft.proto');
const root = new protobuf.Root().loadSync(RAFT_PROTO, { keepCase: true });
const enc = (type: string, obj: Record<string, unknown>): Buffer => {
  const T = root.lookupType(type);
  const m = T.fromObject(obj);
  const err = T.verify(m);
  if (err) throw new Error(`test fixture ${type}: ${err}`);
  // fromObject silently drops unknown keys: catch fixture typos instead of testing half a message.
  for (const k of Object.keys(obj)) if (!T.fields[k]) throw new Error(`test fixture ${type}: no field ${k}`);
  return Buffer.from(T.encode(m).finish());
};
const P = {
  append: '/raft.v1.Raft/AppendEntries',
  vote: '/raft.v1.Raft/RequestVote',
  snap: '/raft.v1.Raft/InstallSnapshot',
  tn: '/raft.v1.Raft/TimeoutNow',
};
const msg = (path: string, direction: 'request' | 'response', data: Buffer, streamId = 1, t = 10, conn = 'n2#1'): GrpcMessage => ({
  conn,
  member: 'n2',
  streamId,
  path,
  direction,
  data,
  t,
});
// protobufjs bundles long.js; its typings only expose the constructor.
const Long = protobuf.util.Long as unknown as { fromString(s: string, unsigned: boolean): protobuf.Long; fromNumber(n: number, unsigned: boolean): protobuf.Long };
const sha16 = (b: Buffer) => createHash('sha1').update(b).digest('hex').slice(0, 16);
const tmp = mkdtempSync(join(tmpdir(), 'rg-grpc-dialect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('grpc dialect on the reference schema', () => {
  const errors: GrpcDecodeError[] = [];
  const d = createGrpcDialect({ protoFiles: [RAFT_PROTO], onError: (e) => errors.push(e) });

  it('binds the reference methods', () => {
    expect([...d.methods]).toEqual([
      [P.append, 'append'],
      [P.vote, 'vote'],
      [P.snap, 'snapshot'],
      [P.tn, 'timeoutNow'],
    ]);
  });

  it('decodes AppendEntries with every entry kind, and pairs the response with derived match', () => {
    const payload = Buffer.from('{"k":"a","v":"Yg=="}');
    const conf = enc('raft.v1.Configuration', { voters: ['n1', 'n2', 'n4'] });
    const req = enc('raft.v1.AppendEntriesRequest', {
      term: 7,
      leader_id: 'n1',
      prev_log_index: 10,
      prev_log_term: 6,
      leader_commit: 9,
      entries: [
        { index: 11, term: 7, type: 'NORMAL', data: payload },
        { index: 12, term: 7, type: 'NOOP' },
        { index: 13, term: 7, type: 'CONFIG', data: conf },
        { index: 14, term: 7, type: 'NORMAL' },
      ],
    });
    const [ev] = d.onMessage(msg(P.append, 'request', req, 5, 100));
    expect(ev).toEqual({
      type: 'append',
      t: 100,
      from: 'n1',
      to: 'n2',
      term: 7,
      id: 'n2#1/5',
      prevIndex: 10,
      prevTerm: 6,
      commit: 9,
      entries: [
        { index: 11, term: 7, kind: 'data', digest: sha16(payload), size: payload.length },
        { index: 12, term: 7, kind: 'noop', digest: sha16(Buffer.alloc(0)), size: 0 },
        { index: 13, term: 7, kind: 'config', digest: sha16(conf), size: conf.length, voters: ['n1', 'n2', 'n4'] },
        { index: 14, term: 7, kind: 'noop', digest: sha16(Buffer.alloc(0)), size: 0 },
      ],
    });
    // Response without match_index: match = prev_log_index + entries.length.
    const resp = d.onMessage(msg(P.append, 'response', enc('raft.v1.AppendEntriesResponse', { term: 7, success: true }), 5, 101));
    expect(resp).toEqual([{ type: 'append_resp', t: 101, from: 'n2', to: 'n1', term: 7, id: 'n2#1/5', success: true, match: 14 }]);
  });

  it('prefers the response match_index and reports conflict_index as hint', () => {
    const hb = enc('raft.v1.AppendEntriesRequest', { term: 3, leader_id: 'n3', prev_log_index: 20, prev_log_term: 3, leader_commit: 18 });
    const [a] = d.onMessage(msg(P.append, 'request', hb, 7));
    expect(a).toMatchObject({ type: 'append', entries: [], prevIndex: 20, commit: 18, from: 'n3' });
    const [r] = d.onMessage(msg(P.append, 'response', enc('raft.v1.AppendEntriesResponse', { term: 3, success: true, match_index: 25 }), 7));
    expect(r).toMatchObject({ type: 'append_resp', success: true, match: 25, to: 'n3' });

    d.onMessage(msg(P.append, 'request', hb, 9));
    const [f] = d.onMessage(msg(P.append, 'response', enc('raft.v1.AppendEntriesResponse', { term: 4, success: false, conflict_index: 15 }), 9));
    expect(f).toEqual({ type: 'append_resp', t: 10, from: 'n2', to: 'n3', term: 4, id: 'n2#1/9', success: false, hint: 15 });
    expect(f).not.toHaveProperty('match');
  });

  it('decodes RequestVote and PreVote and carries pre onto the response', () => {
    const pre = enc('raft.v1.RequestVoteRequest', { term: 5, candidate_id: 'n3', last_log_index: 40, last_log_term: 4, pre_vote: true });
    const real = enc('raft.v1.RequestVoteRequest', { term: 5, candidate_id: 'n1', last_log_index: 41, last_log_term: 4 });
    // Interleaved streams on one connection: each response pairs with its own request.
    expect(d.onMessage(msg(P.vote, 'request', pre, 11))).toEqual([
      { type: 'vote', t: 10, from: 'n3', to: 'n2', term: 5, id: 'n2#1/11', lastIndex: 40, lastTerm: 4, pre: true },
    ]);
    expect(d.onMessage(msg(P.vote, 'request', real, 13))[0]).toMatchObject({ from: 'n1', pre: false, lastIndex: 41 });
    expect(d.onMessage(msg(P.vote, 'response', enc('raft.v1.RequestVoteResponse', { term: 5, vote_granted: true }), 13))).toEqual([
      { type: 'vote_resp', t: 10, from: 'n2', to: 'n1', term: 5, id: 'n2#1/13', granted: true, pre: false },
    ]);
    expect(d.onMessage(msg(P.vote, 'response', enc('raft.v1.RequestVoteResponse', { term: 4, vote_granted: false }), 11))).toEqual([
      { type: 'vote_resp', t: 10, from: 'n2', to: 'n3', term: 4, id: 'n2#1/11', granted: false, pre: true },
    ]);
  });

  it('decodes InstallSnapshot (one event per snapshot, response on the last chunk) and TimeoutNow', () => {
    const chunk = (offset: number, done: boolean) =>
      enc('raft.v1.InstallSnapshotRequest', { term: 9, leader_id: 'n1', last_included_index: 500, last_included_term: 8, offset, done, data: Buffer.alloc(4) });
    expect(d.onMessage(msg(P.snap, 'request', chunk(0, false), 21))).toEqual([
      { type: 'snapshot', t: 10, from: 'n1', to: 'n2', term: 9, id: 'n2#1/21', lastIndex: 500, lastTerm: 8 },
    ]);
    expect(d.onMessage(msg(P.snap, 'response', enc('raft.v1.InstallSnapshotResponse', { term: 9 }), 21))).toEqual([]);
    expect(d.onMessage(msg(P.snap, 'request', chunk(4, true), 23))).toEqual([]);
    expect(d.onMessage(msg(P.snap, 'response', enc('raft.v1.InstallSnapshotResponse', { term: 9 }), 23))).toEqual([
      { type: 'snapshot_resp', t: 10, from: 'n2', to: 'n1', term: 9, id: 'n2#1/23', success: true, match: 500 },
    ]);
    expect(d.onMessage(msg(P.tn, 'request', enc('raft.v1.TimeoutNowRequest', { term: 9, leader_id: 'n1' }), 25))).toEqual([
      { type: 'timeout_now', t: 10, from: 'n1', to: 'n2', term: 9, id: 'n2#1/25' },
    ]);
  });

  it('ignores unknown paths and unpaired or ended streams', () => {
    const before = { ...d.stats };
    expect(d.onMessage(msg('/grpc.health.v1.Health/Check', 'request', Buffer.from([1, 2, 3])))).toEqual([]);
    expect(d.stats.ignored).toBe(before.ignored + 1);
    expect(d.onMessage(msg(P.vote, 'response', enc('raft.v1.RequestVoteResponse', { term: 1 }), 999))).toEqual([]);
    const req = enc('raft.v1.RequestVoteRequest', { term: 5, candidate_id: 'n1', last_log_index: 1, last_log_term: 1 });
    d.onMessage(msg(P.vote, 'request', req, 31));
    d.onStreamEnd('n2#1', 31);
    expect(d.onMessage(msg(P.vote, 'response', enc('raft.v1.RequestVoteResponse', { term: 5 }), 31))).toEqual([]);
    d.onMessage(msg(P.vote, 'request', req, 33, 10, 'n2#9'));
    d.onConnectionEnd('n2#9');
    expect(d.onMessage(msg(P.vote, 'response', enc('raft.v1.RequestVoteResponse', { term: 5 }), 33, 10, 'n2#9'))).toEqual([]);
    expect(d.stats.unpaired).toBe(before.unpaired + 3);
  });

  it('never throws on garbage: no events, a counted error naming the message type', () => {
    const errorsBefore = d.stats.errors;
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]); // length-delimited field overrunning the buffer
    expect(d.onMessage(msg(P.append, 'request', garbage, 41))).toEqual([]);
    expect(d.stats.errors).toBe(errorsBefore + 1);
    expect(errors.at(-1)).toMatchObject({ conn: 'n2#1', streamId: 41, path: P.append, direction: 'request' });
    expect(errors.at(-1)!.reason).toMatch(/raft\.v1\.AppendEntriesRequest: 7 bytes do not decode/);
    // Missing sender id is an error, not an event with from "".
    expect(d.onMessage(msg(P.append, 'request', enc('raft.v1.AppendEntriesRequest', { term: 2 }), 43))).toEqual([]);
    expect(errors.at(-1)!.reason).toMatch(/AppendEntriesRequest\.leader_id: missing sender id/);
    let thrown = 0;
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(1 + (i % 64));
      for (const p of [P.append, P.vote, P.snap]) {
        try {
          d.onMessage(msg(p, i % 2 ? 'request' : 'response', b, 1000 + i));
        } catch {
          thrown++;
        }
      }
    }
    expect(thrown).toBe(0);
  });

  it('converts 64-bit integers exactly and rejects values above 2^53', () => {
    const ok = enc('raft.v1.RequestVoteRequest', {
      term: Long.fromString('9007199254740991', true),
      candidate_id: 'n1',
      last_log_index: Long.fromString('4294967297', true),
      last_log_term: 1,
    });
    expect(d.onMessage(msg(P.vote, 'request', ok, 51))[0]).toMatchObject({ term: 9007199254740991, lastIndex: 4294967297 });
    const big = enc('raft.v1.RequestVoteRequest', { term: Long.fromString('9007199254740993', true), candidate_id: 'n1', last_log_index: 1, last_log_term: 1 });
    expect(d.onMessage(msg(P.vote, 'request', big, 53))).toEqual([]);
    expect(errors.at(-1)!.reason).toMatch(/RequestVoteRequest\.term: value above 2\^53/);
    expect(() => toSafeInteger(-1, 'x')).toThrow(/x: -1/);
    expect(toSafeInteger(Long.fromNumber(12345, true), 'x')).toBe(12345);
  });

  it('bounds pending requests (oldest evicted)', () => {
    const small = createGrpcDialect({ protoFiles: [RAFT_PROTO], maxPending: 2 });
    const req = enc('raft.v1.RequestVoteRequest', { term: 5, candidate_id: 'n1', last_log_index: 1, last_log_term: 1 });
    const res = enc('raft.v1.RequestVoteResponse', { term: 5, vote_granted: true });
    for (const s of [1, 3, 5]) small.onMessage(msg(P.vote, 'request', req, s));
    expect(small.stats.evicted).toBe(1);
    expect(small.onMessage(msg(P.vote, 'response', res, 1))).toEqual([]);
    expect(small.onMessage(msg(P.vote, 'response', res, 5))).toHaveLength(1);
    expect(small.onMessage(msg(P.vote, 'response', res, 3))).toHaveLength(1);
  });
});

describe('grpc dialect on a camelCase schema with a custom mapping', () => {
  const file = join(tmp, 'consensus.proto');
  writeFileSync(
    file,
    `syntax = "proto3";
package acme.consensus;
service Peer {
  rpc Replicate(ReplicateReq) returns (ReplicateResp);
  rpc Elect(ElectReq) returns (ElectResp);
  rpc Canvass(ElectReq) returns (ElectResp);
}
enum Kind { APP = 0; EMPTY = 1; MEMBERSHIP = 2; }
message Record { uint64 index = 1; uint64 term = 2; Kind kind = 3; bytes payload = 4; }
message ReplicateReq { uint64 term = 1; uint64 leaderId = 2; uint64 prevLogIndex = 3; uint64 prevLogTerm = 4; repeated Record records = 5; uint64 committed = 6; }
message ReplicateResp { uint64 term = 1; bool success = 2; uint64 lastLogIndex = 3; }
message ElectReq { uint64 term = 1; uint64 candidateId = 2; uint64 lastLogIndex = 3; uint64 lastLogTerm = 4; }
message ElectResp { uint64 term = 1; bool granted = 2; }
`,
  );
  const root2 = new protobuf.Root().loadSync(file, { keepCase: true });
  const enc2 = (type: string, obj: Record<string, unknown>) => {
    const T = root2.lookupType(type);
    return Buffer.from(T.encode(T.fromObject(obj)).finish());
  };
  const d = createGrpcDialect({
    protoFiles: [file],
    methods: { append: '/acme.consensus.Peer/Replicate', vote: '/acme.consensus.Peer/Elect', preVote: '/acme.consensus.Peer/Canvass' },
    fields: { appendRequest: { entries: 'records', leaderCommit: 'committed' } },
    entryKinds: { noop: ['EMPTY'], config: ['MEMBERSHIP'] },
  });

  it('decodes with camelCase defaults, custom names and integer node ids', () => {
    const req = enc2('acme.consensus.ReplicateReq', {
      term: 2,
      leaderId: 1,
      prevLogIndex: 4,
      prevLogTerm: 1,
      committed: 4,
      records: [
        { index: 5, term: 2, kind: 'EMPTY' },
        { index: 6, term: 2, kind: 'MEMBERSHIP', payload: Buffer.from('x') },
        { index: 7, term: 2, kind: 'APP', payload: Buffer.from('set a') },
      ],
    });
    const [a] = d.onMessage({ ...msg('/acme.consensus.Peer/Replicate', 'request', req, 3), member: '2' });
    expect(a).toMatchObject({ type: 'append', from: '1', to: '2', term: 2, prevIndex: 4, prevTerm: 1, commit: 4 });
    expect((a as { entries: { kind: string }[] }).entries.map((e) => e.kind)).toEqual(['noop', 'config', 'data']);
    // matchIndex found through its alias lastLogIndex.
    const [r] = d.onMessage({ ...msg('/acme.consensus.Peer/Replicate', 'response', enc2('acme.consensus.ReplicateResp', { term: 2, success: true, lastLogIndex: 7 }), 3), member: '2' });
    expect(r).toMatchObject({ type: 'append_resp', from: '2', to: '1', success: true, match: 7 });
    d.onMessage({ ...msg('/acme.consensus.Peer/Canvass', 'request', enc2('acme.consensus.ElectReq', { term: 3, candidateId: 3, lastLogIndex: 7, lastLogTerm: 2 }), 5), member: '2' });
    const [v] = d.onMessage({ ...msg('/acme.consensus.Peer/Canvass', 'response', enc2('acme.consensus.ElectResp', { term: 2, granted: true }), 5), member: '2' });
    expect(v).toMatchObject({ type: 'vote_resp', from: '2', to: '3', granted: true, pre: true });
  });
});

describe('grpc dialect config errors', () => {
  it('reports every problem at once, each saying where', () => {
    const bad = join(tmp, 'bad.proto');
    writeFileSync(bad, 'syntax = "proto3";\npackage x;\nmessage A {\n  uint64 term = 1\n}\n');
    let err: unknown;
    try {
      createGrpcDialect({
        protoFiles: [RAFT_PROTO, join(tmp, 'missing.proto'), bad],
        methods: { append: '/raft.v1.Raft/Append', vote: '/raft.v1.Raft/RequestVote', timeoutNow: 'TimeoutNow' },
        fields: { voteRequest: { candidateId: 'sender', bogus: 'x' } },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GrpcDialectConfigError);
    const problems = (err as GrpcDialectConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/proto file not found: .*missing\.proto/),
        expect.stringMatching(/bad\.proto: parse error: .*line 5/),
        expect.stringMatching(/methods\.append \(\/raft\.v1\.Raft\/Append\): method not found .*\/raft\.v1\.Raft\/AppendEntries/),
        expect.stringMatching(/methods\.timeoutNow \(TimeoutNow\): expected "\/package\.Service\/Method"/),
        expect.stringMatching(/fields\.voteRequest\.candidateId = "sender": no such field in message raft\.v1\.RequestVoteRequest/),
        expect.stringMatching(/fields\.voteRequest\.bogus: unknown logical field/),
      ]),
    );
    expect((err as Error).message).toContain('6 problem(s)');
  });

  it('accepts method and message aliases as a YAML config spells them, and rejects unknown ones', () => {
    const d = createGrpcDialect({
      protoFiles: [RAFT_PROTO],
      methods: { appendEntries: '/raft.v1.Raft/AppendEntries', RequestVote: '/raft.v1.Raft/RequestVote', timeoutNow: null },
      fields: { AppendEntriesRequest: { leaderCommit: 'leader_commit' } },
    });
    expect([...d.methods.values()]).toEqual(['append', 'vote', 'snapshot']);
    expect(() => createGrpcDialect({ protoFiles: [RAFT_PROTO], methods: { append: '/raft.v1.Raft/AppendEntries', appendEntries: '/raft.v1.Raft/AppendEntries', elect: '/x.Y/Z' } })).toThrow(
      /methods\.appendEntries: append is configured twice[\s\S]*methods\.elect: unknown RPC/,
    );
  });

  it('names a required field the schema lacks, and a wrongly typed one', () => {
    const f = join(tmp, 'thin.proto');
    writeFileSync(
      f,
      'syntax = "proto3";\npackage t;\nservice S { rpc V(VReq) returns (VResp); }\nmessage VReq { uint64 term = 1; string candidate_id = 2; string last_log_index = 3; }\nmessage VResp { uint64 term = 1; bool vote_granted = 2; }\n',
    );
    expect(() => createGrpcDialect({ protoFiles: [f], methods: { vote: '/t.S/V' } })).toThrow(
      /t\.VReq\.last_log_index \(for lastLogIndex\) must be a scalar integer field, is string[\s\S]*has no field for lastLogTerm/,
    );
  });
});
