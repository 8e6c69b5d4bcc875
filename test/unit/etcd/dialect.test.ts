// The etcd dialect end to end through createEtcdTap: HTTP bytes in, RaftEvents out.
// Messages are encoded with protobufjs from our .proto; the msgappv2 and heartbeat bytes also come
// verbatim from the fact sheet's wire examples (shared/research/etcd34-rafthttp.md §5, §6).
import Long from 'long';
import { describe, expect, it } from 'vitest';
import type { RaftEvent } from '../../../src/events/types.js';
import { createEtcdTapWithState, type EtcdDecodeError, type EtcdTapOptions } from '../../../src/dialects/etcd/index.js';
import { ConfChangePb, EntryPb, MessagePb, decodeMessage } from '../../../src/dialects/etcd/raftpb.js';
import { decimalIdToHex, parseMembersJson } from '../../../src/dialects/etcd/members.js';
import type { Direction, Tap } from '../../../proxy/tap.js';

const M1 = '1543619170000d86';
const M2 = 'd7e0d84c9ae01c07';
const M3 = 'd42492c76eeb695c';
const NAMES = { [M1]: 'm1', [M2]: 'm2', [M3]: 'm3' };
const u64 = (hex: string): Long => Long.fromString(hex, true, 16);

function encodeMsg(fields: Record<string, unknown>): Buffer {
  const obj: Record<string, unknown> = { ...fields };
  for (const k of ['to', 'from']) if (typeof obj[k] === 'string') obj[k] = u64(obj[k] as string);
  return Buffer.from(MessagePb.encode(MessagePb.fromObject(obj)).finish());
}

function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(msg.length, 4);
  return Buffer.concat([h, msg]);
}

function u64be(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(n / 2 ** 32), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

function chunkedBody(body: Buffer, sizes: number[]): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  let k = 0;
  while (pos < body.length) {
    const size = Math.min(sizes[k++ % sizes.length]!, body.length - pos);
    out.push(Buffer.from(`${size.toString(16)}\r\n`), body.subarray(pos, pos + size), Buffer.from('\r\n'));
    pos += size;
  }
  return Buffer.concat(out);
}

interface Harness {
  events: RaftEvent[];
  errors: EtcdDecodeError[];
  state: ReturnType<typeof createEtcdTapWithState>;
  open(id?: string): Tap;
}

function harness(extra: Partial<EtcdTapOptions> = {}): Harness {
  const events: RaftEvent[] = [];
  const errors: EtcdDecodeError[] = [];
  const state = createEtcdTapWithState({
    runStart: 1000,
    onEvent: (ev) => events.push(ev),
    onDecodeError: (e) => errors.push(e),
    reportEveryError: true,
    ...extra,
  });
  let seq = 0;
  return { events, errors, state, open: (id) => state.factory({ id: id ?? `m1#${++seq}`, member: 'm1', startedAt: 0 })! };
}

function streamGet(kind: 'message' | 'msgapp', dialer: string, server: string): Buffer {
  return Buffer.from(
    `GET /raft/stream/${kind}/${dialer} HTTP/1.1\r\nHost: 127.0.0.1:24811\r\nUser-Agent: Go-http-client/1.1\r\nX-Server-From: ${dialer}\r\n` +
      `X-Raft-To: ${server}\r\nX-Etcd-Cluster-Id: 535181ac3dcd5695\r\nAccept-Encoding: gzip\r\n\r\n`,
  );
}
const STREAM_200 = Buffer.from('HTTP/1.1 200 OK\r\nX-Etcd-Cluster-Id: 535181ac3dcd5695\r\nX-Server-Version: 3.4.23\r\nTransfer-Encoding: chunked\r\n\r\n');

function feedSplit(tap: Tap, dir: Direction, buf: Buffer, splits: number[], t: number): void {
  let prev = 0;
  for (const s of [...splits, buf.length]) {
    tap.data(dir, buf.subarray(prev, s), t);
    prev = s;
  }
}

// §6 wire example, m1 -> m3 on m3's msgapp stream to m1.
const FULL_MSGAPP = Buffer.from(
  '0803' + '10dcd2adf7f6d8a492d401' + '18869b808097b2d8a115' + '2003' + '2802' + '300d' + '3a06' + '0800' + '1003' + '180e' + '400d' + '4a0a12080a02280010001800' + '5000' + '5800',
  'hex',
);
const PUT_ENTRY = Buffer.from('0800' + '1003' + '180f' + '2217' + '22080a026b3612027636a2060a0888d4c9c5aac0a8c30d', 'hex');
const MSGAPPV2_BODY = Buffer.concat([
  Buffer.from([0x00]),
  Buffer.from([0x02]),
  u64be(FULL_MSGAPP.length),
  FULL_MSGAPP,
  Buffer.from([0x01]),
  u64be(0),
  u64be(14),
  Buffer.from([0x01]),
  u64be(1),
  u64be(PUT_ENTRY.length),
  PUT_ENTRY,
  u64be(14),
  Buffer.from([0x00]),
]);

describe('raftpb decoding', () => {
  it('decodes the fact sheet heartbeat with 64-bit IDs exact', () => {
    const m = decodeMessage(Buffer.from('08081087b880d7c989b6f0d70118869b808097b2d8a11520032800300040004a0a12080a0228001000180050005800', 'hex'));
    expect(m).toMatchObject({ type: 8, to: M2, from: M1, term: 3, commit: 0 });
    expect(FULL_MSGAPP.length).toBe(0x37);
    expect(PUT_ENTRY.length).toBe(31);
  });

  it('keeps IDs above 2^53 exact and refuses positions above 2^53', () => {
    const big = 'ffffffffffffffff';
    const justAbove = '20000000000001'; // 2^53 + 1
    const m = decodeMessage(encodeMsg({ type: 8, to: big, from: justAbove, term: 1 }));
    expect(m.to).toBe(big);
    expect(m.from).toBe(justAbove);
    expect(() => decodeMessage(encodeMsg({ type: 3, to: M1, from: M2, term: u64('20000000000000') }))).toThrow(/term = 0x20000000000000 is above 2\^53/);
    expect(decimalIdToHex('18446744073709551615')).toBe(big);
    const members = parseMembersJson('[{"id":15555670936465185799,"peerURLs":["http://127.0.0.1:24812"],"name":"m2"}]');
    expect(members[0]).toMatchObject({ idHex: M2, name: 'm2', isLearner: false });
  });
});

describe('etcd message stream', () => {
  const msgs = [
    encodeMsg({ type: 3, to: M2, from: M1, term: 5, logTerm: 4, index: 10, commit: 9, entries: [{ Type: 0, Term: 5, Index: 11 }, { Type: 0, Term: 5, Index: 12, Data: Buffer.from('put k v') }] }),
    encodeMsg({ type: 4, to: M1, from: M2, term: 5, index: 12 }),
    encodeMsg({ type: 4, to: M1, from: M2, term: 5, index: 10, reject: true, rejectHint: 7 }),
    encodeMsg({ type: 8, to: M2, from: M1, term: 5, commit: 8 }),
    encodeMsg({ type: 9, to: M1, from: M2, term: 5 }),
    encodeMsg({ type: 5, to: M2, from: M3, term: 6, logTerm: 5, index: 12 }),
    encodeMsg({ type: 17, to: M2, from: M3, term: 7, logTerm: 5, index: 12 }),
    encodeMsg({ type: 6, to: M3, from: M2, term: 6 }),
    encodeMsg({ type: 18, to: M3, from: M2, term: 7, reject: true }),
    encodeMsg({ type: 14, to: M3, from: M1, term: 5 }),
    encodeMsg({ type: 2, to: M1, from: M2, term: 0, entries: [{ Data: Buffer.from('x') }] }), // MsgProp: ignored
    encodeMsg({ type: 8 }), // link heartbeat: dropped
  ];
  const body = Buffer.concat(msgs.map(frame));
  const expected: RaftEvent[] = [
    {
      t: 5,
      from: 'm1',
      to: 'm2',
      term: 5,
      type: 'append',
      prevIndex: 10,
      prevTerm: 4,
      commit: 9,
      entries: [
        { index: 11, term: 5, kind: 'noop', size: 0, digest: expect.stringMatching(/^[0-9a-f]{16}$/) },
        { index: 12, term: 5, kind: 'data', size: 7, digest: expect.stringMatching(/^[0-9a-f]{16}$/) },
      ],
    },
    { t: 5, from: 'm2', to: 'm1', term: 5, type: 'append_resp', success: true, match: 12 },
    { t: 5, from: 'm2', to: 'm1', term: 5, type: 'append_resp', success: false, hint: 7 },
    { t: 5, from: 'm1', to: 'm2', term: 5, type: 'heartbeat', commit: 8 },
    { t: 5, from: 'm2', to: 'm1', term: 5, type: 'heartbeat_resp' },
    { t: 5, from: 'm3', to: 'm2', term: 6, type: 'vote', lastIndex: 12, lastTerm: 5, pre: false },
    { t: 5, from: 'm3', to: 'm2', term: 7, type: 'vote', lastIndex: 12, lastTerm: 5, pre: true },
    { t: 5, from: 'm2', to: 'm3', term: 6, type: 'vote_resp', granted: true, pre: false },
    { t: 5, from: 'm2', to: 'm3', term: 7, type: 'vote_resp', granted: false, pre: true },
    { t: 5, from: 'm1', to: 'm3', term: 5, type: 'timeout_now' },
  ] as RaftEvent[];

  it('decodes every message type, whatever the chunking, HTTP split at every position', () => {
    const wire = Buffer.concat([STREAM_200, chunkedBody(body, [37, 5, 200, 1])]);
    for (let k = 1; k < wire.length; k += 3) {
      const h = harness({ names: NAMES });
      const tap = h.open();
      tap.data('c2s', streamGet('message', M2, M1), 1000);
      feedSplit(tap, 's2c', wire, [k], 1005);
      expect(h.errors, `split ${k}`).toEqual([]);
      expect(h.events, `split ${k}`).toEqual(expected);
      expect(h.state.stats.linkHeartbeats).toBe(1);
      expect(h.state.stats.ignored).toEqual({ MsgProp: 1 });
    }
    // the payload digest tells entries apart
    const h = harness({ names: NAMES });
    const tap = h.open();
    tap.data('c2s', streamGet('message', M2, M1), 1000);
    tap.data('s2c', Buffer.concat([STREAM_200, chunkedBody(body, [4096])]), 1005);
    const [noop, put] = (h.events[0] as Extract<RaftEvent, { type: 'append' }>).entries;
    expect(noop!.digest).not.toBe(put!.digest);
  });

  it('names members by hex ID until a /members response names them', () => {
    const h = harness();
    const tap = h.open();
    tap.data('c2s', Buffer.from('GET /members HTTP/1.1\r\nHost: x\r\n\r\n'), 1000);
    tap.data('s2c', Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Etcd-Cluster-Id: 535181ac3dcd5695\r\nContent-Length: '), 1000);
    const json =
      '[{"id":1532175575513304454,"peerURLs":["http://127.0.0.1:24811"],"name":"m1"},' +
      '{"id":15555670936465185799,"peerURLs":["http://127.0.0.1:24812"],"name":"m2"},' +
      '{"id":15286504420459374940,"peerURLs":["http://127.0.0.1:24813"],"name":""}]';
    tap.data('s2c', Buffer.from(`${json.length}\r\n\r\n${json}`), 1000);
    tap.data('c2s', streamGet('message', M2, M1), 1000);
    tap.data('s2c', Buffer.concat([STREAM_200, chunkedBody(frame(encodeMsg({ type: 5, to: M2, from: M3, term: 2, logTerm: 1, index: 3 })), [100])]), 1010);
    expect(h.errors).toEqual([]);
    expect(h.events).toEqual([{ t: 10, from: M3, to: 'm2', term: 2, type: 'vote', lastIndex: 3, lastTerm: 1, pre: false }]);
    expect(h.state.voters.known).toEqual([M1, M3, M2].sort());
  });

  it('reports a bad frame with its offset and goes on with the next one', () => {
    const h = harness({ names: NAMES });
    const tap = h.open('m1#9');
    const bad = Buffer.from([0x0a, 0xff]); // field 1 length-delimited, truncated
    const good = encodeMsg({ type: 9, to: M1, from: M2, term: 5 });
    tap.data('c2s', streamGet('message', M2, M1), 1000);
    tap.data('s2c', Buffer.concat([STREAM_200, chunkedBody(Buffer.concat([frame(bad), frame(good)]), [1000])]), 1001);
    expect(h.errors).toEqual([
      expect.objectContaining({ connection: 'm1#9', direction: 's2c', channel: 'message-stream', offset: 8, message: expect.stringContaining('invalid protobuf') }),
    ]);
    expect(h.events).toEqual([{ t: 1, from: 'm2', to: 'm1', term: 5, type: 'heartbeat_resp' }]);
  });
});

describe('etcd msgappv2 stream', () => {
  const expected = [
    { t: 20, from: 'm1', to: 'm3', term: 3, type: 'append', prevIndex: 13, prevTerm: 2, commit: 13, entries: [{ index: 14, term: 3, kind: 'noop', size: 0, digest: expect.any(String) }] },
    { t: 20, from: 'm1', to: 'm3', term: 3, type: 'append', prevIndex: 14, prevTerm: 3, commit: 14, entries: [] },
    { t: 20, from: 'm1', to: 'm3', term: 3, type: 'append', prevIndex: 14, prevTerm: 3, commit: 14, entries: [{ index: 15, term: 3, kind: 'data', size: 23, digest: expect.any(String) }] },
  ];

  it('decodes the fact sheet sequence: 0x02 sets the state, 0x01 records imply term/index/logTerm (split at every position)', () => {
    const wire = Buffer.concat([STREAM_200, chunkedBody(MSGAPPV2_BODY, [13, 2, 64])]);
    for (let k = 1; k < wire.length; k++) {
      const h = harness({ names: NAMES });
      const tap = h.open();
      tap.data('c2s', streamGet('msgapp', M3, M1), 1000);
      feedSplit(tap, 's2c', wire, [k], 1020);
      expect(h.errors, `split ${k}`).toEqual([]);
      expect(h.events, `split ${k}`).toEqual(expected);
      expect(h.state.stats.linkHeartbeats).toBe(2);
    }
  });

  it('starts every stream fresh: a 0x01 record on a new stream without its 0x02 is reported, not guessed', () => {
    const h = harness({ names: NAMES });
    const a = h.open();
    a.data('c2s', streamGet('msgapp', M3, M1), 1000);
    a.data('s2c', Buffer.concat([STREAM_200, chunkedBody(MSGAPPV2_BODY, [4096])]), 1020);
    a.end(1020);
    const b = h.open();
    b.data('c2s', streamGet('msgapp', M3, M1), 1000);
    const commitOnly = Buffer.concat([Buffer.from([1]), u64be(0), u64be(15)]);
    b.data('s2c', Buffer.concat([STREAM_200, chunkedBody(commitOnly, [4096])]), 1030);
    expect(h.events).toHaveLength(3); // nothing from stream b
    expect(h.errors).toEqual([expect.objectContaining({ channel: 'msgapp-stream', message: expect.stringContaining('stream start not seen') })]);
  });

  it('checks 0x01 entries against the state and abandons a stream on an unknown record type', () => {
    const h = harness({ names: NAMES });
    const tap = h.open();
    const wrongEntry = Buffer.from(EntryPb.encode(EntryPb.fromObject({ Type: 0, Term: 3, Index: 20, Data: Buffer.from('x') })).finish());
    const body = Buffer.concat([
      Buffer.from([0x02]),
      u64be(FULL_MSGAPP.length),
      FULL_MSGAPP,
      Buffer.from([0x01]),
      u64be(1),
      u64be(wrongEntry.length),
      wrongEntry,
      u64be(14),
      Buffer.from([0x07, 0x00, 0x00]),
    ]);
    tap.data('c2s', streamGet('msgapp', M3, M1), 1000);
    tap.data('s2c', Buffer.concat([STREAM_200, chunkedBody(body, [4096])]), 1020);
    expect(h.events).toHaveLength(1);
    expect(h.errors.map((e) => e.message)).toEqual([
      'AppEntries entry (term 3, index 20) does not follow the stream state (term 3, index 14)',
      'unknown msgappv2 record type 7; stream abandoned',
    ]);
  });
});

describe('etcd pipeline and snapshot POSTs', () => {
  it('decodes a pipeline message, then a snapshot upload whose DB is skipped, on one keep-alive connection', () => {
    const h = harness({ names: NAMES });
    const tap = h.open();
    const hb = encodeMsg({ type: 8, to: M2, from: M1, term: 3, commit: 8 });
    tap.data('c2s', Buffer.from(`POST /raft HTTP/1.1\r\nHost: 127.0.0.1:24812\r\nContent-Length: ${hb.length}\r\nContent-Type: application/protobuf\r\nX-Server-From: ${M1}\r\n\r\n`), 1001);
    tap.data('c2s', hb, 1001);
    tap.data('s2c', Buffer.from('HTTP/1.1 204 No Content\r\nX-Etcd-Cluster-Id: 535181ac3dcd5695\r\n\r\n'), 1002);

    const snap = encodeMsg({
      type: 7,
      to: M2,
      from: M1,
      term: 2,
      snapshot: { data: Buffer.from('{"Root":{"Path":"/"}}'), metadata: { index: 6008, term: 2, conf_state: { voters: [u64(M1), u64(M2), u64(M3)] } } },
    });
    const db = Buffer.alloc(532480, 0xed);
    const body = Buffer.concat([frame(snap), db]);
    tap.data('c2s', Buffer.from(`POST /raft/snapshot HTTP/1.1\r\nHost: 127.0.0.1:24812\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n`), 1003);
    const wire = Buffer.concat([chunkedBody(body, [4096, 4000, 3]), Buffer.from('0\r\n\r\n')]);
    for (let pos = 0; pos < wire.length; pos += 7000) tap.data('c2s', wire.subarray(pos, pos + 7000), 1004);
    tap.data('s2c', Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), 1100);
    const vote = encodeMsg({ type: 6, to: M1, from: M2, term: 3 });
    tap.data('c2s', Buffer.from(`POST /raft HTTP/1.1\r\nContent-Length: ${vote.length}\r\n\r\n`), 1101);
    tap.data('c2s', vote, 1101);

    expect(h.errors).toEqual([]);
    expect(h.events).toEqual([
      { t: 1, from: 'm1', to: 'm2', term: 3, type: 'heartbeat', commit: 8 },
      { t: 4, from: 'm1', to: 'm2', term: 2, type: 'snapshot', lastIndex: 6008, lastTerm: 2, voters: ['m1', 'm2', 'm3'] },
      { t: 101, from: 'm2', to: 'm1', term: 3, type: 'vote_resp', granted: true, pre: false },
    ]);
    expect(h.state.voters.known).toEqual([M1, M2, M3].sort());
  });

  it('decodes config entries and derives the new voting set from what is known', () => {
    const M4 = 'fedcba9876543210';
    const h = harness({ names: { ...NAMES, [M4]: 'm4' }, voters: [M1, M2, M3] });
    const tap = h.open();
    const cc = (type: number, node: string): Buffer => Buffer.from(ConfChangePb.encode(ConfChangePb.fromObject({ id: 1, type, node_id: u64(node), context: Buffer.from('{}') })).finish());
    const app = encodeMsg({
      type: 3,
      to: M2,
      from: M1,
      term: 4,
      logTerm: 4,
      index: 20,
      commit: 20,
      entries: [
        { Type: 1, Term: 4, Index: 21, Data: cc(0, M4) },
        { Type: 1, Term: 4, Index: 22, Data: cc(1, M2) },
        { Type: 1, Term: 4, Index: 23, Data: cc(3, M3) },
      ],
    });
    tap.data('c2s', streamGet('message', M2, M1), 1000);
    tap.data('s2c', Buffer.concat([STREAM_200, chunkedBody(Buffer.concat([frame(app), frame(app)]), [4096])]), 1000);
    expect(h.errors).toEqual([]);
    for (const ev of h.events) {
      const entries = (ev as Extract<RaftEvent, { type: 'append' }>).entries;
      // the resend (same index, same payload) gets the same answer, not a change applied twice
      expect(entries.map((e) => [e.kind, e.voters])).toEqual([
        ['config', ['m1', 'm2', 'm3', 'm4'].sort()],
        ['config', ['m1', 'm3', 'm4'].sort()],
        ['config', ['m1', 'm4'].sort()],
      ]);
    }
  });

  it('anchors a /members answer at the commit seen so far: older config entries replayed later get no voters', () => {
    const M4 = 'fedcba9876543210';
    const h = harness({ names: { ...NAMES, [M4]: 'm4' } });
    const cc = (node: string): Buffer => Buffer.from(ConfChangePb.encode(ConfChangePb.fromObject({ type: 0, node_id: u64(node) })).finish());
    const tap = h.open();
    tap.data('c2s', streamGet('message', M2, M1), 1000);
    tap.data('s2c', STREAM_200, 1000);
    const send = (m: Buffer): void => tap.data('s2c', chunkedBody(frame(m), [4096]), 1000);
    send(encodeMsg({ type: 3, to: M2, from: M1, term: 2, logTerm: 2, index: 50, commit: 50 }));
    const members = h.open();
    members.data('c2s', Buffer.from('GET /members HTTP/1.1\r\n\r\n'), 1000);
    const json = `[{"id":${BigInt('0x' + M1)},"name":"m1"},{"id":${BigInt('0x' + M2)},"name":"m2"},{"id":${BigInt('0x' + M3)},"name":"m3"}]`;
    members.data('s2c', Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${json.length}\r\n\r\n${json}`), 1000);
    send(encodeMsg({ type: 3, to: M2, from: M1, term: 2, logTerm: 1, index: 9, commit: 50, entries: [{ Type: 1, Term: 1, Index: 10, Data: cc(M3) }] }));
    send(encodeMsg({ type: 3, to: M2, from: M1, term: 2, logTerm: 2, index: 50, commit: 50, entries: [{ Type: 1, Term: 2, Index: 51, Data: cc(M4) }] }));
    expect(h.errors).toEqual([]);
    const cfg = h.events.slice(1).map((e) => (e as Extract<RaftEvent, { type: 'append' }>).entries[0]);
    expect(cfg.map((e) => [e!.index, e!.kind, e!.voters])).toEqual([
      [10, 'config', undefined],
      [51, 'config', ['m1', 'm2', 'm3', 'm4']],
    ]);
  });

  it('ignores an HTTP/2 connection (gRPC on the peer port) and reports garbage once per connection', () => {
    const errors: EtcdDecodeError[] = [];
    const state = createEtcdTapWithState({ runStart: 0, onEvent: () => undefined, onDecodeError: (e) => errors.push(e) });
    const h2 = state.factory({ id: 'm1#1', member: 'm1', startedAt: 0 })!;
    h2.data('c2s', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00'), 0);
    h2.data('s2c', Buffer.from('\x00\x00\x00\x04\x01\x00\x00\x00\x00'), 0);
    const junk = state.factory({ id: 'm1#2', member: 'm1', startedAt: 0 })!;
    junk.data('c2s', Buffer.from('\x00\x01\x02 not http at all\r\n\r\n'), 0);
    junk.data('c2s', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
    expect(state.stats.http2Connections).toBe(1);
    expect(errors).toEqual([{ connection: 'm1#2', member: 'm1', direction: 'c2s', channel: 'http', offset: 0, message: expect.stringMatching(/bad request line/) }]);
    expect(state.stats.decodeErrors).toBe(1);
  });
});
