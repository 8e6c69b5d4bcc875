// Test helpers: a tiny packet builder and pcap / pcapng writers (written for these tests from the
// format specs), a classic-pcap record reader (independent of the code under test, used to turn a
// real tcpdump capture into pcapng), and a Tap that collects what it is fed.

import { createHash } from 'node:crypto';
import type { ConnectionInfo, Direction, Tap } from '../../../proxy/tap.js';

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Packets

export interface TcpPacket {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  /** Any of "S", "A", "F", "R", "P". */
  flags: string;
  payload?: Buffer;
}

function flagBits(f: string): number {
  let b = 0;
  if (f.includes('F')) b |= 0x01;
  if (f.includes('S')) b |= 0x02;
  if (f.includes('R')) b |= 0x04;
  if (f.includes('P')) b |= 0x08;
  if (f.includes('A')) b |= 0x10;
  return b;
}

function tcpHeader(p: TcpPacket, withOptions: boolean): Buffer {
  const hl = withOptions ? 32 : 20;
  const h = Buffer.alloc(hl);
  h.writeUInt16BE(p.sport, 0);
  h.writeUInt16BE(p.dport, 2);
  h.writeUInt32BE(p.seq >>> 0, 4);
  h.writeUInt32BE((p.ack ?? 0) >>> 0, 8);
  h[12] = (hl / 4) << 4;
  h[13] = flagBits(p.flags);
  h.writeUInt16BE(65535, 14);
  if (withOptions) {
    // NOP NOP timestamp(10): as Linux sends on every segment
    h[20] = 1;
    h[21] = 1;
    h[22] = 8;
    h[23] = 10;
  }
  return h;
}

function ipv4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

function ipv6Bytes(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const hg = head ? head.split(':').filter((x) => x !== '') : [];
  const tg = tail ? tail.split(':').filter((x) => x !== '') : [];
  const groups = [...hg, ...Array(8 - hg.length - tg.length).fill('0'), ...tg].map((g) => parseInt(g, 16));
  const out: number[] = [];
  for (const g of groups) out.push(g >> 8, g & 0xff);
  return out;
}

export interface IpOptions {
  /** IPv4 options bytes (multiple of 4). */
  ipv4Options?: Buffer;
  /** IPv4 fragment: set MF or an offset. */
  fragment?: { more: boolean; offset8: number };
  /** IPv6 extension headers to put before TCP, in order: next-header numbers 0, 43, 60, 44 (atomic). */
  ipv6Ext?: number[];
  tcpOptions?: boolean;
}

/** An IPv4 or IPv6 packet (chosen by the address form) carrying the TCP segment. */
export function ipPacket(p: TcpPacket, o: IpOptions = {}): Buffer {
  const payload = p.payload ?? Buffer.alloc(0);
  const tcp = Buffer.concat([tcpHeader(p, o.tcpOptions ?? true), payload]);
  if (p.src.includes(':')) {
    const exts: Buffer[] = [];
    const chain = o.ipv6Ext ?? [];
    for (let i = 0; i < chain.length; i++) {
      const next = i + 1 < chain.length ? chain[i + 1]! : 6;
      const e = Buffer.alloc(8);
      e[0] = next;
      e[1] = 0; // (0+1)*8 = 8 bytes; for the fragment header the field is reserved
      if (chain[i] === 60 || chain[i] === 0) {
        e[2] = 1; // PadN option filling the rest
        e[3] = 4;
      }
      exts.push(e);
    }
    const body = Buffer.concat([...exts, tcp]);
    const h = Buffer.alloc(40);
    h[0] = 0x60;
    h.writeUInt16BE(body.length, 4);
    h[6] = chain.length ? chain[0]! : 6;
    h[7] = 64;
    Buffer.from(ipv6Bytes(p.src)).copy(h, 8);
    Buffer.from(ipv6Bytes(p.dst)).copy(h, 24);
    return Buffer.concat([h, body]);
  }
  const opts = o.ipv4Options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | ((20 + opts.length) / 4);
  h.writeUInt16BE(h.length + tcp.length, 2);
  if (o.fragment) h.writeUInt16BE((o.fragment.more ? 0x2000 : 0) | o.fragment.offset8, 6);
  else h.writeUInt16BE(0x4000, 6); // DF
  h[8] = 64;
  h[9] = 6;
  Buffer.from(ipv4Bytes(p.src)).copy(h, 12);
  Buffer.from(ipv4Bytes(p.dst)).copy(h, 16);
  opts.copy(h, 20);
  return Buffer.concat([h, tcp]);
}

export type Link = 'ethernet' | 'null' | 'loop' | 'sll' | 'sll2' | 'raw' | 'ipv4' | 'ipv6';
export const LINKTYPE: Record<Link, number> = { ethernet: 1, null: 0, loop: 108, sll: 113, sll2: 276, raw: 101, ipv4: 228, ipv6: 229 };

/** Wraps an IP packet in a link-layer header; `vlans` adds 802.1Q tags (Ethernet only). */
export function frame(link: Link, ip: Buffer, vlans: number[] = [], padTo = 0): Buffer {
  const v6 = ip[0]! >> 4 === 6;
  const ethertype = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case 'ethernet': {
      const h = Buffer.alloc(14 + vlans.length * 4);
      h.fill(0x02, 0, 12);
      let at = 12;
      for (const v of vlans) {
        h.writeUInt16BE(0x8100, at);
        h.writeUInt16BE(v, at + 2);
        at += 4;
      }
      h.writeUInt16BE(ethertype, at);
      const f = Buffer.concat([h, ip]);
      // Ethernet pads short frames: the IP total length, not the frame, bounds the payload.
      return padTo > f.length ? Buffer.concat([f, Buffer.alloc(padTo - f.length, 0xee)]) : f;
    }
    case 'null': {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(v6 ? 30 : 2, 0);
      return Buffer.concat([h, ip]);
    }
    case 'loop': {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(v6 ? 24 : 2, 0);
      return Buffer.concat([h, ip]);
    }
    case 'sll': {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0);
      h.writeUInt16BE(772, 2);
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(ethertype, 14);
      return Buffer.concat([h, ip]);
    }
    case 'sll2': {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(ethertype, 0);
      h.writeUInt32BE(1, 4);
      h.writeUInt16BE(772, 8);
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
    default:
      return ip;
  }
}

// ---------------------------------------------------------------------------------------------
// Files

export interface Rec {
  /** ms since epoch, fractional ok */
  t: number;
  data: Buffer;
  origLen?: number;
}

export interface PcapWriteOptions {
  linkType: number;
  nanos?: boolean;
  bigEndian?: boolean;
  snapLen?: number;
}

export function pcapHeader(o: PcapWriteOptions): Buffer {
  const h = Buffer.alloc(24);
  const w32 = (v: number, at: number): number => (o.bigEndian ? h.writeUInt32BE(v >>> 0, at) : h.writeUInt32LE(v >>> 0, at));
  const w16 = (v: number, at: number): number => (o.bigEndian ? h.writeUInt16BE(v, at) : h.writeUInt16LE(v, at));
  w32(o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(2, 4);
  w16(4, 6);
  w32(o.snapLen ?? 262144, 16);
  w32(o.linkType, 20);
  return h;
}

export function pcapRecord(o: PcapWriteOptions, r: Rec): Buffer {
  const h = Buffer.alloc(16);
  const w32 = (v: number, at: number): number => (o.bigEndian ? h.writeUInt32BE(v >>> 0, at) : h.writeUInt32LE(v >>> 0, at));
  const sec = Math.floor(r.t / 1000);
  const fracMs = r.t - sec * 1000;
  w32(sec, 0);
  w32(o.nanos ? Math.round(fracMs * 1e6) : Math.round(fracMs * 1e3), 4);
  w32(r.data.length, 8);
  w32(r.origLen ?? r.data.length, 12);
  return Buffer.concat([h, r.data]);
}

export function writePcap(o: PcapWriteOptions, recs: Rec[]): Buffer {
  return Buffer.concat([pcapHeader(o), ...recs.map((r) => pcapRecord(o, r))]);
}

/** A pcapng writer: blocks are added in file order; `le` picks the section's byte order. */
export class PcapngWriter {
  private readonly parts: Buffer[] = [];
  private le = true;

  private block(type: number, body: Buffer): void {
    const len = 12 + body.length + ((4 - (body.length % 4)) % 4);
    const b = Buffer.alloc(len);
    this.w32(b, type, 0);
    this.w32(b, len, 4);
    body.copy(b, 8);
    this.w32(b, len, len - 4);
    this.parts.push(b);
  }

  private w32(b: Buffer, v: number, at: number): void {
    if (this.le) b.writeUInt32LE(v >>> 0, at);
    else b.writeUInt32BE(v >>> 0, at);
  }

  private w16(b: Buffer, v: number, at: number): void {
    if (this.le) b.writeUInt16LE(v, at);
    else b.writeUInt16BE(v, at);
  }

  section(littleEndian = true): this {
    this.le = littleEndian;
    const body = Buffer.alloc(16);
    this.w32(body, 0x1a2b3c4d, 0);
    this.w16(body, 1, 4);
    this.w16(body, 0, 6);
    body.fill(0xff, 8, 16); // section length unknown
    this.block(0x0a0d0d0a, body);
    return this;
  }

  /** tsresol: the if_tsresol byte (6 = µs, 9 = ns, 0x80|n = 2^-n); undefined omits the option. */
  iface(linkType: number, tsresol?: number, snapLen = 262144): this {
    const opts: Buffer[] = [];
    if (tsresol !== undefined) {
      const o = Buffer.alloc(8);
      this.w16(o, 9, 0);
      this.w16(o, 1, 2);
      o[4] = tsresol;
      opts.push(o);
      // a comment option before the end, to show unknown options are stepped over
      const c = Buffer.alloc(12);
      this.w16(c, 1, 0);
      this.w16(c, 5, 2);
      c.write('hello', 4);
      opts.push(c);
    }
    const body = Buffer.alloc(8);
    this.w16(body, linkType, 0);
    this.w32(body, snapLen, 4);
    this.block(1, Buffer.concat([body, ...opts, Buffer.alloc(4)]));
    return this;
  }

  /** Enhanced Packet Block; `ticks` is the timestamp in the interface's units. */
  epb(ifId: number, ticks: bigint, data: Buffer, origLen = data.length): this {
    const body = Buffer.alloc(20);
    this.w32(body, ifId, 0);
    this.w32(body, Number(ticks >> 32n), 4);
    this.w32(body, Number(ticks & 0xffffffffn), 8);
    this.w32(body, data.length, 12);
    this.w32(body, origLen, 16);
    this.block(6, Buffer.concat([body, data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
    return this;
  }

  spb(data: Buffer): this {
    const body = Buffer.alloc(4);
    this.w32(body, data.length, 0);
    this.block(3, Buffer.concat([body, data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
    return this;
  }

  /** Any other block (skipped by readers), e.g. Name Resolution (4) or Interface Statistics (5). */
  other(type: number, body: Buffer): this {
    this.block(type, body);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads classic pcap records (independent of the code under test). */
export function readPcapRecords(file: Buffer): { linkType: number; nanos: boolean; recs: Array<{ sec: number; frac: number; data: Buffer; origLen: number }> } {
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const r32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const recs: Array<{ sec: number; frac: number; data: Buffer; origLen: number }> = [];
  let at = 24;
  while (at + 16 <= file.length) {
    const cap = r32(at + 8);
    if (at + 16 + cap > file.length) break;
    recs.push({ sec: r32(at), frac: r32(at + 4), data: file.subarray(at + 16, at + 16 + cap), origLen: r32(at + 12) });
    at += 16 + cap;
  }
  return { linkType: r32(20) & 0xffff, nanos, recs };
}

// ---------------------------------------------------------------------------------------------
// A Tap that collects what it is fed

export interface Collected {
  info: ConnectionInfo;
  c2s: Buffer[];
  s2c: Buffer[];
  times: number[];
  ended: number | undefined;
  afterEnd: number;
}

export function collector(): { conns: Collected[]; factory: (info: ConnectionInfo) => Tap; joined: (c: Collected, d: Direction) => Buffer } {
  const conns: Collected[] = [];
  return {
    conns,
    factory: (info) => {
      const c: Collected = { info, c2s: [], s2c: [], times: [], ended: undefined, afterEnd: 0 };
      conns.push(c);
      return {
        data(dir, chunk, t) {
          if (c.ended !== undefined) c.afterEnd++;
          c[dir].push(Buffer.from(chunk)); // copy: the chunk is only valid during the call
          c.times.push(t);
        },
        end(t) {
          if (c.ended !== undefined) c.afterEnd++;
          c.ended = t;
        },
      };
    },
    joined: (c, d) => Buffer.concat(c[d]),
  };
}

/** A scripted TCP conversation: builds the packets of one connection, keeping sequence numbers. */
export class Conversation {
  cseq: number;
  sseq: number;
  constructor(
    readonly client: string,
    readonly server: string,
    readonly cport: number,
    readonly sport: number,
    cisn: number,
    sisn: number,
  ) {
    this.cseq = cisn >>> 0;
    this.sseq = sisn >>> 0;
  }

  syn(): TcpPacket {
    return { src: this.client, dst: this.server, sport: this.cport, dport: this.sport, seq: this.cseq, flags: 'S' };
  }
  synAck(): TcpPacket {
    return { src: this.server, dst: this.client, sport: this.sport, dport: this.cport, seq: this.sseq, ack: (this.cseq + 1) >>> 0, flags: 'SA' };
  }
  /** After the handshake: both sequence numbers move past the SYNs. */
  established(): TcpPacket {
    this.cseq = (this.cseq + 1) >>> 0;
    this.sseq = (this.sseq + 1) >>> 0;
    return { src: this.client, dst: this.server, sport: this.cport, dport: this.sport, seq: this.cseq, ack: this.sseq, flags: 'A' };
  }
  /** A data segment at an explicit offset from the current position (does not advance). */
  at(dir: 'c2s' | 's2c', rel: number, payload: Buffer, flags = 'PA'): TcpPacket {
    return dir === 'c2s'
      ? { src: this.client, dst: this.server, sport: this.cport, dport: this.sport, seq: (this.cseq + rel) >>> 0, ack: this.sseq, flags, payload }
      : { src: this.server, dst: this.client, sport: this.sport, dport: this.cport, seq: (this.sseq + rel) >>> 0, ack: this.cseq, flags, payload };
  }
  /** The next in-order data segment; advances. */
  send(dir: 'c2s' | 's2c', payload: Buffer, flags = 'PA'): TcpPacket {
    const p = this.at(dir, 0, payload, flags);
    if (dir === 'c2s') this.cseq = (this.cseq + payload.length) >>> 0;
    else this.sseq = (this.sseq + payload.length) >>> 0;
    return p;
  }
  fin(dir: 'c2s' | 's2c'): TcpPacket {
    const p = this.at(dir, 0, Buffer.alloc(0), 'FA');
    if (dir === 'c2s') this.cseq = (this.cseq + 1) >>> 0;
    else this.sseq = (this.sseq + 1) >>> 0;
    return p;
  }
  ackOf(dir: 'c2s' | 's2c'): TcpPacket {
    // a pure ACK sent by the receiver of `dir`
    return dir === 'c2s'
      ? { src: this.server, dst: this.client, sport: this.sport, dport: this.cport, seq: this.sseq, ack: this.cseq, flags: 'A' }
      : { src: this.client, dst: this.server, sport: this.cport, dport: this.sport, seq: this.cseq, ack: this.sseq, flags: 'A' };
  }
}
