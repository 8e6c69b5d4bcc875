// Shared helpers for the HTTP/2 reader tests: a real Relay with the reader (and a recorder of the raw
// tapped bytes) in front of a real server on loopback.
import { createHash } from 'node:crypto';
import { Relay } from '../../../proxy/relay.js';
import type { ConnectionInfo, Direction, Tap } from '../../../proxy/tap.js';
import { createHttp2Tap, type ConnectionReader, type GrpcMessage, type GrpcStreamEnd, type Http2ReadError, type Http2ReaderOptions, type Http2TapFactory } from '../../../proxy/http2/reader.js';

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

export interface Seen {
  messages: GrpcMessage[];
  ends: GrpcStreamEnd[];
  errors: Http2ReadError[];
}

export function collector(): Seen & { handler: { onMessage(m: GrpcMessage): void; onStreamEnd(e: GrpcStreamEnd): void; onError(e: Http2ReadError): void } } {
  const seen: Seen = { messages: [], ends: [], errors: [] };
  return {
    ...seen,
    handler: {
      onMessage: (m) => seen.messages.push(m),
      onStreamEnd: (e) => seen.ends.push(e),
      onError: (e) => seen.errors.push(e),
    },
  };
}

export interface RawRecording {
  conn: ConnectionInfo;
  /** the live reader of this connection */
  reader?: ConnectionReader;
  chunks: Array<{ dir: Direction; chunk: Buffer }>;
}

export interface RelayUnderTest {
  relay: Relay;
  port: number;
  seen: Seen;
  tap: Http2TapFactory;
  recordings: RawRecording[];
  readerErrors: unknown[];
}

/** Starts a Relay to `targetPort` with the HTTP/2 reader and a raw recorder on each connection. */
export async function startRelay(targetPort: number, opts?: Http2ReaderOptions): Promise<RelayUnderTest> {
  const c = collector();
  const seen: Seen = c;
  const tap = createHttp2Tap(c.handler, opts);
  const recordings: RawRecording[] = [];
  const readerErrors: unknown[] = [];
  const relay = new Relay({
    member: 'n1',
    listen: { host: '127.0.0.1', port: 0 },
    target: { host: '127.0.0.1', port: targetPort },
    closeGraceMs: 200,
    onReaderError: (_c, err) => readerErrors.push(err),
    tapFactory: (conn) => {
      const reader = tap(conn)!;
      const rec: RawRecording = { conn, reader: reader as ConnectionReader, chunks: [] };
      recordings.push(rec);
      const both: Tap = {
        data(dir, chunk, t) {
          rec.chunks.push({ dir, chunk: Buffer.from(chunk) });
          reader.data(dir, chunk, t);
        },
        end(t) {
          reader.end(t);
        },
      };
      return both;
    },
  });
  const addr = await relay.start();
  return { relay, port: addr.port, seen, tap, recordings, readerErrors };
}

/** Feeds a recording into a fresh reader, re-cut into chunks by `cut` (returns the next chunk size). */
export function replay(rec: RawRecording, cut: (remaining: number) => number, opts?: Http2ReaderOptions): Seen {
  const c = collector();
  const reader = createHttp2Tap(c.handler, opts)(rec.conn)!;
  for (const { dir, chunk } of rec.chunks) {
    for (let off = 0; off < chunk.length; ) {
      const n = Math.max(1, Math.min(chunk.length - off, cut(chunk.length - off)));
      reader.data(dir, chunk.subarray(off, off + n), 0);
      off += n;
    }
  }
  reader.end(0);
  return c;
}

/** Counts frames by type in one direction of a recording (c2s skips the 24-byte preface). */
export function frameTypes(rec: RawRecording, dir: Direction): Map<number, number> {
  const bytes = Buffer.concat(rec.chunks.filter((c) => c.dir === dir).map((c) => c.chunk));
  const counts = new Map<number, number>();
  let p = dir === 'c2s' ? 24 : 0;
  while (p + 9 <= bytes.length) {
    const len = bytes.readUIntBE(p, 3);
    const type = bytes[p + 3]!;
    counts.set(type, (counts.get(type) ?? 0) + 1);
    p += 9 + len;
  }
  return counts;
}

export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** gRPC length-prefixed framing (uncompressed). */
export function grpcFrame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** Splits a byte stream of gRPC frames into messages (uncompressed only). */
export function grpcUnframe(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p + 5 <= b.length; ) {
    const len = b.readUInt32BE(p + 1);
    out.push(b.subarray(p + 5, p + 5 + len));
    p += 5 + len;
  }
  return out;
}
