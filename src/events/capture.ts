// Capture files (format v1, DESIGN.md §3): JSON Lines, header first.
// The reader streams: it never holds more than one read chunk plus one partial line, so a 2 GB
// capture replays in the same memory as a small one. A bad line is reported with its line number
// and the field that is wrong, and reading goes on with the next line.

import { createReadStream, createWriteStream, existsSync, openSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import type { CaptureHeader, NodeId, RaftEvent } from './types.js';
import { lineEnd, parseEventLine, setBlock } from './fast-line.js';
import { isProblem, validateEvent, validateHeader } from './validate.js';

export interface CaptureProblem {
  file: string;
  line: number;
  field?: string;
  message: string;
}

export interface CaptureReadSummary {
  lines: number;
  events: number;
  skippedLines: number;
  /** Events whose `t` was below the previous event's (kept, counted). */
  outOfOrder: number;
  /** Largest backwards step of `t` seen, ms. */
  maxBackwardsMs: number;
  /** Nodes that appear in events but not in the header's `nodes`. */
  unknownNodes: NodeId[];
  lastT: number;
}

export interface CaptureHandlers {
  onHeader?(h: CaptureHeader): void;
  onEvent(ev: RaftEvent, line: number): void;
  /** Called for each skipped line and for notices; the reader goes on. */
  onProblem?(p: CaptureProblem): void;
}

export class CaptureError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
  }
}

/** Lines longer than this are skipped without being buffered whole (a sane event is < 1 MiB). */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Notices about nodes missing from the header: one per node, at most this many. */
const MAX_UNKNOWN_NODE_NOTICES = 64;
/** Bytes per read. */
const CHUNK_BYTES = 1 << 20;
const NL = 0x0a;

export interface ReadCaptureOptions {
  /** Bytes per read (default 1 MiB). Tests use small reads to put chunk boundaries inside lines. */
  chunkBytes?: number;
}

/**
 * Streams a capture file through `h`. Rejects with a CaptureError when the file is unusable
 * (missing, no header, unknown version); bad event lines go to `onProblem` and are skipped.
 */
export async function readCapture(file: string, h: CaptureHandlers, opts: ReadCaptureOptions = {}): Promise<CaptureReadSummary> {
  const summary: CaptureReadSummary = {
    lines: 0,
    events: 0,
    skippedLines: 0,
    outOfOrder: 0,
    maxBackwardsMs: 0,
    unknownNodes: [],
    lastT: 0,
  };
  let header: CaptureHeader | undefined;
  let known: Set<NodeId> | undefined;
  const unknown = new Set<NodeId>();
  let prevT = -Infinity;

  const report = (line: number, message: string, field?: string): void => {
    h.onProblem?.({ file, line, field, message });
  };

  const noteUnknown = (id: NodeId, line: number): void => {
    if (unknown.has(id) || id === 'raftguard') return;
    unknown.add(id);
    if (unknown.size <= MAX_UNKNOWN_NODE_NOTICES) {
      report(line, `node "${id}" is not in the header's nodes [${[...known!].join(', ')}]; learning it from traffic`, 'from/to');
    }
  };

  const handleLine = (text: string): void => {
    const lineNo = ++summary.lines;
    if (text.length === 0 || (text.length === 1 && text === '\r')) {
      if (lineNo === 1) throw new CaptureError(file, 1, 'empty first line: expected the capture header {"raftguard":"capture","version":1,...}');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      if (lineNo === 1) {
        throw new CaptureError(file, 1, `not JSON (${(err as Error).message}): expected the capture header {"raftguard":"capture","version":1,...}`);
      }
      summary.skippedLines++;
      report(lineNo, `not valid JSON: ${(err as Error).message}`);
      return;
    }
    if (lineNo === 1) {
      const hv = validateHeader(parsed);
      if (isProblem(hv)) throw new CaptureError(file, 1, `bad capture header: field "${hv.field}": expected ${hv.expected}`);
      header = hv;
      if (hv.nodes) known = new Set(hv.nodes);
      h.onHeader?.(hv);
      return;
    }
    const ev = validateEvent(parsed);
    if (isProblem(ev)) {
      summary.skippedLines++;
      report(lineNo, `field "${ev.field}": expected ${ev.expected}`, ev.field);
      return;
    }
    accept(ev, lineNo);
  };

  const accept = (ev: RaftEvent, lineNo: number): void => {
    if (known) {
      if (!known.has(ev.from)) noteUnknown(ev.from, lineNo);
      if (!known.has(ev.to)) noteUnknown(ev.to, lineNo);
    }
    if (ev.t < prevT) {
      summary.outOfOrder++;
      if (prevT - ev.t > summary.maxBackwardsMs) summary.maxBackwardsMs = prevT - ev.t;
    } else {
      prevT = ev.t;
    }
    summary.events++;
    summary.lastT = prevT;
    h.onEvent(ev, lineNo);
  };

  // chunk[from, to): one or more complete lines separated by '\n', no final newline. Event lines go
  // through the fast path first (src/events/fast-line.ts), which reads the bytes and finds the line's
  // end itself; what it does not take (the header, a line it declines) is decoded as UTF-8 and goes
  // through JSON.parse and validateEvent, which also word any error.
  const handleBlock = (chunk: Buffer, from: number, to: number): void => {
    setBlock(chunk);
    let start = from;
    for (;;) {
      let nl: number;
      const ev = summary.lines > 0 ? parseEventLine(start, to) : undefined;
      if (ev !== undefined) {
        nl = lineEnd();
        accept(ev, ++summary.lines);
      } else {
        nl = chunk.indexOf(NL, start);
        if (nl < 0 || nl > to) nl = to;
        handleLine(chunk.toString('utf8', start, nl));
      }
      if (nl >= to) return;
      start = nl + 1;
    }
  };

  // Bytes, split on the 0x0A byte (never part of a multi-byte UTF-8 character): the complete lines
  // of a read are decoded together, and a character split across two reads is only ever in the
  // carried bytes of an unfinished line, decoded once the line ends.
  const stream = createReadStream(file, { highWaterMark: opts.chunkBytes ?? CHUNK_BYTES });
  // The line begun in earlier reads, not yet ended (its bytes, bounded by MAX_LINE_BYTES).
  const carry: Buffer[] = [];
  let carryBytes = 0;
  let skippingLongLine = false;
  const keep = (b: Buffer): void => {
    if (b.length === 0) return;
    carry.push(b);
    carryBytes += b.length;
    if (carryBytes > MAX_LINE_BYTES) {
      summary.lines++;
      summary.skippedLines++;
      report(summary.lines, `line longer than ${MAX_LINE_BYTES} bytes: skipped`);
      carry.length = 0;
      carryBytes = 0;
      skippingLongLine = true;
    }
  };
  // The line that crossed a read boundary, whole: read like any other line (fast path first). Taking
  // it through JSON.parse instead, one line per 1 MiB read, handed the engine an event whose type
  // string was not one of the fast path's constants, and every optimized handler that compares
  // `type` was thrown back to the interpreter at the first read boundary (a 100k-event replay: 35 -> 18
  // deopts).
  // Called only with bytes carried (carryBytes > 0), so the line is never empty.
  const handleCarried = (tail: Buffer): void => {
    carry.push(tail);
    const b = carry.length === 1 ? carry[0]! : Buffer.concat(carry);
    carry.length = 0;
    carryBytes = 0;
    handleBlock(b, 0, b.length);
  };

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      if (skippingLongLine) {
        const nl = chunk.indexOf(NL);
        if (nl < 0) continue;
        skippingLongLine = false;
        start = nl + 1;
      }
      const last = chunk.lastIndexOf(NL);
      if (last < start) {
        keep(chunk.subarray(start));
        continue;
      }
      if (carryBytes > 0) {
        const nl = chunk.indexOf(NL, start);
        handleCarried(chunk.subarray(start, nl));
        start = nl + 1;
      }
      if (start <= last) handleBlock(chunk, start, last);
      keep(chunk.subarray(last + 1));
    }
    if (carryBytes > 0) handleCarried(Buffer.alloc(0));
  } catch (err) {
    stream.destroy();
    if (err instanceof CaptureError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new CaptureError(file, 0, 'no such file');
    if (e.code === 'EISDIR') throw new CaptureError(file, 0, 'is a directory, expected a capture file');
    throw new CaptureError(file, summary.lines, `read failed: ${e.message}`);
  }
  if (!header) throw new CaptureError(file, 1, 'empty file: expected the capture header {"raftguard":"capture","version":1,...}');
  summary.unknownNodes = [...unknown];
  return summary;
}

/** Reads only line 1. */
export async function readCaptureHeader(file: string): Promise<CaptureHeader> {
  let header: CaptureHeader | undefined;
  const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
  let buf = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buf += chunk.toString('utf8');
      if (buf.includes('\n') || buf.length > MAX_LINE_BYTES) break;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CaptureError(file, 0, e.code === 'ENOENT' ? 'no such file' : `read failed: ${e.message}`);
  } finally {
    stream.destroy();
  }
  const first = buf.split('\n', 1)[0] ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(first);
  } catch {
    throw new CaptureError(file, 1, 'not JSON: expected the capture header {"raftguard":"capture","version":1,...}');
  }
  const hv = validateHeader(parsed);
  if (isProblem(hv)) throw new CaptureError(file, 1, `bad capture header: field "${hv.field}": expected ${hv.expected}`);
  header = hv;
  return header;
}

export interface CaptureWriterOptions {
  /** Rotate when the current file reaches this size (bytes). 0 = never. */
  maxBytes?: number;
  /** Rotated files kept (FILE.1 … FILE.N, newest first). */
  keep?: number;
}

/**
 * Writes a capture. Each rotated file starts with the same header so every file replays on its own.
 * Writes are buffered by the stream; `close()` flushes.
 */
export class CaptureWriter {
  private out: WriteStream;
  private bytes = 0;
  private readonly headerLine: string;

  constructor(
    readonly path: string,
    header: CaptureHeader,
    private readonly opts: CaptureWriterOptions = {},
  ) {
    this.headerLine = JSON.stringify(header) + '\n';
    this.out = this.open();
  }

  private open(): WriteStream {
    // Open synchronously: the file must exist before a rotation can rename it (a stream opens later).
    const out = createWriteStream(this.path, { fd: openSync(this.path, 'w') });
    out.write(this.headerLine);
    this.bytes = this.headerLine.length;
    return out;
  }

  write(ev: RaftEvent): void {
    const line = JSON.stringify(ev) + '\n';
    this.out.write(line);
    this.bytes += line.length;
    const max = this.opts.maxBytes ?? 0;
    if (max > 0 && this.bytes >= max) this.rotate();
  }

  private rotate(): void {
    const keep = Math.max(1, this.opts.keep ?? 5);
    this.out.end();
    const oldest = `${this.path}.${keep}`;
    if (existsSync(oldest)) rmSync(oldest);
    for (let i = keep - 1; i >= 1; i--) {
      if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.out = this.open();
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
