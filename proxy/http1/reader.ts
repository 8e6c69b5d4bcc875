// Passive HTTP/1.1 reader: follows one TCP connection in both directions from a copy of its bytes
// and reports request heads, response heads (paired with their requests, in order) and bodies as
// they arrive. It never buffers a body: body bytes are handed on as views into the chunk being read,
// so a never-ending chunked stream or a large snapshot upload costs no memory here. Only request and
// response heads, chunk-size lines and trailers are carried over between chunks, each with a bound.
//
// It knows bytes, not Raft: what a body means is the consumer's business (DESIGN.md §2).
// Nothing in here throws into the data path: every parse problem becomes one error callback naming the
// connection, direction and byte offset, after which the connection is no longer read.

import type { ConnectionInfo, Direction, Tap } from '../tap.js';

export interface Http1Headers {
  /** Header names lower-cased; repeated headers joined with ", " (RFC 9110 §5.3). */
  readonly [name: string]: string | undefined;
}

export interface Http1Request {
  method: string;
  /** The request target as sent (origin-form path with query, or authority-form for CONNECT). */
  path: string;
  version: string;
  headers: Http1Headers;
  /** Sequence number of the request on its connection, from 1. */
  seq: number;
  /** Time (as passed to Tap.data) of the chunk that completed the head. */
  t: number;
}

export interface Http1Response {
  status: number;
  reason: string;
  version: string;
  headers: Http1Headers;
  t: number;
}

/**
 * Receives one body as it arrives. `data` gets views into the caller's chunk: copy what must outlive
 * the call. Returning `false` from `data` says "I need nothing more of this body": the reader then
 * skips the rest without calling again (used to skip the DB part of an etcd snapshot upload).
 * `end` is called exactly once: complete=true when the body ended as framed, false when the connection
 * closed or failed first.
 */
export interface BodyConsumer {
  data(chunk: Buffer, t: number): boolean | void;
  end(t: number, complete: boolean): void;
}

export interface Http1ParseErrorInfo {
  connection: string;
  direction: Direction;
  /** Byte offset in that direction's stream where the problem was found. */
  offset: number;
  message: string;
}

export type Http1StopReason = 'http2' | 'upgrade' | 'error';

export interface Http1Handlers {
  /** A request head was read. Return a consumer to receive its body. */
  onRequest?(req: Http1Request): BodyConsumer | undefined;
  /** A final response head was read; `req` is the request it answers. */
  onResponse?(res: Http1Response, req: Http1Request): BodyConsumer | undefined;
  /** Called once, then the connection is no longer read. */
  onError?(err: Http1ParseErrorInfo): void;
  /** The reader stopped reading this connection for good (not called on normal end). */
  onStop?(reason: Http1StopReason): void;
}

export interface Http1Limits {
  /** Longest request/response head (start line + headers + CRLFCRLF). */
  maxHeadBytes: number;
  /** Longest chunk-size line, extensions included. */
  maxChunkLineBytes: number;
  /** Longest trailer section. */
  maxTrailerBytes: number;
  /** Most requests awaiting a response on one connection (pipelining). */
  maxPendingRequests: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = {
  maxHeadBytes: 64 * 1024,
  maxChunkLineBytes: 4096,
  maxTrailerBytes: 16 * 1024,
  maxPendingRequests: 64,
};

const HTTP2_PREFACE_LINE = 'PRI * HTTP/2.0';
const CR = 13;
const LF = 10;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Per-direction parser states.
const enum S {
  Head, // accumulating a start line + headers
  BodyLength, // Content-Length body: `remaining` bytes left
  ChunkSize, // hex digits of a chunk-size line
  ChunkExt, // chunk extension: skip to LF
  ChunkSizeLF, // saw CR after size/ext, expect LF
  ChunkData, // `remaining` bytes of chunk data
  ChunkDataCR, // CRLF after chunk data
  ChunkDataLF,
  TrailerLineStart, // start of a trailer line (or the final empty line)
  TrailerLine, // inside a trailer line: skip to LF
  TrailerEndLF, // saw CR at line start, expect LF: message ends
  UntilClose, // response body delimited by connection close
  AwaitUpgrade, // request asked to switch protocols: read nothing more in this direction
  Stopped,
}

class ParseError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

interface BodyState {
  consumer: BodyConsumer | undefined;
}

/** One direction of one connection. */
class DirectionParser {
  state: S = S.Head;
  /** Bytes of this direction consumed so far (offset of the next byte). */
  offset = 0;
  private head: Buffer | undefined;
  private headLen = 0;
  remaining = 0;
  private chunkSize = 0;
  private chunkSizeDigits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  body: BodyState = { consumer: undefined };
  /** For a request direction: the method of the request whose body is being read. */
  private afterBody: S = S.Head;

  constructor(
    readonly dir: Direction,
    private readonly limits: Http1Limits,
    /** Called with the completed head; returns the body framing to use. */
    private readonly onHead: (head: Buffer, headStart: number, t: number) => HeadOutcome,
    private readonly onMessageEnd: (t: number) => void,
  ) {}

  /** Feeds a chunk; throws ParseError for malformed input (caught by the connection). */
  feed(chunk: Buffer, t: number): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case S.Head: {
          i = this.readHead(chunk, i, t);
          break;
        }
        case S.BodyLength: {
          const take = Math.min(this.remaining, n - i);
          this.deliver(chunk, i, i + take, t);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finishMessage(t);
          break;
        }
        case S.ChunkSize: {
          const c = chunk[i]!;
          const v = hexValue(c);
          if (v >= 0) {
            this.chunkSize = this.chunkSize * 16 + v;
            this.chunkSizeDigits++;
            if (this.chunkSize > MAX_SAFE) throw new ParseError('chunk size too large', this.offset + i);
            this.lineLimit(i);
            i++;
          } else if (this.chunkSizeDigits === 0) {
            throw new ParseError(`expected a hex chunk size, got byte 0x${c.toString(16)}`, this.offset + i);
          } else if (c === CR) {
            this.state = S.ChunkSizeLF;
            i++;
          } else if (c === LF) {
            // Bare LF line end: tolerated (RFC 9112 §2.2 allows recipients to).
            i++;
            this.chunkLineDone(t);
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            this.state = S.ChunkExt;
            this.lineLimit(i);
            i++;
          } else {
            throw new ParseError(`bad byte 0x${c.toString(16)} in chunk size`, this.offset + i);
          }
          break;
        }
        case S.ChunkExt: {
          const lf = chunk.indexOf(LF, i);
          const end = lf < 0 ? n : lf;
          this.lineBytes += end - i;
          if (this.lineBytes > this.limits.maxChunkLineBytes) {
            throw new ParseError(`chunk-size line longer than ${this.limits.maxChunkLineBytes} bytes`, this.offset + end);
          }
          i = end;
          if (lf >= 0) {
            i++;
            this.chunkLineDone(t);
          }
          break;
        }
        case S.ChunkSizeLF: {
          if (chunk[i] !== LF) throw new ParseError('expected LF after chunk size CR', this.offset + i);
          i++;
          this.chunkLineDone(t);
          break;
        }
        case S.ChunkData: {
          const take = Math.min(this.remaining, n - i);
          this.deliver(chunk, i, i + take, t);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = S.ChunkDataCR;
          break;
        }
        case S.ChunkDataCR: {
          const c = chunk[i]!;
          if (c === CR) this.state = S.ChunkDataLF;
          else if (c === LF) this.startChunkLine();
          else throw new ParseError(`expected CRLF after chunk data, got byte 0x${c.toString(16)}`, this.offset + i);
          i++;
          break;
        }
        case S.ChunkDataLF: {
          if (chunk[i] !== LF) throw new ParseError('expected LF after chunk data CR', this.offset + i);
          i++;
          this.startChunkLine();
          break;
        }
        case S.TrailerLineStart: {
          const c = chunk[i]!;
          i++;
          this.trailerCount(i);
          if (c === CR) this.state = S.TrailerEndLF;
          else if (c === LF) this.finishMessage(t);
          else this.state = S.TrailerLine;
          break;
        }
        case S.TrailerLine: {
          const lf = chunk.indexOf(LF, i);
          const end = lf < 0 ? n : lf + 1;
          this.trailerBytes += end - i;
          i = end;
          this.trailerCount(i);
          if (lf >= 0) this.state = S.TrailerLineStart;
          break;
        }
        case S.TrailerEndLF: {
          if (chunk[i] !== LF) throw new ParseError('expected LF ending the trailer section', this.offset + i);
          i++;
          this.finishMessage(t);
          break;
        }
        case S.UntilClose: {
          this.deliver(chunk, i, n, t);
          i = n;
          break;
        }
        case S.AwaitUpgrade:
        case S.Stopped:
          i = n;
          break;
      }
    }
    this.offset += n;
  }

  /** The connection ended: an open body ends incomplete (or complete, for a close-delimited one). */
  close(t: number, orderly = true): void {
    const body = this.body.consumer;
    this.body.consumer = undefined;
    if (body) safeEnd(body, t, orderly && this.state === S.UntilClose);
    this.state = S.Stopped;
  }

  private lineLimit(i: number): void {
    if (++this.lineBytes > this.limits.maxChunkLineBytes) {
      throw new ParseError(`chunk-size line longer than ${this.limits.maxChunkLineBytes} bytes`, this.offset + i);
    }
  }

  private trailerCount(i: number): void {
    if (++this.trailerBytes > this.limits.maxTrailerBytes) {
      throw new ParseError(`trailer section longer than ${this.limits.maxTrailerBytes} bytes`, this.offset + i);
    }
  }

  private startChunkLine(): void {
    this.state = S.ChunkSize;
    this.chunkSize = 0;
    this.chunkSizeDigits = 0;
    this.lineBytes = 0;
  }

  private chunkLineDone(_t: number): void {
    if (this.chunkSize === 0) {
      this.state = S.TrailerLineStart;
      this.trailerBytes = 0;
    } else {
      this.state = S.ChunkData;
      this.remaining = this.chunkSize;
    }
  }

  private deliver(chunk: Buffer, from: number, to: number, t: number): void {
    const consumer = this.body.consumer;
    if (!consumer || from === to) return;
    let wantMore: boolean | void;
    try {
      wantMore = consumer.data(chunk.subarray(from, to), t);
    } catch {
      wantMore = false; // a failing consumer loses its body, the reader goes on framing
    }
    if (wantMore === false) {
      this.body.consumer = undefined;
      safeEnd(consumer, t, false);
    }
  }

  private finishMessage(t: number): void {
    const consumer = this.body.consumer;
    this.body.consumer = undefined;
    if (consumer) safeEnd(consumer, t, true);
    this.state = this.afterBody;
    this.afterBody = S.Head;
    this.onMessageEnd(t);
  }

  /** Accumulates head bytes (bounded) until CRLFCRLF; returns the index after what it consumed. */
  private readHead(chunk: Buffer, i: number, t: number): number {
    const limit = this.limits.maxHeadBytes;
    // Leading empty lines before a request/response are ignored (RFC 9112 §2.2).
    if (this.headLen === 0) {
      while (i < chunk.length && (chunk[i] === CR || chunk[i] === LF)) i++;
      if (i === chunk.length) return i;
    }
    if (!this.head) this.head = Buffer.allocUnsafe(Math.min(limit, 1024));
    const room = limit - this.headLen;
    const take = Math.min(room, chunk.length - i);
    if (this.headLen + take > this.head.length) {
      const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(this.head.length * 2, this.headLen + take)));
      this.head.copy(grown, 0, 0, this.headLen);
      this.head = grown;
    }
    chunk.copy(this.head, this.headLen, i, i + take);
    const searchFrom = Math.max(0, this.headLen - 3);
    const prevLen = this.headLen;
    this.headLen += take;
    const view = this.head.subarray(0, this.headLen);
    const end = findHeadEnd(view, searchFrom);
    if (end < 0) {
      if (this.headLen >= limit) {
        throw new ParseError(`message head longer than ${limit} bytes`, this.offset + i + take);
      }
      return i + take;
    }
    const consumed = end - prevLen;
    const headStart = this.offset + i - prevLen;
    const headBytes = Buffer.from(view.subarray(0, end)); // own copy: the scratch buffer is reused
    this.headLen = 0;
    if (this.head.length > 4096) this.head = undefined; // do not keep a big scratch buffer for an idle connection
    const outcome = this.onHead(headBytes, headStart, t);
    this.body = { consumer: outcome.consumer };
    this.afterBody = outcome.after ?? S.Head;
    switch (outcome.framing) {
      case 'none':
        this.finishMessage(t);
        break;
      case 'length':
        this.state = S.BodyLength;
        this.remaining = outcome.length!;
        if (this.remaining === 0) this.finishMessage(t);
        break;
      case 'chunked':
        this.startChunkLine();
        break;
      case 'close':
        this.state = S.UntilClose;
        break;
      case 'stop':
        this.state = S.Stopped;
        break;
      case 'await-upgrade':
        this.state = S.AwaitUpgrade;
        break;
    }
    return i + consumed;
  }
}

interface HeadOutcome {
  framing: 'none' | 'length' | 'chunked' | 'close' | 'stop' | 'await-upgrade';
  length?: number;
  consumer?: BodyConsumer;
  /** State after the body (AwaitUpgrade for a request that asked to switch protocols). */
  after?: S;
}

function safeEnd(consumer: BodyConsumer, t: number, complete: boolean): void {
  try {
    consumer.end(t, complete);
  } catch {
    // a consumer's failure stays with the consumer
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Index just after the blank line ending a head (CRLFCRLF, or bare LFLF), or -1. */
function findHeadEnd(buf: Buffer, from: number): number {
  for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (i + 1 < buf.length && buf[i + 1] === LF) return i + 2;
    if (i + 2 < buf.length && buf[i + 1] === CR && buf[i + 2] === LF) return i + 3;
  }
  return -1;
}

interface ParsedHead {
  startLine: string;
  headers: Record<string, string>;
}

function parseHead(head: Buffer, offset: number): ParsedHead {
  const text = head.toString('latin1');
  const lines = text.split(/\r?\n/);
  const startLine = lines[0]!;
  const headers: Record<string, string> = {};
  let pos = startLine.length;
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k]!;
    if (line === '') continue;
    pos = text.indexOf(line, pos);
    const lineOffset = offset + pos;
    if (line[0] === ' ' || line[0] === '\t') throw new ParseError('obsolete header line folding', lineOffset);
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(`header line without a name and colon: ${JSON.stringify(line.slice(0, 60))}`, lineOffset);
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new ParseError(`bad header name ${JSON.stringify(name.slice(0, 60))}`, lineOffset);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[key];
    headers[key] = prev === undefined ? value : `${prev}, ${value}`;
    pos += line.length;
  }
  return { startLine, headers };
}

/** Body framing from Transfer-Encoding / Content-Length (RFC 9112 §6). */
function bodyFraming(headers: Record<string, string>, offset: number, isRequest: boolean): HeadOutcome {
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    const codings = te.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    if (codings[codings.length - 1] === 'chunked') return { framing: 'chunked' };
    if (isRequest) throw new ParseError(`request Transfer-Encoding "${te}" does not end in chunked`, offset);
    return { framing: 'close' };
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    // Repeated identical values ("5, 5") are allowed; anything else is an error.
    const values = cl.split(',').map((s) => s.trim());
    if (!values.every((v) => /^[0-9]{1,15}$/.test(v) && v === values[0])) {
      throw new ParseError(`bad Content-Length ${JSON.stringify(cl.slice(0, 60))}`, offset);
    }
    return { framing: 'length', length: Number(values[0]) };
  }
  return isRequest ? { framing: 'none' } : { framing: 'close' };
}

/**
 * One connection: two direction parsers and the queue of requests awaiting a response.
 * Implements Tap so it can be plugged straight into the relay or a pcap reader.
 */
export class Http1Connection implements Tap {
  private readonly c2s: DirectionParser;
  private readonly s2c: DirectionParser;
  private readonly pending: Http1Request[] = [];
  private requestSeq = 0;
  private stopped = false;
  /** The request whose response head is being read (set while its body is read). */
  private current: Http1Request | undefined;
  private readonly limits: Http1Limits;

  constructor(
    readonly conn: ConnectionInfo,
    private readonly handlers: Http1Handlers,
    limits?: Partial<Http1Limits>,
  ) {
    this.limits = { ...DEFAULT_HTTP1_LIMITS, ...limits };
    this.c2s = new DirectionParser('c2s', this.limits, (h, o, t) => this.requestHead(h, o, t), () => undefined);
    this.s2c = new DirectionParser('s2c', this.limits, (h, o, t) => this.responseHead(h, o, t), () => {
      this.current = undefined;
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  data(dir: Direction, chunk: Buffer, t: number): void {
    if (this.stopped || chunk.length === 0) return;
    const parser = dir === 'c2s' ? this.c2s : this.s2c;
    try {
      if (dir === 'c2s' && this.c2s.offset < HTTP2_PREFACE_LINE.length) this.noteC2SPrefix(chunk);
      if (dir === 's2c' && this.pending.length === 0 && this.current === undefined && parser.state === S.Head) {
        // The server spoke first. An h2c client's preface may still be in flight on the other side:
        // stay quiet in that case; otherwise it is not HTTP/1.1 as we know it.
        if (this.c2sLooksLikeHttp2()) return;
        throw new ParseError('response bytes with no request awaiting a response', parser.offset);
      }
      parser.feed(chunk, t);
    } catch (err) {
      if (this.stopped) return;
      const offset = err instanceof ParseError ? err.offset : parser.offset;
      const message = err instanceof Error ? err.message : String(err);
      this.fail(dir, offset, message, t);
    }
  }

  end(t: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.c2s.close(t);
    this.s2c.close(t);
  }

  private c2sHeadPrefix = '';

  private c2sLooksLikeHttp2(): boolean {
    return this.c2sHeadPrefix !== '' && HTTP2_PREFACE_LINE.startsWith(this.c2sHeadPrefix);
  }

  private fail(dir: Direction, offset: number, message: string, t: number): void {
    this.stopped = true;
    this.c2s.close(t, false);
    this.s2c.close(t, false);
    try {
      this.handlers.onError?.({ connection: this.conn.id, direction: dir, offset, message });
      this.handlers.onStop?.('error');
    } catch {
      // handlers must not break the data path
    }
  }

  private stopQuietly(reason: Http1StopReason, t: number): void {
    this.stopped = true;
    this.c2s.close(t, false);
    this.s2c.close(t, false);
    try {
      this.handlers.onStop?.(reason);
    } catch {
      // ignore
    }
  }

  private requestHead(head: Buffer, offset: number, t: number): HeadOutcome {
    const { startLine, headers } = parseHead(head, offset);
    if (startLine === HTTP2_PREFACE_LINE) {
      // etcd serves gRPC (h2c) on the peer port too: not ours to read.
      this.stopQuietly('http2', t);
      return { framing: 'stop' };
    }
    const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP\/1\.[01])$/.exec(startLine);
    if (!m) throw new ParseError(`bad request line ${JSON.stringify(startLine.slice(0, 80))}`, offset);
    if (this.pending.length >= this.limits.maxPendingRequests) {
      throw new ParseError(`more than ${this.limits.maxPendingRequests} requests awaiting a response`, offset);
    }
    const req: Http1Request = { method: m[1]!, path: m[2]!, version: m[3]!, headers, seq: ++this.requestSeq, t };
    const framing = bodyFraming(headers, offset, true);
    this.pending.push(req);
    let consumer: BodyConsumer | undefined;
    try {
      consumer = this.handlers.onRequest?.(req);
    } catch {
      consumer = undefined;
    }
    const upgrade = req.method === 'CONNECT' || headers['upgrade'] !== undefined;
    return { ...framing, consumer, after: upgrade ? S.AwaitUpgrade : S.Head };
  }

  private responseHead(head: Buffer, offset: number, t: number): HeadOutcome {
    const { startLine, headers } = parseHead(head, offset);
    const m = /^(HTTP\/1\.[01]) ([0-9]{3})(?: (.*))?$/.exec(startLine);
    if (!m) throw new ParseError(`bad status line ${JSON.stringify(startLine.slice(0, 80))}`, offset);
    const status = Number(m[2]);
    const res: Http1Response = { status, reason: m[3] ?? '', version: m[1]!, headers, t };
    const req = this.pending[0];
    if (!req) throw new ParseError(`response ${status} with no request awaiting a response`, offset);
    if (status === 101 || (req.method === 'CONNECT' && status >= 200 && status < 300)) {
      this.stopQuietly('upgrade', t);
      return { framing: 'stop' };
    }
    if (status >= 100 && status < 200) return { framing: 'none' }; // interim response: the request still waits
    this.pending.shift();
    this.current = req;
    if (this.c2s.state === S.AwaitUpgrade) {
      // The upgrade was refused, but the bytes the client sent after asking were not read: we cannot resync.
      this.stopQuietly('upgrade', t);
      return { framing: 'stop' };
    }
    let consumer: BodyConsumer | undefined;
    try {
      consumer = this.handlers.onResponse?.(res, req);
    } catch {
      consumer = undefined;
    }
    if (req.method === 'HEAD' || status === 204 || status === 304) {
      if (consumer) safeEnd(consumer, t, true);
      return { framing: 'none' };
    }
    return { ...bodyFraming(headers, offset, false), consumer };
  }

  /** Records the first bytes the client sent so an h2c preface can be recognised early. */
  private noteC2SPrefix(chunk: Buffer): void {
    if (this.c2sHeadPrefix.length < HTTP2_PREFACE_LINE.length) {
      this.c2sHeadPrefix += chunk.subarray(0, HTTP2_PREFACE_LINE.length - this.c2sHeadPrefix.length).toString('latin1');
    }
  }
}
