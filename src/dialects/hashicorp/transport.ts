// HashiCorp raft NetworkTransport framing over one TCP connection (shared/research/hashicorp-raft.md
// §3.1-3.3). There is no length prefix: boundaries are found by parsing msgpack.
//
//   dialer → acceptor (requests):  [rpc type byte 0..4] [msgpack map]  (InstallSnapshot: + Size raw bytes)
//   acceptor → dialer (responses): [msgpack error string] [msgpack map, or nil after an error]
//
// Each direction is one RpcStream: it yields whole frames and never keeps more than the msgpack
// reader's one partial value. InstallSnapshot's data is skipped as it streams past (never buffered).
// After a framing error a stream is dead: the bytes after it cannot be trusted to be aligned.

import { MsgpackError, MsgpackReader, type MsgMap, type MsgValue, type MsgpackLimits } from './msgpack.js';

export const RpcType = {
  AppendEntries: 0,
  RequestVote: 1,
  InstallSnapshot: 2,
  TimeoutNow: 3,
  RequestPreVote: 4,
} as const;

export const RPC_NAMES = ['AppendEntries', 'RequestVote', 'InstallSnapshot', 'TimeoutNow', 'RequestPreVote'] as const;

export interface RequestFrame {
  rpc: number;
  body: MsgMap;
  /** Offset of the type byte in this direction of the connection. */
  offset: number;
  /** For InstallSnapshot: the snapshot bytes that follow (skipped). */
  snapshotSize?: number;
}

export interface ResponseFrame {
  /** The remote error text; "" on success. */
  error: string;
  /** nil after an error (the handler had no response object). */
  body: MsgMap | null;
  offset: number;
}

export class FramingError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const utf8 = new TextDecoder();

function kindOf(v: MsgValue): string {
  if (v === null) return 'nil';
  if (v instanceof Uint8Array) return 'a string';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Map) return 'a map';
  if (typeof v === 'object') return 'an ext value';
  return `a ${typeof v}`;
}

/** The request direction: type byte, map, and for InstallSnapshot the raw data to skip. */
export class RequestStream {
  private readonly reader: MsgpackReader;
  private phase: 'type' | 'body' | 'skip' | 'dead' = 'type';
  private rpc = 0;
  private frameStart = 0;
  private skipLeft = 0;
  /** Bytes of this direction consumed so far. */
  offset = 0;

  constructor(limits?: Partial<MsgpackLimits>) {
    this.reader = new MsgpackReader(limits);
  }

  get dead(): boolean {
    return this.phase === 'dead';
  }

  /** True between frames (nothing partial held): where a connection may cleanly end. */
  get idle(): boolean {
    return this.phase === 'type';
  }

  /** Bytes of snapshot data still to skip (0 outside a snapshot). */
  get skipping(): number {
    return this.phase === 'skip' ? this.skipLeft : 0;
  }

  /** Feeds one chunk; calls onFrame per whole request. Throws FramingError (then the stream is dead). */
  data(chunk: Uint8Array, onFrame: (f: RequestFrame) => void): void {
    let pos = 0;
    const base = this.offset;
    try {
      while (pos < chunk.length && this.phase !== 'dead') {
        if (this.phase === 'skip') {
          const take = Math.min(this.skipLeft, chunk.length - pos);
          pos += take;
          this.skipLeft -= take;
          if (this.skipLeft === 0) this.phase = 'type';
          continue;
        }
        if (this.phase === 'type') {
          this.frameStart = base + pos;
          const b = chunk[pos]!;
          if (b > RpcType.RequestPreVote) {
            throw new FramingError(`unknown rpc type byte 0x${b.toString(16).padStart(2, '0')} (expected 0-4: AppendEntries, RequestVote, InstallSnapshot, TimeoutNow, RequestPreVote)`, base + pos);
          }
          this.rpc = b;
          pos++;
          this.phase = 'body';
          this.readerBase = base + pos;
          continue;
        }
        pos = this.reader.read(chunk, pos);
        if (!this.reader.done) break;
        const v = this.reader.value;
        this.reader.reset();
        if (!(v instanceof Map)) throw new FramingError(`${RPC_NAMES[this.rpc]} request is ${kindOf(v)}, expected a msgpack map`, this.frameStart + 1);
        const frame: RequestFrame = { rpc: this.rpc, body: v, offset: this.frameStart };
        this.phase = 'type';
        if (this.rpc === RpcType.InstallSnapshot) {
          const size = v.get('Size');
          if (typeof size !== 'number' || size < 0) {
            throw new FramingError(`InstallSnapshot Size is ${typeof size === 'bigint' ? String(size) : kindOf(size ?? null)}, expected a byte count (the snapshot data cannot be skipped)`, this.frameStart);
          }
          frame.snapshotSize = size;
          if (size > 0) {
            this.skipLeft = size;
            this.phase = 'skip';
          }
        }
        onFrame(frame);
      }
    } catch (err) {
      this.phase = 'dead';
      // Reader offsets count only msgpack bytes; the value being read started at readerBase here.
      throw toFramingError(err, (o) => this.readerBase + (o - this.reader.valueStart));
    } finally {
      this.offset = base + chunk.length;
    }
  }

  /** Offset in this direction at which the reader's own offsets start (after the current type byte). */
  private readerBase = 0;
}

/** The response direction: error string, then the response map (or nil). */
export class ResponseStream {
  private readonly reader: MsgpackReader;
  private phase: 'error' | 'body' | 'dead' = 'error';
  private errorText = '';
  private frameStart = 0;
  offset = 0;

  constructor(limits?: Partial<MsgpackLimits>) {
    this.reader = new MsgpackReader(limits);
  }

  get dead(): boolean {
    return this.phase === 'dead';
  }

  get idle(): boolean {
    return this.phase === 'error' && !this.reader.inProgress;
  }

  data(chunk: Uint8Array, onFrame: (f: ResponseFrame) => void): void {
    let pos = 0;
    const base = this.offset;
    try {
      while (pos < chunk.length && this.phase !== 'dead') {
        if (this.phase === 'error' && !this.reader.inProgress) this.frameStart = base + pos;
        pos = this.reader.read(chunk, pos);
        if (!this.reader.done) break;
        const v = this.reader.value;
        this.reader.reset();
        if (this.phase === 'error') {
          if (v !== null && !(v instanceof Uint8Array)) throw new FramingError(`response error slot is ${kindOf(v)}, expected a msgpack string`, this.frameStart);
          this.errorText = v === null ? '' : utf8.decode(v);
          this.phase = 'body';
          continue;
        }
        if (v !== null && !(v instanceof Map)) throw new FramingError(`response is ${kindOf(v)}, expected a msgpack map or nil`, this.frameStart);
        this.phase = 'error';
        onFrame({ error: this.errorText, body: v, offset: this.frameStart });
      }
    } catch (err) {
      this.phase = 'dead';
      // The reader sees every byte of this direction: its offsets are the direction's.
      throw toFramingError(err, (o) => o);
    } finally {
      this.offset = base + chunk.length;
    }
  }
}

function toFramingError(err: unknown, at: (readerOffset: number) => number): FramingError {
  if (err instanceof FramingError) return err;
  if (err instanceof MsgpackError) return new FramingError(`msgpack: ${err.message}`, at(err.offset));
  return new FramingError(err instanceof Error ? err.message : String(err), -1);
}
