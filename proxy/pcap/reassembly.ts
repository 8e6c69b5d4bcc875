// TCP reassembly per flow (4-tuple), both directions, feeding a Tap exactly as the live relay does:
// bytes in order per direction, each byte once, then end().
//
// Sequence numbers are turned into stream offsets (a plain number that keeps growing past 2^32), so
// wraparound is handled once, at the entry, and everything after compares ordinary numbers. The
// side that sent the SYN is the client. A flow whose start was not captured is skipped, not guessed:
// the application decoders cannot start mid-stream. Out-of-order data waits in a sorted list of
// non-overlapping copies (the first copy of a byte wins); in-order data goes straight to the reader
// without a copy. Memory is bounded by maxFlows, maxOutOfOrderBytes per flow and maxBufferedBytes.

import type { ConnectionInfo, Direction, Tap, TapFactory } from '../tap.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from './decode.js';
import type { EndReason, NoticeKind, PcapNotice, PcapStats, SkipReason } from './types.js';

export interface ReassemblyOptions {
  tapFactory: TapFactory;
  memberOf?: (serverIp: string, serverPort: number) => string | undefined;
  maxOutOfOrderBytes: number;
  maxBufferedBytes: number;
  maxFlows: number;
  idleTimeoutMs: number;
  gapTimeoutMs: number;
}

/** Book-keeping cost charged per buffered piece, so many tiny pieces count against the limit too. */
const PIECE_OVERHEAD = 64;

interface Piece {
  off: number;
  data: Buffer;
}

/** A segment of a server whose first sequence number is not known yet (its SYN-ACK was not captured). */
interface Held {
  seq: number;
  data: Buffer;
  claimed: number;
  fin: boolean;
}

class Side {
  started = false;
  /** Sequence number of stream byte 0. */
  isn = 0;
  /** Sequence number of the next byte to deliver (isn + delivered, mod 2^32). */
  nextSeq = 0;
  delivered = 0;
  pending: Piece[] = [];
  pendingBytes = 0;
  held: Held[] = [];
  /** Stream offset the FIN occupies, -1 until seen. */
  finOff = -1;
  finDone = false;
  /** Capture time when the peer acknowledged bytes up to gapUntil that the capture lacks; -1 when none. */
  gapSince = -1;
  gapUntil = 0;

  start(firstSeq: number): void {
    this.started = true;
    this.isn = firstSeq >>> 0;
    this.nextSeq = this.isn;
  }
}

class Flow {
  tap: Tap | undefined;
  tapMade = false;
  closed = false;
  /** Latest time handed to the reader: times given to it never go backwards. */
  lastT = 0;
  readonly c2s = new Side();
  readonly s2c = new Side();
  constructor(
    readonly key: string,
    readonly clientEndpoint: number | string,
    readonly info: ConnectionInfo,
    public lastSeen: number,
  ) {}
}

type Endpoint = number | string;

let flowSeq = 0;

export class TcpReassembler {
  private readonly open = new Map<string, Flow>();
  /** Flows that ended or were skipped, so their stray packets are ignored quietly. Value: last seen. */
  private readonly gone = new Map<string, number>();
  private bufferedTotal = 0;
  private now = 0;
  private nextSweep = 0;
  private readonly sweepEveryMs: number;

  constructor(
    private readonly opts: ReassemblyOptions,
    private readonly stats: PcapStats,
    private readonly notice: (n: PcapNotice) => void,
  ) {
    this.sweepEveryMs = Math.max(50, Math.min(1000, opts.idleTimeoutMs / 4, opts.gapTimeoutMs / 2));
  }

  get openFlows(): number {
    return this.open.size;
  }

  /** One decoded TCP segment; `frame` holds its bytes at the offsets in `seg`. */
  segment(seg: TcpSegment, frame: Buffer, t: number): void {
    if (t > this.now) this.now = t;
    if (this.now >= this.nextSweep) this.sweep(this.now);
    const src = endpoint(frame, seg.srcAddrAt, seg.ipVersion, seg.srcPort);
    const dst = endpoint(frame, seg.dstAddrAt, seg.ipVersion, seg.dstPort);
    const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
    const flags = seg.flags;
    const syn = (flags & TCP_SYN) !== 0 && (flags & TCP_RST) === 0;
    let flow = this.open.get(key);

    if (flow === undefined) {
      if (!syn) {
        const seen = this.gone.get(key);
        if (seen !== undefined) {
          this.gone.set(key, t);
          this.stats.skippedPackets.untrackedFlow++;
        } else {
          this.skipStartNotSeen(key, seg, frame, t);
        }
        return;
      }
      flow = this.startFlow(key, seg, frame, t, src, dst);
    } else if (syn) {
      const fromClient = src === flow.clientEndpoint;
      if (fromClient && (flags & TCP_ACK) === 0) {
        if (((seg.seq + 1) >>> 0) === flow.c2s.isn) {
          this.stats.synRetransmits++;
          flow.lastSeen = t;
          return;
        }
        // A new connection on the same 4-tuple: the old one ended without a FIN or RST we saw.
        this.endFlow(flow, t, 'replaced', `flow ${flow.info.id}: a new SYN with another initial sequence number reuses its addresses; the old flow is ended`);
        flow = this.startFlow(key, seg, frame, t, src, dst);
      } else if (!fromClient && (flags & TCP_ACK) !== 0) {
        if (!flow.s2c.started) {
          this.startServer(flow, (seg.seq + 1) >>> 0, t);
          if (flow.closed) return;
        } else if (((seg.seq + 1) >>> 0) === flow.s2c.isn) {
          this.stats.synRetransmits++;
        }
      }
    }

    flow.lastSeen = t;
    const dir: Direction = src === flow.clientEndpoint ? 'c2s' : 's2c';
    const snd = dir === 'c2s' ? flow.c2s : flow.s2c;
    const rcv = dir === 'c2s' ? flow.s2c : flow.c2s;

    if ((flags & TCP_ACK) !== 0) {
      this.onAck(flow, rcv, seg.ack, t);
      if (flow.closed) return;
    }
    if ((flags & TCP_RST) !== 0) {
      this.endFlow(flow, t, 'rst');
      return;
    }
    const fin = (flags & TCP_FIN) !== 0;
    const captured = seg.payloadEnd - seg.payloadAt;
    if (captured > 0 || seg.claimedLen > 0 || fin) {
      const dataSeq = syn ? (seg.seq + 1) >>> 0 : seg.seq;
      if (!snd.started) {
        this.hold(flow, snd, dataSeq, frame.subarray(seg.payloadAt, seg.payloadEnd), seg.claimedLen, fin);
      } else {
        this.accept(flow, snd, dir, dataSeq, frame, seg.payloadAt, seg.payloadEnd, seg.claimedLen, fin, t);
      }
      if (flow.closed) return;
    } else if (!syn && snd.started && ((seg.seq + 1) >>> 0) === snd.nextSeq) {
      this.stats.keepAlives++; // an empty keep-alive: one below the next sequence number
    }
    this.checkGap(flow, t);
    if (!flow.closed && flow.c2s.finDone && flow.s2c.finDone) this.endFlow(flow, t, 'fin');
  }

  /** End of capture: every open flow ends at the last timestamp. */
  finish(t: number): void {
    for (const flow of [...this.open.values()]) this.endFlow(flow, t, 'endOfFile');
  }

  private startFlow(key: string, seg: TcpSegment, frame: Buffer, t: number, src: Endpoint, dst: Endpoint): Flow {
    if (this.open.size >= this.opts.maxFlows) this.evictOldest(t);
    const synAck = (seg.flags & TCP_ACK) !== 0;
    // SYN: the sender is the client. SYN-ACK without the SYN: the sender is the server, and its
    // acknowledgment number names the client's first byte exactly, so the start is still known.
    const clientAt = synAck ? seg.dstAddrAt : seg.srcAddrAt;
    const serverAt = synAck ? seg.srcAddrAt : seg.dstAddrAt;
    const clientPort = synAck ? seg.dstPort : seg.srcPort;
    const serverPort = synAck ? seg.srcPort : seg.dstPort;
    const clientIp = formatIp(frame, clientAt, seg.ipVersion);
    const serverIp = formatIp(frame, serverAt, seg.ipVersion);
    const client = hostPort(clientIp, clientPort, seg.ipVersion);
    const server = hostPort(serverIp, serverPort, seg.ipVersion);
    const info: ConnectionInfo = {
      id: `pcap:${client}>${server}#${++flowSeq}`,
      member: this.opts.memberOf?.(serverIp, serverPort) ?? server,
      remoteAddress: clientIp,
      remotePort: clientPort,
      startedAt: t,
    };
    const flow = new Flow(key, synAck ? dst : src, info, t);
    this.gone.delete(key);
    this.open.set(key, flow);
    this.stats.flows++;
    if (synAck) {
      flow.c2s.start(seg.ack);
      this.startServer(flow, (seg.seq + 1) >>> 0, t);
    } else {
      flow.c2s.start((seg.seq + 1) >>> 0);
    }
    return flow;
  }

  /** The server's first sequence number is known: the connection is established (as the relay's accept). */
  private startServer(flow: Flow, firstSeq: number, t: number): void {
    const side = flow.s2c;
    side.start(firstSeq);
    this.ensureTap(flow);
    const held = side.held;
    if (held.length === 0) return;
    side.held = [];
    for (const h of held) this.release(side, h.data.length + PIECE_OVERHEAD);
    for (const h of held) {
      if (((h.seq - side.isn) | 0) < 0) {
        this.abandon(flow, t, 'startNotSeen', 'start-not-seen', `flow ${flow.info.id}: the server sent bytes before the first sequence number its peer acknowledged, so the start of its byte stream was not captured; the flow is skipped`);
        return;
      }
      this.accept(flow, side, 's2c', h.seq, h.data, 0, h.data.length, h.claimed, h.fin, t);
      if (flow.closed) return;
    }
  }

  private onAck(flow: Flow, rcv: Side, ack: number, t: number): void {
    if (!rcv.started) {
      // Only the server side can be unstarted: its SYN-ACK was not captured, and the client's first
      // acknowledgment names the server's first byte.
      if (rcv === flow.s2c) this.startServer(flow, ack, t);
      return;
    }
    const acked = rcv.delivered + ((ack - rcv.nextSeq) | 0);
    if (acked <= rcv.delivered) return;
    if (rcv.finOff === rcv.delivered && acked === rcv.delivered + 1) return; // only the FIN is acknowledged
    // The peer holds bytes the capture has not delivered: they were dropped by the capture, or are
    // about to show up slightly out of order. Wait gapTimeoutMs before calling them lost.
    if (rcv.gapSince < 0) rcv.gapSince = t;
    if (acked > rcv.gapUntil) rcv.gapUntil = acked;
  }

  private checkGap(flow: Flow, t: number): void {
    if (flow.c2s.gapSince >= 0) this.gapTimedOut(flow, flow.c2s, 'c2s', t);
    if (!flow.closed && flow.s2c.gapSince >= 0) this.gapTimedOut(flow, flow.s2c, 's2c', t);
  }

  private gapTimedOut(flow: Flow, side: Side, dir: Direction, t: number): void {
    if (t - side.gapSince < this.opts.gapTimeoutMs) return;
    this.abandon(
      flow,
      t,
      'missingBytes',
      'missing-bytes',
      `flow ${flow.info.id}: the capture lacks ${dir} bytes ${side.delivered}..${side.gapUntil} of the stream (the peer acknowledged them, so the capture dropped them); the rest of the flow cannot be decoded and is skipped`,
    );
  }

  private accept(flow: Flow, side: Side, dir: Direction, seq: number, buf: Buffer, at: number, end: number, claimed: number, fin: boolean, t: number): void {
    const len = end - at;
    let off = side.delivered + ((seq - side.nextSeq) | 0);
    if (fin && side.finOff < 0) side.finOff = off + Math.max(len, claimed);
    if (claimed > len && off + claimed > side.delivered) {
      this.abandon(flow, t, 'truncatedSegment', 'truncated-segment', `flow ${flow.info.id}: a ${dir} segment of ${claimed} bytes was captured with only ${len} (snapshot length too small); the rest of the flow cannot be decoded and is skipped`);
      return;
    }
    if (len > 0) {
      let from = at;
      if (off < side.delivered) {
        const cut = side.delivered - off;
        if (cut >= len) {
          if (len === 1 && off === side.delivered - 1) this.stats.keepAlives++;
          else {
            this.stats.retransmittedSegments++;
            this.stats.retransmittedBytes += len;
          }
          from = end;
        } else {
          this.stats.retransmittedSegments++;
          this.stats.retransmittedBytes += cut;
          from += cut;
          off = side.delivered;
        }
      }
      if (from < end) {
        if (side.pending.length === 0 && off === side.delivered) {
          this.deliver(flow, side, dir, buf.subarray(from, end), t);
        } else {
          if (off > side.delivered) this.stats.outOfOrderSegments++;
          this.insertUncovered(side, off, buf.subarray(from, end));
          this.drain(flow, side, dir, t);
          if (flow.closed) return;
          if (side.pendingBytes > this.opts.maxOutOfOrderBytes) {
            this.abandon(flow, t, 'outOfOrderLimit', 'out-of-order-limit', `flow ${flow.info.id}: more than ${this.opts.maxOutOfOrderBytes} ${dir} bytes wait behind a gap at stream offset ${side.delivered}; the flow is abandoned`);
            return;
          }
          if (this.bufferedTotal > this.opts.maxBufferedBytes) {
            this.abandon(flow, t, 'bufferLimit', 'buffer-limit', `flow ${flow.info.id}: out-of-order data over all flows passed ${this.opts.maxBufferedBytes} bytes; this flow, which crossed the limit, is abandoned`);
            return;
          }
        }
      }
    }
    if (flow.closed) return;
    if (side.finOff >= 0 && side.delivered >= side.finOff) side.finDone = true;
  }

  /** Buffers the parts of [off, off+data.length) that no buffered piece covers yet (first copy wins). */
  private insertUncovered(side: Side, off: number, data: Buffer): void {
    const pend = side.pending;
    const end = off + data.length;
    let lo = 0;
    let hi = pend.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = pend[mid]!;
      if (p.off + p.data.length <= off) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    let pos = off;
    let overlapped = 0;
    while (pos < end) {
      const p = pend[i];
      if (p !== undefined && p.off <= pos) {
        const pEnd = p.off + p.data.length;
        overlapped += Math.min(pEnd, end) - pos;
        pos = pEnd;
        i++;
        continue;
      }
      const pieceEnd = p === undefined ? end : Math.min(end, p.off);
      pend.splice(i, 0, { off: pos, data: Buffer.from(data.subarray(pos - off, pieceEnd - off)) });
      const cost = pieceEnd - pos + PIECE_OVERHEAD;
      side.pendingBytes += cost;
      this.bufferedTotal += cost;
      i++;
      pos = pieceEnd;
    }
    if (overlapped > 0) {
      this.stats.retransmittedSegments++;
      this.stats.retransmittedBytes += overlapped;
    }
  }

  private drain(flow: Flow, side: Side, dir: Direction, t: number): void {
    const pend = side.pending;
    let k = 0;
    while (k < pend.length && pend[k]!.off <= side.delivered) {
      const p = pend[k]!;
      k++;
      this.release(side, p.data.length + PIECE_OVERHEAD);
      const skip = side.delivered - p.off;
      if (skip < p.data.length) this.deliver(flow, side, dir, skip === 0 ? p.data : p.data.subarray(skip), t);
      if (flow.closed) return;
    }
    if (k > 0) pend.splice(0, k);
  }

  private hold(flow: Flow, side: Side, seq: number, data: Buffer, claimed: number, fin: boolean): void {
    const cost = data.length + PIECE_OVERHEAD;
    side.held.push({ seq, data: Buffer.from(data), claimed, fin });
    side.pendingBytes += cost;
    this.bufferedTotal += cost;
    if (side.pendingBytes > this.opts.maxOutOfOrderBytes) {
      this.abandon(flow, this.now, 'startNotSeen', 'start-not-seen', `flow ${flow.info.id}: the server's first sequence number never showed (no SYN-ACK, no acknowledgment from the client) while ${side.pendingBytes} bytes waited; the flow is skipped`);
    }
  }

  private release(side: Side, cost: number): void {
    side.pendingBytes -= cost;
    this.bufferedTotal -= cost;
  }

  private deliver(flow: Flow, side: Side, dir: Direction, chunk: Buffer, t: number): void {
    side.delivered += chunk.length;
    side.nextSeq = (side.nextSeq + chunk.length) >>> 0;
    if (dir === 'c2s') this.stats.bytesC2S += chunk.length;
    else this.stats.bytesS2C += chunk.length;
    if (side.gapSince >= 0 && side.delivered >= side.gapUntil) side.gapSince = -1;
    const tap = this.ensureTap(flow);
    if (tap === undefined) return;
    // Captures on "any" interleave CPUs slightly out of time order; a reader sees its
    // connection's time move forward only, as on a live relay.
    if (t > flow.lastT) flow.lastT = t;
    try {
      tap.data(dir, chunk, flow.lastT);
    } catch (err) {
      this.tapFailed(flow, err, t);
    }
  }

  private ensureTap(flow: Flow): Tap | undefined {
    if (!flow.tapMade) {
      flow.tapMade = true;
      try {
        flow.tap = this.opts.tapFactory(flow.info);
      } catch (err) {
        this.tapFailed(flow, err, flow.lastSeen);
      }
    }
    return flow.tap;
  }

  private tapFailed(flow: Flow, err: unknown, t: number): void {
    flow.tap = undefined;
    this.stats.tapErrors++;
    this.stats.errors++;
    const why = err instanceof Error ? err.message : String(err);
    this.abandon(flow, t, 'tapError', 'tap-error', `flow ${flow.info.id}: its reader threw (${why}); the flow is no longer read`);
  }

  private abandon(flow: Flow, t: number, reason: SkipReason, kind: NoticeKind, message: string): void {
    if (flow.closed) return;
    this.stats.skippedFlows[reason]++;
    this.stats.skippedFlows.total++;
    this.emit(kind, message, flow.info.id, t);
    this.close(flow, t);
  }

  private endFlow(flow: Flow, t: number, reason: EndReason, message?: string): void {
    if (flow.closed) return;
    this.stats.flowsEnded[reason]++;
    if (message !== undefined) this.emit(reason === 'tableFull' ? 'table-full' : reason === 'idle' ? 'idle' : 'replaced', message, flow.info.id, t);
    for (const [side, dir] of [
      [flow.c2s, 'c2s'],
      [flow.s2c, 's2c'],
    ] as const) {
      let lost = 0;
      for (const p of side.pending) lost += p.data.length;
      for (const h of side.held) lost += h.data.length;
      if (lost > 0 || side.gapSince >= 0) {
        this.stats.undeliveredBytes += lost;
        this.emit(
          'undelivered',
          `flow ${flow.info.id} ended (${reason}) with its ${dir} stream incomplete: bytes from offset ${side.delivered} on were not captured${lost > 0 ? `, so ${lost} bytes captured after them were never delivered` : ''}`,
          flow.info.id,
          t,
        );
      }
    }
    this.close(flow, t);
  }

  private close(flow: Flow, t: number): void {
    flow.closed = true;
    for (const side of [flow.c2s, flow.s2c]) {
      this.bufferedTotal -= side.pendingBytes;
      side.pendingBytes = 0;
      side.pending = [];
      side.held = [];
    }
    this.open.delete(flow.key);
    this.remember(flow.key, t);
    const tap = flow.tap;
    flow.tap = undefined;
    if (tap !== undefined) {
      try {
        tap.end(Math.max(t, flow.lastT));
      } catch (err) {
        this.stats.tapErrors++;
        this.stats.errors++;
        this.emit('tap-error', `flow ${flow.info.id}: its reader threw on end (${err instanceof Error ? err.message : String(err)})`, flow.info.id, t);
      }
    }
  }

  private remember(key: string, t: number): void {
    this.gone.delete(key);
    this.gone.set(key, t);
    if (this.gone.size > this.opts.maxFlows) {
      const oldest = this.gone.keys().next().value as string;
      this.gone.delete(oldest);
    }
  }

  private skipStartNotSeen(key: string, seg: TcpSegment, frame: Buffer, t: number): void {
    const name = `${hostPort(formatIp(frame, seg.srcAddrAt, seg.ipVersion), seg.srcPort, seg.ipVersion)}>${hostPort(formatIp(frame, seg.dstAddrAt, seg.ipVersion), seg.dstPort, seg.ipVersion)}`;
    this.stats.skippedFlows.startNotSeen++;
    this.stats.skippedFlows.total++;
    this.stats.skippedPackets.untrackedFlow++;
    this.emit('start-not-seen', `flow ${name}: its start (SYN) was not captured, so its byte stream cannot be decoded from the beginning; the flow is skipped`, name, t);
    this.remember(key, t);
  }

  private evictOldest(t: number): void {
    let oldest: Flow | undefined;
    for (const f of this.open.values()) if (oldest === undefined || f.lastSeen < oldest.lastSeen) oldest = f;
    if (oldest) this.endFlow(oldest, t, 'tableFull', `flow ${oldest.info.id}: ended to make room (more than ${this.opts.maxFlows} open flows); it was the least recently active`);
  }

  private sweep(now: number): void {
    this.nextSweep = now + this.sweepEveryMs;
    for (const flow of [...this.open.values()]) {
      if (now - flow.lastSeen > this.opts.idleTimeoutMs) {
        this.endFlow(flow, flow.lastSeen, 'idle', `flow ${flow.info.id}: no packet for ${this.opts.idleTimeoutMs} ms of capture time; ended`);
      } else {
        this.checkGap(flow, now);
      }
    }
    for (const [key, seen] of this.gone) if (now - seen > this.opts.idleTimeoutMs) this.gone.delete(key);
  }

  private emit(kind: NoticeKind, message: string, flow: string, t: number): void {
    this.notice({ kind, message, flow, t });
  }
}

/** IPv4: address and port packed into one exact number; IPv6: a short binary string. */
function endpoint(frame: Buffer, at: number, v: 4 | 6, port: number): Endpoint {
  if (v === 4) return frame.readUInt32BE(at) * 65536 + port;
  return frame.toString('latin1', at, at + 16) + String.fromCharCode(port >> 8, port & 0xff);
}

export function formatIp(frame: Buffer, at: number, v: 4 | 6): string {
  if (v === 4) return `${frame[at]}.${frame[at + 1]}.${frame[at + 2]}.${frame[at + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(frame.readUInt16BE(at + i * 2));
  // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on ties.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

function hostPort(ip: string, port: number, v: 4 | 6): string {
  return v === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}
