// Passive HTTP/2 + gRPC reader: a Tap that watches a copy of one relayed connection and reports the
// gRPC messages inside it. It never terminates or alters HTTP/2; it only keeps enough state to follow
// it: the frame boundaries per direction, the HPACK tables, and per open stream the request path,
// the message encodings and the partial gRPC message being reassembled.
//
// Incremental over any chunk boundaries. Carry-over is small: a 9-byte frame header, the frames whose
// content is needed (HEADERS/CONTINUATION/PUSH_PROMISE up to the header block limit, SETTINGS,
// RST_STREAM) only when they straddle chunks, and the bytes of gRPC messages being reassembled (each
// bounded by maxMessageBytes, all of a connection by maxBufferedBytes). DATA is never buffered as frames.
// Any protocol violation stops reading that connection with exactly one onError; nothing throws out.

import zlib from 'node:zlib';
import type { ConnectionInfo, Direction, Tap, TapFactory } from '../tap.js';
import { HpackDecoder, HpackError } from './hpack.js';

export interface GrpcMessage {
  /** ConnectionInfo.id of the relayed connection. */
  conn: string;
  member: string;
  streamId: number;
  /** The request's :path, e.g. "/raft.Raft/AppendEntries". */
  path: string;
  direction: 'request' | 'response';
  /** The message payload, decompressed when it was sent compressed. Owned by the handler. */
  data: Buffer;
  /** true when the message was compressed on the wire (flag 1). */
  compressed: boolean;
  /** ms since epoch of the chunk that completed the message. */
  t: number;
}

export interface GrpcStreamEnd {
  conn: string;
  member: string;
  streamId: number;
  path: string;
  /** grpc-status from the trailers (or a trailers-only response). */
  grpcStatus?: number;
  grpcMessage?: string;
  /** HTTP :status of the response headers. */
  httpStatus?: number;
  /** Error code of an RST_STREAM that ended the stream. */
  rstCode?: number;
  /** Which side sent that RST_STREAM. */
  rstBy?: 'client' | 'server';
  /** The connection ended (or the reader stopped) with the stream still open. */
  connectionClosed?: boolean;
  t: number;
}

export interface Http2ReadError {
  conn: string;
  member: string;
  dir: Direction;
  /** Byte offset in that direction's stream where the offending frame (or byte) starts. */
  offset: number;
  reason: string;
}

export interface GrpcMessageHandler {
  onMessage(m: GrpcMessage): void;
  onStreamEnd?(e: GrpcStreamEnd): void;
  /** Reading of that connection stopped; called at most once per connection. */
  onError?(e: Http2ReadError): void;
}

export interface Http2ReaderOptions {
  /** Messages longer than this are skipped without being buffered (counted). Default 16 MiB. */
  maxMessageBytes?: number;
  /** Open streams tracked per connection; streams beyond it are followed but not reported. Default 1000. */
  maxStreams?: number;
  /** Largest header block (HEADERS + CONTINUATION) the reader buffers; beyond it reading stops. Default 1 MiB. */
  maxHeaderBlockBytes?: number;
  /** Largest HPACK dynamic table the reader keeps per direction. Default 64 KiB. */
  maxHeaderTableSize?: number;
  /** Total bytes of partial messages buffered per connection; further messages are skipped. Default 64 MiB. */
  maxBufferedBytes?: number;
}

export interface Http2ReaderStats {
  connections: number;
  /** connections whose reading stopped on an error */
  connectionErrors: number;
  messages: number;
  /** messages longer than maxMessageBytes (or inflating beyond it), skipped */
  messagesOversize: number;
  /** messages skipped because the connection's buffer budget was used up */
  messagesOverBudget: number;
  /** compressed with an unknown encoding, corrupt compression, or a bad gRPC frame flag */
  messagesUndecodable: number;
  /** streams opened while maxStreams were already tracked */
  streamsUntracked: number;
  /** exceptions thrown by the handler (caught; reading goes on) */
  handlerErrors: number;
}

export type Http2TapFactory = TapFactory & { readonly stats: Http2ReaderStats };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// Frame types (RFC 9113 §6)
const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const FRAME_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
const frameName = (type: number): string => FRAME_NAMES[type] ?? `type 0x${type.toString(16)}`;

// Flags
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const DEFAULT_MAX_FRAME_SIZE = 16384;
const DEFAULT_HEADER_TABLE_SIZE = 4096;
const MAX_SETTINGS_BYTES = 6 * 1024;

// What the parser does with a frame's payload
const MODE_SKIP = 0;
const MODE_DATA = 1;
const MODE_COLLECT = 2;

class ReadError extends Error {}

interface Limits {
  maxMessageBytes: number;
  maxStreams: number;
  maxHeaderBlockBytes: number;
  maxHeaderTableSize: number;
  maxBufferedBytes: number;
}

/** Reassembles gRPC length-prefixed messages of one stream direction from DATA payload bytes. */
class MessageAssembler {
  private prefixFill = 0;
  private flag = 0;
  private length = 0;
  private buf: Buffer | null = null;
  private fill = 0;
  private skipLeft = 0;
  /** set when the byte stream is not gRPC framing; later bytes of this direction are ignored */
  broken = false;

  constructor(
    private readonly conn: ConnectionReader,
    private readonly stream: StreamState,
    private readonly request: boolean,
  ) {}

  feed(src: Buffer, p: number, end: number, t: number): void {
    while (p < end) {
      if (this.skipLeft > 0) {
        const k = Math.min(this.skipLeft, end - p);
        this.skipLeft -= k;
        p += k;
        continue;
      }
      if (this.buf === null) {
        // Length prefix: 1-byte flag + 4-byte big-endian length, possibly split across frames.
        if (this.prefixFill === 0 && end - p >= 5) {
          this.flag = src[p]!;
          this.length = src.readUInt32BE(p + 1);
          p += 5;
          this.prefixFill = 5;
        } else {
          const b = src[p++]!;
          if (this.prefixFill === 0) this.flag = b;
          else this.length = this.length * 256 + b;
          if (++this.prefixFill < 5) continue;
        }
        this.prefixFill = 0;
        if (this.flag > 1) {
          this.broken = true;
          this.conn.stats.messagesUndecodable++;
          return;
        }
        const len = this.length;
        this.length = 0;
        if (len > this.conn.limits.maxMessageBytes) {
          this.conn.stats.messagesOversize++;
          this.skipLeft = len;
          continue;
        }
        if (len === 0) {
          this.conn.emitMessage(this.stream, this.request, Buffer.alloc(0), this.flag === 1, t);
          continue;
        }
        if (!this.conn.reserve(len)) {
          this.conn.stats.messagesOverBudget++;
          this.skipLeft = len;
          continue;
        }
        this.buf = Buffer.allocUnsafe(len);
        this.fill = 0;
      }
      const buf = this.buf;
      const k = Math.min(buf.length - this.fill, end - p);
      src.copy(buf, this.fill, p, p + k);
      this.fill += k;
      p += k;
      if (this.fill === buf.length) {
        this.buf = null;
        this.conn.release(buf.length);
        this.conn.emitMessage(this.stream, this.request, buf, this.flag === 1, t);
      }
    }
  }

  /** Frees a partial message (stream ended); returns the bytes released from the budget. */
  drop(): void {
    if (this.buf) {
      this.conn.release(this.buf.length);
      this.buf = null;
    }
  }
}

class StreamState {
  path = '';
  grpc = false;
  requestEncoding = '';
  responseEncoding = '';
  httpStatus?: number;
  grpcStatus?: number;
  grpcMessage?: string;
  responseHeadersSeen = false;
  readonly requestMessages: MessageAssembler;
  readonly responseMessages: MessageAssembler;

  constructor(
    conn: ConnectionReader,
    readonly id: number,
  ) {
    this.requestMessages = new MessageAssembler(conn, this, true);
    this.responseMessages = new MessageAssembler(conn, this, false);
  }
}

/** Parses one direction's byte stream into frames. */
class FrameParser {
  /** bytes of this direction consumed before the current chunk */
  private base = 0;
  private prefaceLeft: number;
  private firstFrame = true;
  private inPayload = false;
  private readonly header = Buffer.alloc(9);
  private headerFill = 0;
  // current frame
  private frameStart = 0;
  private length = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private remaining = 0;
  private mode = MODE_SKIP;
  private dataStream: MessageAssembler | null = null;
  private dataNeedPadLength = false;
  private dataLeft = 0;
  // frames collected across chunks
  private collect: Buffer = Buffer.allocUnsafe(0);
  private collectFill = 0;
  // header block spread over HEADERS/PUSH_PROMISE + CONTINUATION
  private blockStream = 0;
  private blockIsPush = false;
  private blockEndStream = false;
  private block: Buffer = Buffer.allocUnsafe(0);
  private blockFill = 0;
  /** frames in this direction may be this large (the other side's SETTINGS_MAX_FRAME_SIZE) */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  readonly hpack: HpackDecoder;
  // fields of interest from the header block being decoded
  private hPath: string | undefined;
  private hContentType: string | undefined;
  private hEncoding: string | undefined;
  private hStatus: string | undefined;
  private hGrpcStatus: string | undefined;
  private hGrpcMessage: string | undefined;
  private readonly sink = (name: string, value: string): void => {
    switch (name) {
      case ':path':
        this.hPath = value;
        break;
      case 'content-type':
        this.hContentType = value;
        break;
      case 'grpc-encoding':
        this.hEncoding = value;
        break;
      case ':status':
        this.hStatus = value;
        break;
      case 'grpc-status':
        this.hGrpcStatus = value;
        break;
      case 'grpc-message':
        this.hGrpcMessage = value;
        break;
    }
  };

  constructor(
    private readonly conn: ConnectionReader,
    readonly dir: Direction,
    limits: Limits,
  ) {
    this.prefaceLeft = dir === 'c2s' ? PREFACE.length : 0;
    this.hpack = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE, limits.maxHeaderTableSize);
  }

  /** Consumes a chunk; throws ReadError (caught by the connection) on a protocol violation. */
  feed(chunk: Buffer, t: number): void {
    const n = chunk.length;
    let i = 0;
    try {
      while (i < n) {
        if (this.prefaceLeft > 0) {
          const at = PREFACE.length - this.prefaceLeft;
          const k = Math.min(this.prefaceLeft, n - i);
          for (let j = 0; j < k; j++) {
            if (chunk[i + j] !== PREFACE[at + j]) {
              this.frameStart = this.base + i + j;
              throw new ReadError(`not HTTP/2: connection preface mismatch at byte ${at + j} (expected "PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n")`);
            }
          }
          this.prefaceLeft -= k;
          i += k;
          continue;
        }
        if (!this.inPayload) {
          let h: Buffer;
          let hp: number;
          if (this.headerFill === 0 && n - i >= 9) {
            h = chunk;
            hp = i;
            this.frameStart = this.base + i;
            i += 9;
          } else {
            if (this.headerFill === 0) this.frameStart = this.base + i;
            const k = Math.min(9 - this.headerFill, n - i);
            chunk.copy(this.header, this.headerFill, i, i + k);
            this.headerFill += k;
            i += k;
            if (this.headerFill < 9) break;
            this.headerFill = 0;
            h = this.header;
            hp = 0;
          }
          this.length = (h[hp]! << 16) | (h[hp + 1]! << 8) | h[hp + 2]!;
          this.type = h[hp + 3]!;
          this.flags = h[hp + 4]!;
          this.streamId = h.readUInt32BE(hp + 5) & 0x7fffffff;
          this.beginFrame();
          this.remaining = this.length;
          this.inPayload = true;
          if (this.length === 0) this.endFrame(chunk, i, i, t);
          continue;
        }
        const take = Math.min(this.remaining, n - i);
        const from = i;
        i += take;
        this.remaining -= take;
        if (this.mode === MODE_DATA) {
          this.dataBytes(chunk, from, i, t);
          if (this.remaining === 0) this.endFrame(chunk, from, i, t);
        } else if (this.mode === MODE_COLLECT) {
          if (this.collectFill === 0 && this.remaining === 0) {
            this.endFrame(chunk, from, i, t); // whole payload in this chunk: read it in place
          } else {
            if (this.collectFill === 0 && this.collect.length < this.length) this.collect = Buffer.allocUnsafe(Math.max(this.length, 256));
            chunk.copy(this.collect, this.collectFill, from, i);
            this.collectFill += take;
            if (this.remaining === 0) {
              const fill = this.collectFill;
              this.collectFill = 0;
              this.endFrame(this.collect, 0, fill, t);
              // Do not keep a large collect buffer alive for the connection's lifetime.
              if (this.collect.length > 65536) this.collect = Buffer.allocUnsafe(0);
            }
          }
        } else if (this.remaining === 0) {
          this.endFrame(chunk, from, i, t);
        }
      }
    } catch (err) {
      if (err instanceof ReadError) {
        this.conn.fail(this.dir, this.frameStart, err.message, t);
      } else if (err instanceof HpackError) {
        this.conn.fail(this.dir, this.frameStart, `HPACK: ${err.message} (at byte ${err.offset} of the header block of stream ${this.blockStream || this.streamId})`, t);
      } else {
        this.conn.fail(this.dir, this.frameStart, `reader fault: ${err instanceof Error ? err.message : String(err)}`, t);
      }
      return;
    }
    this.base += n;
  }

  private where(): string {
    return `${frameName(this.type)} frame (length ${this.length}, flags 0x${this.flags.toString(16)}, stream ${this.streamId})`;
  }

  private beginFrame(): void {
    const type = this.type;
    if (this.firstFrame) {
      this.firstFrame = false;
      if (type !== SETTINGS || (this.flags & FLAG_ACK) !== 0) {
        throw new ReadError(`not HTTP/2: the ${this.dir === 'c2s' ? 'client' : 'server'} connection preface must start with a SETTINGS frame, got ${this.where()}`);
      }
    }
    if (this.blockStream !== 0 && (type !== CONTINUATION || this.streamId !== this.blockStream)) {
      throw new ReadError(`expected CONTINUATION of stream ${this.blockStream}, got ${this.where()}`);
    }
    if (this.length > this.maxFrameSize) {
      throw new ReadError(`frame size violation: ${this.where()} exceeds the peer's SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`);
    }
    this.mode = MODE_SKIP;
    switch (type) {
      case DATA:
        if (this.streamId === 0) throw new ReadError(`DATA on stream 0: ${this.where()}`);
        if ((this.flags & FLAG_PADDED) !== 0 && this.length === 0) throw new ReadError(`padded ${this.where()} has no pad length`);
        this.mode = MODE_DATA;
        this.dataNeedPadLength = (this.flags & FLAG_PADDED) !== 0;
        this.dataLeft = this.length;
        this.dataStream = this.conn.assemblerFor(this.dir, this.streamId);
        break;
      case HEADERS:
      case PUSH_PROMISE:
      case CONTINUATION:
        if (this.streamId === 0) throw new ReadError(`${this.where()} on stream 0`);
        if (type === CONTINUATION && this.blockStream === 0) throw new ReadError(`${this.where()} without a preceding HEADERS`);
        if (this.blockFill + this.length > this.conn.limits.maxHeaderBlockBytes) {
          throw new ReadError(`header block of stream ${this.streamId} exceeds the reader's limit of ${this.conn.limits.maxHeaderBlockBytes} bytes`);
        }
        this.mode = MODE_COLLECT;
        break;
      case RST_STREAM:
        if (this.length !== 4 || this.streamId === 0) throw new ReadError(`malformed ${this.where()}: expected length 4 on a non-zero stream`);
        this.mode = MODE_COLLECT;
        break;
      case SETTINGS:
        if (this.streamId !== 0) throw new ReadError(`${this.where()}: SETTINGS must be on stream 0`);
        if ((this.flags & FLAG_ACK) !== 0 ? this.length !== 0 : this.length % 6 !== 0) {
          throw new ReadError(`malformed ${this.where()}: length must be a multiple of 6 (0 for an ACK)`);
        }
        // Real peers send a handful of settings; a huge SETTINGS frame would only make the reader buffer it.
        if (this.length > MAX_SETTINGS_BYTES) throw new ReadError(`${this.where()} is larger than the reader accepts (${MAX_SETTINGS_BYTES} bytes)`);
        this.mode = MODE_COLLECT;
        break;
      case PRIORITY:
        if (this.length !== 5) throw new ReadError(`malformed ${this.where()}: expected length 5`);
        break;
      case PING:
        if (this.length !== 8 || this.streamId !== 0) throw new ReadError(`malformed ${this.where()}: expected length 8 on stream 0`);
        break;
      case GOAWAY:
        if (this.length < 8 || this.streamId !== 0) throw new ReadError(`malformed ${this.where()}: expected length >= 8 on stream 0`);
        break;
      case WINDOW_UPDATE:
        if (this.length !== 4) throw new ReadError(`malformed ${this.where()}: expected length 4`);
        break;
      default:
        break; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private dataBytes(src: Buffer, p: number, end: number, t: number): void {
    if (this.dataNeedPadLength) {
      this.dataNeedPadLength = false;
      const pad = src[p++]!;
      if (pad >= this.length) throw new ReadError(`${this.where()}: pad length ${pad} leaves no room for data`);
      this.dataLeft = this.length - 1 - pad;
    }
    const k = Math.min(this.dataLeft, end - p);
    if (k > 0) {
      this.dataLeft -= k;
      const asm = this.dataStream;
      if (asm !== null && !asm.broken) asm.feed(src, p, p + k, t);
    }
    // the rest of the range is padding
  }

  /** The frame is complete; for collected frames `buf[start..end)` is the whole payload. */
  private endFrame(buf: Buffer, start: number, end: number, t: number): void {
    this.inPayload = false;
    switch (this.type) {
      case DATA:
        this.dataStream = null;
        if ((this.flags & FLAG_END_STREAM) !== 0) this.conn.endOfStream(this.dir, this.streamId, t);
        break;
      case HEADERS:
      case PUSH_PROMISE: {
        let p = start;
        let pad = 0;
        if ((this.flags & FLAG_PADDED) !== 0) {
          if (end - p < 1) throw new ReadError(`${this.where()}: missing pad length`);
          pad = buf[p++]!;
        }
        if (this.type === HEADERS && (this.flags & FLAG_PRIORITY) !== 0) p += 5;
        if (this.type === PUSH_PROMISE) p += 4;
        if (p + pad > end) throw new ReadError(`${this.where()}: padding/priority longer than the frame`);
        this.blockIsPush = this.type === PUSH_PROMISE;
        this.blockEndStream = this.type === HEADERS && (this.flags & FLAG_END_STREAM) !== 0;
        if ((this.flags & FLAG_END_HEADERS) !== 0) {
          this.headerBlock(buf, p, end - pad, this.streamId, t);
        } else {
          this.blockStream = this.streamId;
          this.appendBlock(buf, p, end - pad);
        }
        break;
      }
      case CONTINUATION:
        this.appendBlock(buf, start, end);
        if ((this.flags & FLAG_END_HEADERS) !== 0) {
          const fill = this.blockFill;
          this.blockFill = 0;
          this.headerBlock(this.block, 0, fill, this.blockStream, t);
          this.blockStream = 0;
          if (this.block.length > 65536) this.block = Buffer.allocUnsafe(0);
        }
        break;
      case RST_STREAM:
        this.conn.resetStream(this.dir, this.streamId, buf.readUInt32BE(start), t);
        break;
      case SETTINGS:
        for (let p = start; p + 6 <= end; p += 6) {
          const id = buf.readUInt16BE(p);
          const value = buf.readUInt32BE(p + 2);
          if (id === SETTINGS_HEADER_TABLE_SIZE) this.conn.peerHeaderTableSize(this.dir, value);
          else if (id === SETTINGS_MAX_FRAME_SIZE) {
            if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) throw new ReadError(`${this.where()}: SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
            this.conn.peerMaxFrameSize(this.dir, value);
          }
        }
        break;
    }
  }

  private appendBlock(src: Buffer, start: number, end: number): void {
    const need = this.blockFill + (end - start);
    if (this.block.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.block.length * 2, 1024));
      this.block.copy(grown, 0, 0, this.blockFill);
      this.block = grown;
    }
    src.copy(this.block, this.blockFill, start, end);
    this.blockFill = need;
  }

  private headerBlock(buf: Buffer, start: number, end: number, streamId: number, t: number): void {
    this.hPath = this.hContentType = this.hEncoding = this.hStatus = this.hGrpcStatus = this.hGrpcMessage = undefined;
    this.hpack.decode(buf, start, end, this.sink);
    if (this.blockIsPush) return; // kept only to keep the HPACK table in step; pushes are not gRPC
    this.conn.headers(this.dir, streamId, this.blockEndStream, t, this.hPath, this.hContentType, this.hEncoding, this.hStatus, this.hGrpcStatus, this.hGrpcMessage);
  }
}

export class ConnectionReader implements Tap {
  private readonly c2s: FrameParser;
  private readonly s2c: FrameParser;
  private readonly streams = new Map<number, StreamState>();
  private buffered = 0;
  private dead = false;

  constructor(
    readonly info: ConnectionInfo,
    private readonly handler: GrpcMessageHandler,
    readonly limits: Limits,
    readonly stats: Http2ReaderStats,
  ) {
    this.c2s = new FrameParser(this, 'c2s', limits);
    this.s2c = new FrameParser(this, 's2c', limits);
  }

  data(dir: Direction, chunk: Buffer, t: number): void {
    if (this.dead) return;
    (dir === 'c2s' ? this.c2s : this.s2c).feed(chunk, t);
  }

  end(t: number): void {
    if (this.dead) return;
    this.dead = true;
    this.closeAllStreams(t);
  }

  /** Number of streams currently tracked (for tests and metrics). */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Bytes of partial messages currently buffered. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  fail(dir: Direction, offset: number, reason: string, t: number): void {
    if (this.dead) return;
    this.dead = true;
    this.stats.connectionErrors++;
    this.closeAllStreams(t);
    const h = this.handler.onError;
    if (h) this.call(() => h.call(this.handler, { conn: this.info.id, member: this.info.member, dir, offset, reason }));
  }

  reserve(bytes: number): boolean {
    if (this.buffered + bytes > this.limits.maxBufferedBytes) return false;
    this.buffered += bytes;
    return true;
  }

  release(bytes: number): void {
    this.buffered -= bytes;
  }

  assemblerFor(dir: Direction, streamId: number): MessageAssembler | null {
    const s = this.streams.get(streamId);
    if (s === undefined || !s.grpc) return null;
    return dir === 'c2s' ? s.requestMessages : s.responseMessages;
  }

  peerHeaderTableSize(settingsDir: Direction, value: number): void {
    // The peer that sent SETTINGS decodes the other direction: it bounds that direction's encoder.
    // Lenient on purpose: the highest value advertised so far, since a passive reader cannot see when
    // the encoder received the SETTINGS relative to the frames it sends.
    const other = settingsDir === 'c2s' ? this.s2c : this.c2s;
    if (value > other.hpack.maxAllowedTableSize) other.hpack.maxAllowedTableSize = value;
  }

  peerMaxFrameSize(settingsDir: Direction, value: number): void {
    const other = settingsDir === 'c2s' ? this.s2c : this.c2s;
    if (value > other.maxFrameSize) other.maxFrameSize = value;
  }

  headers(
    dir: Direction,
    streamId: number,
    endStream: boolean,
    t: number,
    path: string | undefined,
    contentType: string | undefined,
    encoding: string | undefined,
    status: string | undefined,
    grpcStatus: string | undefined,
    grpcMessage: string | undefined,
  ): void {
    let s = this.streams.get(streamId);
    if (dir === 'c2s') {
      if (s === undefined) {
        if (path === undefined) return; // trailers of a stream no longer tracked
        if (this.streams.size >= this.limits.maxStreams) {
          this.stats.streamsUntracked++;
          return;
        }
        s = new StreamState(this, streamId);
        s.path = path;
        s.grpc = contentType !== undefined && contentType.startsWith('application/grpc');
        if (encoding !== undefined) s.requestEncoding = encoding;
        this.streams.set(streamId, s);
      }
      return; // the call ends with the server's END_STREAM or an RST_STREAM
    }
    if (s === undefined) return;
    if (status !== undefined) s.httpStatus = Number(status);
    if (encoding !== undefined) s.responseEncoding = encoding;
    if (grpcStatus !== undefined) s.grpcStatus = Number(grpcStatus);
    if (grpcMessage !== undefined) s.grpcMessage = decodeGrpcMessage(grpcMessage);
    s.responseHeadersSeen = true;
    if (endStream) this.finish(s, t, undefined, undefined);
  }

  endOfStream(dir: Direction, streamId: number, t: number): void {
    // The server's END_STREAM ends the call (gRPC status is known by then); the client's only half-closes.
    if (dir === 'c2s') return;
    const s = this.streams.get(streamId);
    if (s !== undefined) this.finish(s, t, undefined, undefined);
  }

  resetStream(dir: Direction, streamId: number, code: number, t: number): void {
    const s = this.streams.get(streamId);
    if (s !== undefined) this.finish(s, t, code, dir === 'c2s' ? 'client' : 'server');
  }

  private finish(s: StreamState, t: number, rstCode: number | undefined, rstBy: 'client' | 'server' | undefined): void {
    this.streams.delete(s.id);
    s.requestMessages.drop();
    s.responseMessages.drop();
    const h = this.handler.onStreamEnd;
    if (!h) return;
    const e: GrpcStreamEnd = { conn: this.info.id, member: this.info.member, streamId: s.id, path: s.path, t };
    if (s.grpcStatus !== undefined) e.grpcStatus = s.grpcStatus;
    if (s.grpcMessage !== undefined) e.grpcMessage = s.grpcMessage;
    if (s.httpStatus !== undefined) e.httpStatus = s.httpStatus;
    if (rstCode !== undefined) {
      e.rstCode = rstCode;
      e.rstBy = rstBy;
    }
    this.call(() => h.call(this.handler, e));
  }

  private closeAllStreams(t: number): void {
    const h = this.handler.onStreamEnd;
    for (const s of this.streams.values()) {
      s.requestMessages.drop();
      s.responseMessages.drop();
      if (h) {
        const e: GrpcStreamEnd = { conn: this.info.id, member: this.info.member, streamId: s.id, path: s.path, connectionClosed: true, t };
        if (s.grpcStatus !== undefined) e.grpcStatus = s.grpcStatus;
        if (s.httpStatus !== undefined) e.httpStatus = s.httpStatus;
        this.call(() => h.call(this.handler, e));
      }
    }
    this.streams.clear();
  }

  emitMessage(s: StreamState, request: boolean, payload: Buffer, compressed: boolean, t: number): void {
    let data = payload;
    if (compressed) {
      const encoding = request ? s.requestEncoding : s.responseEncoding;
      try {
        if (encoding === 'gzip') data = zlib.gunzipSync(payload, { maxOutputLength: this.limits.maxMessageBytes });
        else if (encoding === 'deflate') data = zlib.inflateSync(payload, { maxOutputLength: this.limits.maxMessageBytes });
        else {
          this.stats.messagesUndecodable++;
          return;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') this.stats.messagesOversize++;
        else this.stats.messagesUndecodable++;
        return;
      }
    }
    this.stats.messages++;
    const m: GrpcMessage = {
      conn: this.info.id,
      member: this.info.member,
      streamId: s.id,
      path: s.path,
      direction: request ? 'request' : 'response',
      data,
      compressed,
      t,
    };
    try {
      this.handler.onMessage(m);
    } catch {
      this.stats.handlerErrors++;
    }
  }

  private call(f: () => void): void {
    try {
      f();
    } catch {
      this.stats.handlerErrors++;
    }
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec); decode it leniently. */
function decodeGrpcMessage(v: string): string {
  if (v.indexOf('%') < 0) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/**
 * Makes a TapFactory that reads every relayed connection as HTTP/2 (prior knowledge, as gRPC uses)
 * and reports gRPC messages and stream ends to `handler`.
 */
export function createHttp2Tap(handler: GrpcMessageHandler, opts: Http2ReaderOptions = {}): Http2TapFactory {
  const limits: Limits = {
    maxMessageBytes: opts.maxMessageBytes ?? 16 * 1024 * 1024,
    maxStreams: opts.maxStreams ?? 1000,
    maxHeaderBlockBytes: opts.maxHeaderBlockBytes ?? 1024 * 1024,
    maxHeaderTableSize: opts.maxHeaderTableSize ?? 65536,
    maxBufferedBytes: opts.maxBufferedBytes ?? 64 * 1024 * 1024,
  };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`createHttp2Tap: option ${k} must be a non-negative integer, got ${v}`);
  }
  const stats: Http2ReaderStats = {
    connections: 0,
    connectionErrors: 0,
    messages: 0,
    messagesOversize: 0,
    messagesOverBudget: 0,
    messagesUndecodable: 0,
    streamsUntracked: 0,
    handlerErrors: 0,
  };
  const factory = (conn: ConnectionInfo): Tap => {
    stats.connections++;
    return new ConnectionReader(conn, handler, limits, stats);
  };
  return Object.assign(factory, { stats });
}
