// readPcap on synthesized captures: every file format variant, link type and TCP corner case the
// brief names, each checked by the exact bytes the reader receives per direction.

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readPcap, PcapFormatError, type PcapNotice, type PcapOptions } from '../../../proxy/pcap/index.js';
import { Conversation, LINKTYPE, PcapngWriter, collector, frame, ipPacket, writePcap, type Link, type Rec, type TcpPacket, type IpOptions } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-pcap-syn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

async function run(bytes: Buffer, opts: Partial<PcapOptions> = {}) {
  const path = join(dir, `f${++fileNo}.pcap`);
  writeFileSync(path, bytes);
  const col = collector();
  const notices: PcapNotice[] = [];
  const stats = await readPcap(path, { tapFactory: col.factory, onNotice: (n) => notices.push(n), ...opts });
  return { stats, notices, conns: col.conns, joined: col.joined, path };
}

const T0 = 1_700_000_000_000;

/** Packets → records on a link type, 1 ms apart. */
function recs(link: Link, pkts: Array<TcpPacket | { p: TcpPacket; o: IpOptions }>, vlans: number[] = []): Rec[] {
  return pkts.map((x, i) => {
    const [p, o] = 'p' in x ? [x.p, x.o] : [x, {}];
    return { t: T0 + i, data: frame(link, ipPacket(p, o), vlans, 60) };
  });
}

/** A whole connection: handshake, `c` then `s` in `size`-byte segments, FIN both ways. */
function simpleConnection(conv: Conversation, c: Buffer, s: Buffer, size = 100): TcpPacket[] {
  const out: TcpPacket[] = [conv.syn(), conv.synAck(), conv.established()];
  for (let i = 0; i < c.length; i += size) out.push(conv.send('c2s', c.subarray(i, i + size)));
  for (let i = 0; i < s.length; i += size) out.push(conv.send('s2c', s.subarray(i, i + size)));
  out.push(conv.fin('c2s'), conv.fin('s2c'), conv.ackOf('s2c'));
  return out;
}

describe('link types and IP versions', () => {
  const cases: Array<[Link, string, string, number[]]> = [
    ['ethernet', '10.0.0.1', '10.0.0.2', []],
    ['ethernet', '10.0.0.1', '10.0.0.2', [100, 200]],
    ['ethernet', '2001:db8::1', '2001:db8::2', [7]],
    ['null', '10.0.0.1', '10.0.0.2', []],
    ['null', 'fe80::1', 'fe80::2', []],
    ['loop', '10.0.0.1', '10.0.0.2', []],
    ['loop', 'fe80::1', 'fe80::2', []],
    ['sll', '10.0.0.1', '10.0.0.2', []],
    ['sll2', '2001:db8:0:1::5', '2001:db8:0:1::6', []],
    ['raw', '10.0.0.1', '10.0.0.2', []],
    ['ipv4', '10.0.0.1', '10.0.0.2', []],
    ['ipv6', '2001:db8::1', '2001:db8::2', []],
  ];
  for (const [link, a, b, vlans] of cases) {
    it(`${link}${vlans.length ? ` with ${vlans.length} VLAN tag(s)` : ''} over ${a.includes(':') ? 'IPv6' : 'IPv4'}: both directions arrive exactly, then end`, async () => {
      const c = randomBytes(1000);
      const s = randomBytes(777);
      const conv = new Conversation(a, b, 40000, 2380, 1000, 5000);
      const r = await run(writePcap({ linkType: LINKTYPE[link] }, recs(link, simpleConnection(conv, c, s, 97), vlans)));
      expect(r.notices).toEqual([]);
      expect(r.conns).toHaveLength(1);
      const conn = r.conns[0]!;
      expect(r.joined(conn, 'c2s').equals(c)).toBe(true);
      expect(r.joined(conn, 's2c').equals(s)).toBe(true);
      expect(conn.ended).toBeDefined();
      expect(conn.afterEnd).toBe(0);
      const server = a.includes(':') ? `[${b}]:2380` : `${b}:2380`;
      expect(conn.info.member).toBe(server);
      expect(conn.info.remoteAddress).toBe(a);
      expect(conn.info.remotePort).toBe(40000);
      expect(conn.info.startedAt).toBe(T0);
      expect(r.stats.flowsEnded.fin).toBe(1);
      expect(r.stats.bytesC2S).toBe(1000);
      expect(r.stats.bytesS2C).toBe(777);
    });
  }

  it('IPv4 options, IPv6 hop-by-hop/routing/destination headers and an atomic fragment are stepped over', async () => {
    const c = randomBytes(300);
    const conv4 = new Conversation('10.1.1.1', '10.1.1.2', 1111, 2380, 7, 9);
    const o4: IpOptions = { ipv4Options: Buffer.from([1, 1, 1, 0]) };
    const conv6 = new Conversation('2001:db8::a', '2001:db8::b', 2222, 2380, 7, 9);
    const o6: IpOptions = { ipv6Ext: [0, 43, 60, 44] };
    const p4 = simpleConnection(conv4, c, c).map((p) => ({ p, o: o4 }));
    const p6 = simpleConnection(conv6, c, c).map((p) => ({ p, o: o6 }));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', [...p4, ...p6])));
    expect(r.notices).toEqual([]);
    expect(r.conns).toHaveLength(2);
    for (const conn of r.conns) {
      expect(r.joined(conn, 'c2s').equals(c)).toBe(true);
      expect(r.joined(conn, 's2c').equals(c)).toBe(true);
    }
  });

  it('IP fragments are skipped, counted and noted once; the flow that lost bytes is reported', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 1234, 2380, 1, 1);
    const a = randomBytes(50);
    const pkts: Array<TcpPacket | { p: TcpPacket; o: IpOptions }> = [conv.syn(), conv.synAck(), conv.established()];
    pkts.push({ p: conv.send('c2s', a), o: { fragment: { more: true, offset8: 0 } } });
    pkts.push({ p: conv.send('c2s', a), o: { fragment: { more: false, offset8: 100 } } });
    pkts.push(conv.ackOf('c2s'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.stats.skippedPackets.fragments).toBe(2);
    expect(r.notices.filter((n) => n.kind === 'fragment')).toHaveLength(1);
    expect(r.notices.find((n) => n.kind === 'fragment')!.message).toMatch(/byte offset \d+/);
    // the peer acknowledged 100 bytes the capture never had: reported at the end of the file
    expect(r.notices.some((n) => n.kind === 'undelivered' && n.flow === r.conns[0]!.info.id)).toBe(true);
    expect(r.stats.bytesC2S).toBe(0);
  });

  it('IPv6 behind ESP cannot be read: counted and noted once', async () => {
    const p = ipPacket(new Conversation('2001:db8::1', '2001:db8::2', 1, 2, 1, 1).syn());
    p[6] = 50; // next header: ESP
    const r = await run(writePcap({ linkType: 229 }, [{ t: T0, data: p }, { t: T0 + 1, data: p }]));
    expect(r.stats.skippedPackets.ipv6Unsupported).toBe(2);
    expect(r.notices.filter((n) => n.kind === 'ipv6-unsupported').map((n) => n.message)).toEqual([expect.stringMatching(/ESP/)]);
  });

  it('names the member with memberOf and filters by port', async () => {
    const c = randomBytes(64);
    const conv1 = new Conversation('10.0.0.1', '10.0.0.2', 5555, 2380, 1, 2);
    const conv2 = new Conversation('10.0.0.1', '10.0.0.3', 5556, 9999, 1, 2);
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', [...simpleConnection(conv1, c, c), ...simpleConnection(conv2, c, c)])), {
      ports: [2380],
      memberOf: (ip, port) => (ip === '10.0.0.2' && port === 2380 ? 'n2' : undefined),
    });
    expect(r.conns).toHaveLength(1);
    expect(r.conns[0]!.info.member).toBe('n2');
    expect(r.conns[0]!.info.id).toMatch(/^pcap:10\.0\.0\.1:5555>10\.0\.0\.2:2380#\d+$/);
    expect(r.stats.skippedPackets.portFiltered).toBe(8); // the whole second connection
  });
});

describe('TCP reassembly', () => {
  it('reorders out-of-order segments and trims overlapping retransmissions (first copy wins)', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4000, 2380, 100, 900);
    const data = randomBytes(1000);
    const hs = [conv.syn(), conv.synAck(), conv.established()];
    const seg = (from: number, to: number) => conv.at('c2s', from, data.subarray(from, to));
    // A later copy of bytes 250..350 with different content must lose to the first copy.
    const bogus = conv.at('c2s', 250, Buffer.alloc(100, 0xff));
    const pkts = [...hs, seg(0, 100), seg(300, 500), seg(200, 300), bogus, seg(150, 400), seg(100, 200), seg(0, 150), seg(500, 1000), seg(900, 1000)];
    conv.cseq = (conv.cseq + 1000) >>> 0;
    pkts.push(conv.fin('c2s'), conv.fin('s2c'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    const got = r.joined(r.conns[0]!, 'c2s');
    expect(got.length).toBe(1000);
    expect(got.equals(data)).toBe(true);
    expect(r.stats.outOfOrderSegments).toBeGreaterThanOrEqual(2);
    expect(r.stats.retransmittedSegments).toBe(5); // bogus, 150..400, 100..200, 0..150, 900..1000
    expect(r.stats.retransmittedBytes).toBe(100 /*bogus*/ + 200 /*200..400 of 150..400*/ + 50 /*150..200 of 100..200*/ + 150 /*0..150*/ + 100 /*900..1000*/);
    expect(r.stats.flowsEnded.fin).toBe(1);
  });

  it('a buffered first copy wins over a later, wider segment that covers it', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4001, 2380, 1, 1);
    const data = randomBytes(300);
    const pkts = [conv.syn(), conv.synAck(), conv.established()];
    pkts.push(conv.at('c2s', 100, data.subarray(100, 200))); // buffered first
    const wide = Buffer.from(data);
    wide.fill(0xaa, 100, 200); // a later copy disagrees about 100..200
    pkts.push(conv.at('c2s', 0, wide)); // in order, covers the buffered piece
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.joined(r.conns[0]!, 'c2s').equals(data)).toBe(true);
  });

  it('handles 32-bit sequence wraparound, in order and out of order, in both directions', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4002, 2380, 0xffffff00, 0xfffffff0);
    const c = randomBytes(2000);
    const s = randomBytes(2000);
    const pkts = [conv.syn(), conv.synAck(), conv.established()];
    for (let i = 0; i < 2000; i += 150) pkts.push(conv.at('c2s', i, c.subarray(i, i + 150)));
    const order = [3, 1, 0, 2, 5, 4, 9, 8, 7, 6, 13, 12, 11, 10];
    for (const k of order) pkts.push(conv.at('s2c', k * 150, s.subarray(k * 150, k * 150 + 150)));
    conv.cseq = (conv.cseq + 2000) >>> 0;
    conv.sseq = (conv.sseq + 2000) >>> 0;
    pkts.push(conv.fin('c2s'), conv.fin('s2c'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
    expect(r.joined(r.conns[0]!, 's2c').equals(s)).toBe(true);
    expect(r.stats.flowsEnded.fin).toBe(1);
  });

  it('skips a flow whose SYN was not captured, with a notice naming it, and reads the others', async () => {
    const mid = new Conversation('10.0.0.9', '10.0.0.2', 7777, 2380, 1, 1);
    const ok = new Conversation('10.0.0.1', '10.0.0.2', 4003, 2380, 1, 1);
    const c = randomBytes(100);
    const pkts = [mid.at('c2s', 50, randomBytes(10)), mid.at('s2c', 0, randomBytes(10)), ...simpleConnection(ok, c, c)];
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.conns).toHaveLength(1);
    expect(r.conns[0]!.info.remotePort).toBe(4003);
    const n = r.notices.filter((x) => x.kind === 'start-not-seen');
    expect(n).toHaveLength(1);
    expect(n[0]!.message).toContain('10.0.0.9:7777>10.0.0.2:2380');
    expect(n[0]!.message).toMatch(/SYN.*not captured/);
    expect(r.stats.skippedFlows.startNotSeen).toBe(1);
    expect(r.stats.skippedFlows.total).toBe(1);
    expect(r.stats.skippedPackets.untrackedFlow).toBe(3); // 2 of the skipped flow + the last ACK after both FINs
  });

  it('starts a flow from a SYN-ACK when the SYN is missing (its ack names the client start exactly)', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4004, 2380, 500, 600);
    const c = randomBytes(120);
    const pkts = simpleConnection(conv, c, c).slice(1);
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.conns).toHaveLength(1);
    expect(r.conns[0]!.info.remoteAddress).toBe('10.0.0.1');
    expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
  });

  it('infers the server start from the client ACK when the SYN-ACK is missing', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4005, 2380, 500, 600);
    const c = randomBytes(120);
    const s = randomBytes(130);
    const all = simpleConnection(conv, c, s);
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', all.filter((_, i) => i !== 1))));
    expect(r.joined(r.conns[0]!, 's2c').equals(s)).toBe(true);
    expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
  });

  it('ignores SYN retransmits, keep-alives and a zero-window probe byte sent again later', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4006, 2380, 10, 20);
    const data = randomBytes(400);
    const pkts: TcpPacket[] = [conv.syn(), conv.syn(), conv.synAck(), conv.synAck(), conv.established()];
    pkts.push(conv.send('c2s', data.subarray(0, 100)));
    pkts.push(conv.at('c2s', -1, Buffer.alloc(0), 'A')); // keep-alive, empty (Linux)
    pkts.push(conv.at('c2s', -1, Buffer.from([0x00]), 'A')); // keep-alive with one garbage byte (BSD)
    pkts.push(conv.at('c2s', 0, data.subarray(100, 101))); // zero-window probe: the next byte
    pkts.push(conv.at('c2s', 0, data.subarray(100, 101))); // probed again
    pkts.push(conv.at('c2s', 0, data.subarray(100, 400))); // window opens: sent with the rest
    conv.cseq = (conv.cseq + 300) >>> 0;
    pkts.push(conv.fin('c2s'), conv.fin('s2c'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.conns).toHaveLength(1);
    expect(r.joined(r.conns[0]!, 'c2s').equals(data)).toBe(true);
    expect(r.stats.synRetransmits).toBe(2);
    // The repeated 1-byte probe sits one below the next byte, exactly like a BSD keep-alive: 3.
    expect(r.stats.keepAlives).toBe(3);
    expect(r.stats.retransmittedBytes).toBe(1);
  });

  it('a new SYN on the same addresses after the flow ended starts a second connection', async () => {
    const a = new Conversation('10.0.0.1', '10.0.0.2', 4007, 2380, 1, 1);
    const b = new Conversation('10.0.0.1', '10.0.0.2', 4007, 2380, 777777, 888888);
    const x = randomBytes(50);
    const y = randomBytes(60);
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', [...simpleConnection(a, x, x), ...simpleConnection(b, y, y)])));
    expect(r.conns).toHaveLength(2);
    expect(r.conns[0]!.info.id).not.toBe(r.conns[1]!.info.id);
    expect(r.joined(r.conns[1]!, 'c2s').equals(y)).toBe(true);
  });

  it('RST ends the flow; flows still open at the end of the file end at the last timestamp', async () => {
    const a = new Conversation('10.0.0.1', '10.0.0.2', 4008, 2380, 1, 1);
    const b = new Conversation('10.0.0.1', '10.0.0.2', 4009, 2380, 1, 1);
    const pkts = [a.syn(), a.synAck(), a.established(), a.send('c2s', Buffer.from('hello')), { ...a.ackOf('c2s'), flags: 'RA' }];
    pkts.push(b.syn(), b.synAck(), b.established(), b.send('c2s', Buffer.from('open')));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.stats.flowsEnded.rst).toBe(1);
    expect(r.stats.flowsEnded.endOfFile).toBe(1);
    expect(r.conns[0]!.ended).toBe(T0 + 4);
    expect(r.conns[1]!.ended).toBe(T0 + pkts.length - 1);
    expect(r.joined(r.conns[1]!, 'c2s').toString()).toBe('open');
  });

  it('abandons a flow whose out-of-order buffer passes the limit, with a notice and tap.end', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4010, 2380, 1, 1);
    const pkts = [conv.syn(), conv.synAck(), conv.established(), conv.at('c2s', 0, Buffer.from('ok'))];
    for (let i = 1; i <= 20; i++) pkts.push(conv.at('c2s', 2 + i * 1000, randomBytes(1000))); // a gap at offset 2
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)), { maxOutOfOrderBytes: 8000 });
    const n = r.notices.find((x) => x.kind === 'out-of-order-limit');
    expect(n?.message).toContain(r.conns[0]!.info.id);
    expect(r.stats.skippedFlows.outOfOrderLimit).toBe(1);
    expect(r.conns[0]!.ended).toBeDefined();
    expect(r.joined(r.conns[0]!, 'c2s').toString()).toBe('ok');
    expect(r.conns[0]!.afterEnd).toBe(0);
  });

  it('abandons a flow once the peer acknowledged bytes the capture lacks and the gap timeout passed', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4011, 2380, 1, 1);
    const pkts = [conv.syn(), conv.synAck(), conv.established(), conv.send('c2s', Buffer.from('abc'))];
    conv.cseq = (conv.cseq + 100) >>> 0; // 100 bytes the capture dropped
    pkts.push(conv.ackOf('c2s'));
    for (let i = 0; i < 5; i++) pkts.push(conv.send('c2s', Buffer.from('zz')));
    const rs = recs('ethernet', pkts).map((x, i) => ({ ...x, t: T0 + i * 400 }));
    const r = await run(writePcap({ linkType: 1 }, rs), { gapTimeoutMs: 1000 });
    const n = r.notices.find((x) => x.kind === 'missing-bytes');
    expect(n?.message).toMatch(/lacks c2s bytes 3\.\.103/);
    expect(r.stats.skippedFlows.missingBytes).toBe(1);
    expect(r.joined(r.conns[0]!, 'c2s').toString()).toBe('abc');
  });

  it('an acknowledgment captured just before the data it covers is not a loss (capture reordering)', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4020, 2380, 1, 1);
    const data = randomBytes(200);
    const pkts = [conv.syn(), conv.synAck(), conv.established()];
    const seg = conv.send('c2s', data);
    pkts.push(conv.ackOf('c2s'), seg, conv.fin('c2s'), conv.fin('s2c'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    expect(r.notices).toEqual([]);
    expect(r.joined(r.conns[0]!, 'c2s').equals(data)).toBe(true);
    expect(r.stats.flowsEnded.fin).toBe(1);
  });

  it('half-close: the server keeps sending after the client FIN; the reader ends after both FINs', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4021, 2380, 1, 1);
    const c = randomBytes(100);
    const s = randomBytes(5000);
    const pkts = [conv.syn(), conv.synAck(), conv.established(), conv.send('c2s', c), conv.fin('c2s')];
    for (let i = 0; i < s.length; i += 1000) pkts.push(conv.send('s2c', s.subarray(i, i + 1000)));
    pkts.push(conv.fin('s2c'), conv.ackOf('s2c'));
    const r = await run(writePcap({ linkType: 1 }, recs('ethernet', pkts)));
    const conn = r.conns[0]!;
    expect(r.joined(conn, 's2c').equals(s)).toBe(true);
    expect(conn.ended).toBe(T0 + pkts.length - 2); // at the server's FIN
    expect(conn.afterEnd).toBe(0);
  });

  it('abandons a flow with a segment cut by the snapshot length', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4012, 2380, 1, 1);
    const pkts = [conv.syn(), conv.synAck(), conv.established(), conv.send('c2s', randomBytes(500))];
    const rs = recs('raw', pkts);
    const last = rs[rs.length - 1]!;
    rs[rs.length - 1] = { ...last, data: last.data.subarray(0, 200), origLen: last.data.length };
    const r = await run(writePcap({ linkType: 101, snapLen: 200 }, rs));
    expect(r.notices.find((x) => x.kind === 'truncated-segment')?.message).toMatch(/captured with only/);
    expect(r.stats.skippedFlows.truncatedSegment).toBe(1);
    expect(r.stats.bytesC2S).toBe(0);
  });

  it('ends the least recently active flow when the flow table is full, and idle flows after the timeout', async () => {
    const pkts: Rec[] = [];
    for (let i = 0; i < 5; i++) {
      const conv = new Conversation('10.0.0.1', '10.0.0.2', 5000 + i, 2380, 1, 1);
      for (const p of [conv.syn(), conv.synAck(), conv.established(), conv.send('c2s', Buffer.from(`c${i}`))]) pkts.push({ t: T0 + pkts.length, data: frame('raw', ipPacket(p)) });
    }
    const r = await run(writePcap({ linkType: 101 }, pkts), { maxFlows: 3 });
    expect(r.stats.flowsEnded.tableFull).toBe(2);
    expect(r.notices.filter((n) => n.kind === 'table-full')).toHaveLength(2);
    expect(r.conns.map((c) => r.joined(c, 'c2s').toString())).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(r.conns.every((c) => c.ended !== undefined)).toBe(true);

    const conv = new Conversation('10.0.0.1', '10.0.0.2', 6000, 2380, 1, 1);
    const other = new Conversation('10.0.0.1', '10.0.0.2', 6001, 2380, 1, 1);
    const idle: Rec[] = [conv.syn(), conv.synAck(), conv.established()].map((p, i) => ({ t: T0 + i, data: frame('raw', ipPacket(p)) }));
    idle.push({ t: T0 + 10_000, data: frame('raw', ipPacket(other.syn())) });
    const r2 = await run(writePcap({ linkType: 101 }, idle), { idleTimeoutMs: 5000 });
    expect(r2.stats.flowsEnded.idle).toBe(1);
    expect(r2.conns[0]!.ended).toBe(T0 + 2);
  });

  it('detaches a reader that throws and keeps reading the other flows', async () => {
    const a = new Conversation('10.0.0.1', '10.0.0.2', 4013, 2380, 1, 1);
    const b = new Conversation('10.0.0.1', '10.0.0.2', 4014, 2380, 1, 1);
    const x = randomBytes(300);
    const path = join(dir, 'throws.pcap');
    writeFileSync(path, writePcap({ linkType: 1 }, recs('ethernet', [...simpleConnection(a, x, x), ...simpleConnection(b, x, x)])));
    const col = collector();
    const notices: PcapNotice[] = [];
    const stats = await readPcap(path, {
      onNotice: (n) => notices.push(n),
      tapFactory: (info) => (info.remotePort === 4013 ? { data: () => { throw new Error('reader bug'); }, end: () => {} } : col.factory(info)),
    });
    expect(stats.tapErrors).toBe(1);
    expect(notices.find((n) => n.kind === 'tap-error')?.message).toMatch(/4013.*reader bug/);
    expect(col.joined(col.conns[0]!, 'c2s').equals(x)).toBe(true);
  });
});

describe('file formats', () => {
  const conv = () => new Conversation('10.0.0.1', '10.0.0.2', 4100, 2380, 1, 1);
  const c = randomBytes(2000);
  const s = randomBytes(1500);

  it('nanosecond pcap keeps sub-millisecond timestamps', async () => {
    const pkts = simpleConnection(conv(), c, s);
    const rs = recs('ethernet', pkts).map((x, i) => ({ ...x, t: T0 + i * 0.000123 + 0.5 }));
    const r = await run(writePcap({ linkType: 1, nanos: true }, rs));
    expect(r.stats.format).toBe('pcap');
    expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
    expect(r.conns[0]!.times[0]).toBeCloseTo(T0 + 3 * 0.000123 + 0.5, 6);
    expect(r.stats.firstTimestamp).toBeCloseTo(T0 + 0.5, 6);
  });

  it('big-endian pcap (micro- and nanosecond) reads the same', async () => {
    for (const nanos of [false, true]) {
      const r = await run(writePcap({ linkType: 1, bigEndian: true, nanos }, recs('ethernet', simpleConnection(conv(), c, s))));
      expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
      expect(r.joined(r.conns[0]!, 's2c').equals(s)).toBe(true);
      expect(r.conns[0]!.info.startedAt).toBe(T0);
    }
  });

  it('pcapng: sections of both byte orders, interfaces with their own link type and if_tsresol, EPB and SPB, other blocks skipped', async () => {
    const w = new PcapngWriter();
    const pkts = simpleConnection(conv(), c, s);
    const half = Math.floor(pkts.length / 2);
    // section 1, little-endian: interface 0 Ethernet in ns, interface 1 raw IP in 2^-10 s
    w.section(true).iface(1, 9).iface(101, 0x80 | 10);
    w.other(4, Buffer.alloc(4)); // name resolution block (empty list)
    pkts.slice(0, half).forEach((p, i) => {
      if (i % 2 === 0) w.epb(0, BigInt(T0 + i) * 1_000_000n, frame('ethernet', ipPacket(p)));
      else w.epb(1, (BigInt(T0 + i) * 1024n) / 1000n, frame('raw', ipPacket(p)));
    });
    // section 2, big-endian: one SLL2 interface, default microseconds, then simple packet blocks
    w.section(false).iface(276);
    pkts.slice(half).forEach((p, i) => {
      if (i === 0) w.epb(0, BigInt(T0 + half + i) * 1000n, frame('sll2', ipPacket(p)));
      else w.spb(frame('sll2', ipPacket(p)));
    });
    w.other(5, Buffer.alloc(12));
    const r = await run(w.bytes());
    expect(r.notices).toEqual([]);
    expect(r.stats.format).toBe('pcapng');
    expect(r.stats.linkTypes.sort((a, b) => a - b)).toEqual([1, 101, 276]);
    expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
    expect(r.joined(r.conns[0]!, 's2c').equals(s)).toBe(true);
    expect(r.conns[0]!.info.startedAt).toBe(T0);
    // interface 1 ticks at 2^-10 s: packet 1 lands within a millisecond of its true time
    expect(Math.abs(r.stats.lastTimestamp! - (T0 + half))).toBeLessThan(1);
  });

  it('reads the same whatever the read chunk size (records split across chunks)', async () => {
    const bytes = writePcap({ linkType: 1 }, recs('ethernet', simpleConnection(conv(), c, s, 333)));
    for (const size of [1, 7, 64, 4096]) {
      const r = await run(bytes, { readChunkBytes: size });
      expect(r.joined(r.conns[0]!, 'c2s').equals(c)).toBe(true);
      expect(r.joined(r.conns[0]!, 's2c').equals(s)).toBe(true);
    }
  });
});

describe('bad input', () => {
  const good = () => writePcap({ linkType: 1 }, recs('ethernet', simpleConnection(new Conversation('10.0.0.1', '10.0.0.2', 4200, 2380, 1, 1), randomBytes(500), randomBytes(500))));

  async function failure(bytes: Buffer): Promise<PcapFormatError> {
    const path = join(dir, `bad${++fileNo}.pcap`);
    writeFileSync(path, bytes);
    const err = await readPcap(path, { tapFactory: () => undefined }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PcapFormatError);
    const e = err as PcapFormatError;
    expect(e.message).toContain(path);
    return e;
  }

  it('bad magic names the file, offset 0 and the magics expected', async () => {
    const e = await failure(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(e.offset).toBe(0);
    expect(e.message).toMatch(/bad magic 0x47455420.*a1b2c3d4/);
  });

  it('empty file and a cut-off file header are errors', async () => {
    expect((await failure(Buffer.alloc(0))).message).toMatch(/empty file/);
    expect((await failure(good().subarray(0, 10))).message).toMatch(/inside the file header/);
    const ng = new PcapngWriter().section().iface(1).bytes();
    expect((await failure(ng.subarray(0, 20))).message).toMatch(/Section Header Block/);
  });

  it('a cut-off last record is a notice; everything before it is delivered and the flow ended', async () => {
    const bytes = good();
    const r = await run(bytes.subarray(0, bytes.length - 30));
    expect(r.stats.truncatedRecords).toBe(1);
    const n = r.notices.find((x) => x.kind === 'truncated-record')!;
    expect(n.message).toMatch(/last record at byte offset \d+ is cut off/);
    expect(n.offset).toBeGreaterThan(24);
    expect(r.conns[0]!.ended).toBeDefined();
    expect(r.stats.bytesS2C).toBe(500);
  });

  it('a pcap record with an impossible length is an error at its offset', async () => {
    const bytes = Buffer.from(good());
    bytes.writeUInt32LE(0x7fffffff, 24 + 8);
    const e = await failure(bytes);
    expect(e.offset).toBe(32);
    expect(e.message).toMatch(/captured length 2147483647 exceeds/);
  });

  it('pcapng blocks with a bad length or a mismatched trailer are errors at their offset', async () => {
    const w = new PcapngWriter().section().iface(1);
    const p = ipPacket(new Conversation('10.0.0.1', '10.0.0.2', 1, 2, 1, 1).syn());
    w.epb(0, 1n, frame('ethernet', p));
    const bytes = w.bytes();
    const epbAt = bytes.length - (32 + frame('ethernet', p).length + ((4 - (frame('ethernet', p).length % 4)) % 4));
    const odd = Buffer.from(bytes);
    odd.writeUInt32LE(odd.readUInt32LE(epbAt + 4) + 2, epbAt + 4);
    const e1 = await failure(odd);
    expect(e1.offset).toBe(epbAt + 4);
    expect(e1.message).toMatch(/total length \d+: expected a multiple of 4/);
    const bad = Buffer.from(bytes);
    bad.writeUInt32LE(0xdead0, bytes.length - 4);
    const e2 = await failure(bad);
    expect(e2.offset).toBe(bytes.length - 4);
    expect(e2.message).toMatch(/trailing length/);
  });

  it('unsupported link types and malformed packets are counted and noted once, not thrown', async () => {
    const p = ipPacket(new Conversation('10.0.0.1', '10.0.0.2', 1, 2, 1, 1).syn());
    const r1 = await run(writePcap({ linkType: 147 }, [{ t: T0, data: p }, { t: T0, data: p }]));
    expect(r1.stats.skippedPackets.unsupportedLink).toBe(2);
    expect(r1.notices.filter((n) => n.kind === 'unsupported-link')).toHaveLength(1);
    const r2 = await run(writePcap({ linkType: 1 }, [{ t: T0, data: Buffer.alloc(5) }, { t: T0, data: frame('ethernet', p).subarray(0, 30) }]));
    expect(r2.stats.skippedPackets.malformed).toBe(2);
    expect(r2.notices.find((n) => n.kind === 'malformed')!.message).toMatch(/offset 24: Ethernet frame shorter/);
  });
});

describe('robustness', () => {
  /** xorshift32: a seeded generator, so a failing case can be replayed. */
  function rng(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 4294967296;
    };
  }

  it('decodeFrame never throws on random frames of any supported link type', async () => {
    const { decodeFrame, TcpSegment } = await import('../../../proxy/pcap/decode.js');
    const rand = rng(12345);
    const seg = new TcpSegment();
    const base = frame('ethernet', ipPacket(new Conversation('10.0.0.1', '10.0.0.2', 1, 2, 1, 1).send('c2s', randomBytes(40))));
    for (const lt of Object.values(LINKTYPE)) {
      for (let i = 0; i < 2000; i++) {
        const len = Math.floor(rand() * 120);
        const f = Buffer.alloc(len);
        for (let k = 0; k < len; k++) f[k] = rand() < 0.5 ? base[k] ?? 0 : Math.floor(rand() * 256);
        if (rand() < 0.3 && len > 14) f[14] = 0x40 | Math.floor(rand() * 16); // IPv4 with a random header length
        expect(() => decodeFrame(lt, f, seg)).not.toThrow();
      }
    }
  });

  it('mutated and cut files either read or fail with PcapFormatError, never anything else', async () => {
    const conv = new Conversation('10.0.0.1', '10.0.0.2', 4300, 2380, 1, 1);
    const pkts = simpleConnection(conv, randomBytes(3000), randomBytes(3000), 500);
    const pcap = writePcap({ linkType: 1 }, recs('ethernet', pkts));
    const ng = new PcapngWriter().section().iface(1, 9);
    pkts.forEach((p, i) => ng.epb(0, BigInt(T0 + i) * 1_000_000n, frame('ethernet', ipPacket(p))));
    const rand = rng(777);
    let failed = 0;
    for (const good of [pcap, ng.bytes()]) {
      for (let i = 0; i < 150; i++) {
        const b = Buffer.from(good);
        const flips = 1 + Math.floor(rand() * 8);
        for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
        const cut = rand() < 0.3 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
        const path = join(dir, `fuzz${i}.bin`);
        writeFileSync(path, cut);
        const col = collector();
        try {
          await readPcap(path, { tapFactory: col.factory, readChunkBytes: 1 + Math.floor(rand() * 5000) });
        } catch (e) {
          failed++;
          expect(e, `case ${i}`).toBeInstanceOf(PcapFormatError);
        }
        // readers are always closed, also when the file is broken
        expect(col.conns.every((c) => c.ended !== undefined && c.afterEnd === 0)).toBe(true);
      }
    }
    expect(failed).toBeGreaterThan(0); // the mutations did hit the structure sometimes
  });
});
