// Body decoders for rafthttp (etcd 3.4), each a BodyConsumer fed with de-chunked body bytes as they
// arrive. Frame boundaries are independent of chunk boundaries, so every decoder carries at most one
// partial field over (an 8-byte length, or one message up to a bound). A message wholly inside the
// chunk being read is decoded in place, without a copy.
//
//   message stream  GET /raft/stream/message/<id>  response: [u64 BE length][raftpb.Message]...
//   msgappv2 stream GET /raft/stream/msgapp/<id>   response: records 0x00 | 0x01 AppEntries | 0x02 Message
//   snapshot        POST /raft/snapshot            request:  [u64 BE length][MsgSnap] + the DB (skipped)
//   pipeline        POST /raft                     request:  one raftpb.Message, Content-Length framed

import type { BodyConsumer } from '../../../proxy/http1/reader.js';
import { MessageType, decodeEntry, decodeMessage, type RawEntry, type RawMessage } from './raftpb.js';

export type EtcdChannel = 'message-stream' | 'msgapp-stream' | 'pipeline' | 'snapshot' | 'members';

export interface StreamSink {
  /** A decoded message; `t` = the time of the chunk that completed it. */
  message(m: RawMessage, t: number, channel: EtcdChannel): void;
  linkHeartbeat(channel: EtcdChannel): void;
  /** `offset` = byte offset in the de-chunked body where the problem starts. */
  error(channel: EtcdChannel, offset: number, message: string): void;
}

export interface StreamLimits {
  /** Largest single raftpb.Message (or Entry) decoded; larger frames are skipped with an error. */
  maxMessageBytes: number;
  /** Largest MsgSnap (it carries the v2 store JSON) read at the head of a snapshot upload. */
  maxSnapshotMessageBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxMessageBytes: 64 * 1024 * 1024,
  maxSnapshotMessageBytes: 64 * 1024 * 1024,
};

/** etcd's receiver drops a stream whose frame length exceeds this (512 MiB). */
const ETCD_MAX_FRAME = 512 * 1024 * 1024;
/** Bound on the entry count of one AppEntries record (a 1 MiB MsgApp holds far fewer). */
const MAX_APPENTRIES_COUNT = 1 << 20;

const EMPTY = Buffer.alloc(0);

/** Collects exactly `want` bytes across chunks; a view into the chunk when they are all in it. */
class FieldReader {
  want = 0;
  have = 0;
  value: Buffer = EMPTY;
  private buf: Buffer | undefined;
  private readonly scratch8 = Buffer.allocUnsafe(8);
  private numeric = false;
  /** A numeric field read by fill() straight from the chunk (no view made): its value, -1 above 2^53; -2 = not read that way. */
  private direct = -2;

  /** The next field is an 8-byte big-endian number (a length, count or commit): read with u64(). */
  beginU64(): void {
    this.begin(8);
    this.numeric = true;
  }

  begin(n: number): void {
    this.numeric = false;
    this.want = n;
    this.have = 0;
    this.buf = undefined;
    this.value = EMPTY;
    this.direct = -2;
  }

  get done(): boolean {
    return this.have === this.want;
  }

  fill(chunk: Buffer, pos: number): number {
    if (this.have === 0 && chunk.length - pos >= this.want) {
      if (this.numeric) {
        // Lengths, counts and commits: read in place, no subarray per field.
        const high = ((chunk[pos]! << 24) | (chunk[pos + 1]! << 16) | (chunk[pos + 2]! << 8) | chunk[pos + 3]!) >>> 0;
        const low = ((chunk[pos + 4]! << 24) | (chunk[pos + 5]! << 16) | (chunk[pos + 6]! << 8) | chunk[pos + 7]!) >>> 0;
        this.direct = high > 0x1fffff ? -1 : high * 0x1_0000_0000 + low;
        this.have = 8;
        this.value = EMPTY;
        return pos + 8;
      }
      this.value = chunk.subarray(pos, pos + this.want);
      this.have = this.want;
      return pos + this.want;
    }
    this.direct = -2;
    if (!this.buf) this.buf = this.want <= 8 ? this.scratch8 : Buffer.allocUnsafe(this.want);
    const take = Math.min(this.want - this.have, chunk.length - pos);
    chunk.copy(this.buf, this.have, pos, pos + take);
    this.have += take;
    if (this.have === this.want) {
      this.value = this.buf.subarray(0, this.want);
      if (this.want > 8) this.buf = undefined; // do not keep a large frame's buffer
    }
    return pos + take;
  }

  /** The collected 8 bytes as a uint64; -1 when above 2^53 - 1. */
  u64(): number {
    if (this.direct !== -2) return this.direct;
    const high = this.value.readUInt32BE(0);
    const low = this.value.readUInt32BE(4);
    if (high > 0x1fffff) return -1;
    return high * 0x1_0000_0000 + low;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `message` stream: 8-byte big-endian length, then one raftpb.Message. */
export class MessageStreamDecoder implements BodyConsumer {
  private readonly field = new FieldReader();
  private phase: 'len' | 'msg' | 'skip' | 'dead' = 'len';
  private skip = 0;
  private offset = 0;
  private frameStart = 0;

  constructor(
    private readonly sink: StreamSink,
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
    private readonly channel: EtcdChannel = 'message-stream',
  ) {
    this.field.beginU64();
  }

  data(chunk: Buffer, t: number): boolean {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.phase === 'dead') return false;
      if (this.phase === 'len') {
        pos = this.field.fill(chunk, pos);
        if (!this.field.done) break;
        this.frameStart = this.offset + pos - 8;
        const len = this.field.u64();
        if (len < 0 || len > ETCD_MAX_FRAME) {
          this.sink.error(this.channel, this.frameStart, `frame length ${len < 0 ? '>= 2^53' : len} exceeds etcd's 512 MiB limit; stream abandoned`);
          this.phase = 'dead';
          return false;
        }
        if (len > this.limits.maxMessageBytes) {
          this.sink.error(this.channel, this.frameStart, `frame of ${len} bytes exceeds the ${this.limits.maxMessageBytes}-byte decode limit; skipped`);
          this.phase = 'skip';
          this.skip = len;
          continue;
        }
        this.phase = 'msg';
        this.field.begin(len);
        if (len === 0) this.frame(EMPTY, t);
      } else if (this.phase === 'msg') {
        pos = this.field.fill(chunk, pos);
        if (this.field.done) this.frame(this.field.value, t);
      } else {
        const take = Math.min(this.skip, n - pos);
        pos += take;
        this.skip -= take;
        if (this.skip === 0) {
          this.phase = 'len';
          this.field.beginU64();
        }
      }
    }
    this.offset += n;
    return true;
  }

  end(): void {
    this.phase = 'dead';
  }

  private frame(bytes: Buffer, t: number): void {
    this.phase = 'len';
    this.field.beginU64();
    let m: RawMessage;
    try {
      m = decodeMessage(bytes);
    } catch (err) {
      this.sink.error(this.channel, this.frameStart + 8, describe(err));
      return;
    }
    if (m.type === MessageType.MsgHeartbeat && m.from === '0' && m.to === '0') this.sink.linkHeartbeat(this.channel);
    else this.sink.message(m, t, this.channel);
  }
}

/**
 * The msgappv2 stream. State (term, index) lives per response body and starts at (0, 0): every new
 * stream begins with a full 0x02 MsgApp, which sets it. `serverId`/`dialerId` (hex) are the implied
 * From/To of 0x01 records: the stream's server sends, the dialer receives.
 */
export class MsgAppV2Decoder implements BodyConsumer {
  private readonly field = new FieldReader();
  private phase: 'type' | 'len2' | 'msg2' | 'count' | 'entlen' | 'entry' | 'commit' | 'dead' = 'type';
  private offset = 0;
  private recordStart = 0;
  /** (term, index) of the last MsgApp, as the encoder keeps it; undefined = not known. */
  private term: number | undefined = 0;
  private index: number | undefined = 0;
  private started = false;
  private count = 0;
  private entries: RawEntry[] = [];
  private entryError: string | undefined;

  constructor(
    private readonly sink: StreamSink,
    private readonly serverId: string | undefined,
    private readonly dialerId: string,
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  ) {}

  data(chunk: Buffer, t: number): boolean {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      const at = this.offset + pos;
      switch (this.phase) {
        case 'dead':
          return false;
        case 'type': {
          const type = chunk[pos]!;
          this.recordStart = at;
          pos++;
          if (type === 0) {
            this.sink.linkHeartbeat('msgapp-stream');
          } else if (type === 1) {
            this.phase = 'count';
            this.field.beginU64();
          } else if (type === 2) {
            this.phase = 'len2';
            this.field.beginU64();
          } else {
            // etcd's own reader drops the stream on an unknown record type; so do we.
            return this.die(at, `unknown msgappv2 record type ${type}; stream abandoned`);
          }
          break;
        }
        case 'len2': {
          pos = this.field.fill(chunk, pos);
          if (!this.field.done) break;
          const len = this.field.u64();
          if (len < 0 || len > this.limits.maxMessageBytes) {
            return this.die(this.recordStart, `MsgApp record length ${len < 0 ? '>= 2^53' : len} exceeds the ${this.limits.maxMessageBytes}-byte limit; stream abandoned`);
          }
          this.phase = 'msg2';
          this.field.begin(len);
          if (len === 0) this.fullMessage(EMPTY, t);
          break;
        }
        case 'msg2': {
          pos = this.field.fill(chunk, pos);
          if (this.field.done) this.fullMessage(this.field.value, t);
          break;
        }
        case 'count': {
          pos = this.field.fill(chunk, pos);
          if (!this.field.done) break;
          const count = this.field.u64();
          if (count < 0 || count > MAX_APPENTRIES_COUNT) {
            return this.die(this.recordStart, `AppEntries entry count ${count < 0 ? '>= 2^53' : count} is implausible; stream abandoned`);
          }
          this.count = count;
          this.entries = [];
          this.entryError = undefined;
          this.field.beginU64();
          this.phase = count === 0 ? 'commit' : 'entlen';
          break;
        }
        case 'entlen': {
          pos = this.field.fill(chunk, pos);
          if (!this.field.done) break;
          const len = this.field.u64();
          if (len < 0 || len > this.limits.maxMessageBytes) {
            return this.die(at, `entry length ${len < 0 ? '>= 2^53' : len} exceeds the ${this.limits.maxMessageBytes}-byte limit; stream abandoned`);
          }
          this.field.begin(len);
          this.phase = 'entry';
          if (len === 0) this.entry(EMPTY, at);
          break;
        }
        case 'entry': {
          pos = this.field.fill(chunk, pos);
          if (this.field.done) this.entry(this.field.value, at);
          break;
        }
        case 'commit': {
          pos = this.field.fill(chunk, pos);
          if (!this.field.done) break;
          const commit = this.field.u64();
          this.phase = 'type';
          this.appEntries(commit, t);
          break;
        }
      }
    }
    this.offset += n;
    return true;
  }

  end(): void {
    this.phase = 'dead';
    this.entries = [];
  }

  private die(offset: number, message: string): false {
    this.sink.error('msgapp-stream', offset, message);
    this.phase = 'dead';
    this.entries = [];
    return false;
  }

  private entry(bytes: Buffer, at: number): void {
    if (this.entryError === undefined) {
      try {
        this.entries.push(decodeEntry(bytes));
      } catch (err) {
        this.entryError = `entry ${this.entries.length} at body offset ${at}: ${describe(err)}`;
      }
    }
    this.count--;
    this.field.beginU64();
    this.phase = this.count === 0 ? 'commit' : 'entlen';
  }

  private fullMessage(bytes: Buffer, t: number): void {
    this.phase = 'type';
    this.started = true;
    let m: RawMessage;
    try {
      m = decodeMessage(bytes);
    } catch (err) {
      // Framing is intact but the state the next 0x01 records build on is lost.
      this.term = undefined;
      this.index = undefined;
      this.sink.error('msgapp-stream', this.recordStart, describe(err));
      return;
    }
    this.term = m.term;
    this.index = m.entries.length > 0 ? m.entries[m.entries.length - 1]!.index : m.index;
    this.sink.message(m, t, 'msgapp-stream');
  }

  private appEntries(commit: number, t: number): void {
    const entries = this.entries;
    this.entries = [];
    if (this.entryError !== undefined) {
      this.term = undefined;
      this.index = undefined;
      this.sink.error('msgapp-stream', this.recordStart, this.entryError);
      return;
    }
    if (commit < 0) {
      this.sink.error('msgapp-stream', this.recordStart, 'AppEntries commit >= 2^53');
      return;
    }
    if (!this.started) {
      // etcd's encoder always opens a stream with a full MsgApp; (0, 0) state here means we did not
      // see the start of this stream, or the peer is not etcd 3.4.
      this.sink.error('msgapp-stream', this.recordStart, 'AppEntries record before any full MsgApp: stream start not seen');
      this.started = true;
      this.term = undefined;
      this.index = undefined;
    }
    const first = entries[0];
    if (first) {
      if (this.term === undefined || this.index === undefined) {
        // Resynchronise from the entries themselves: a 0x01 record is only used when the new entries
        // are of the leader's term and follow the previous MsgApp directly.
        this.term = first.term;
        this.index = first.index - 1;
      } else if (first.term !== this.term || first.index !== this.index + 1) {
        this.sink.error(
          'msgapp-stream',
          this.recordStart,
          `AppEntries entry (term ${first.term}, index ${first.index}) does not follow the stream state (term ${this.term}, index ${this.index})`,
        );
        this.term = first.term;
        this.index = first.index - 1;
        return;
      }
    } else if (this.term === undefined || this.index === undefined) {
      return; // a commit-only record with no known position: nothing trustworthy to report
    }
    if (this.serverId === undefined) {
      this.sink.error('msgapp-stream', this.recordStart, 'AppEntries record on a stream whose request had no X-Raft-To header: sender unknown');
      this.index += entries.length;
      return;
    }
    const m: RawMessage = {
      type: MessageType.MsgApp,
      from: this.serverId,
      to: this.dialerId,
      term: this.term,
      logTerm: this.term,
      index: this.index,
      entries,
      commit,
      reject: false,
      rejectHint: 0,
    };
    this.index += entries.length;
    this.sink.message(m, t, 'msgapp-stream');
  }
}

/** POST /raft/snapshot: reads the leading [u64 length][MsgSnap], then declines the DB bytes. */
export class SnapshotBodyDecoder implements BodyConsumer {
  private readonly field = new FieldReader();
  private phase: 'len' | 'msg' | 'done' = 'len';

  constructor(
    private readonly sink: StreamSink,
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  ) {
    this.field.beginU64();
  }

  data(chunk: Buffer, t: number): boolean {
    let pos = 0;
    while (pos < chunk.length && this.phase !== 'done') {
      pos = this.field.fill(chunk, pos);
      if (!this.field.done) break;
      if (this.phase === 'len') {
        const len = this.field.u64();
        if (len < 0 || len > this.limits.maxSnapshotMessageBytes) {
          this.sink.error('snapshot', 0, `MsgSnap length ${len < 0 ? '>= 2^53' : len} exceeds the ${this.limits.maxSnapshotMessageBytes}-byte limit; not decoded`);
          this.phase = 'done';
          break;
        }
        this.phase = 'msg';
        this.field.begin(len);
        if (len === 0) this.done(EMPTY, t);
      } else {
        this.done(this.field.value, t);
      }
    }
    // The rest of the body is the bbolt DB: tell the reader to skip it unseen.
    return this.phase !== 'done';
  }

  end(): void {
    this.phase = 'done';
  }

  private done(bytes: Buffer, t: number): void {
    this.phase = 'done';
    let m: RawMessage;
    try {
      m = decodeMessage(bytes);
    } catch (err) {
      this.sink.error('snapshot', 8, describe(err));
      return;
    }
    if (m.type !== MessageType.MsgSnap) {
      this.sink.error('snapshot', 8, `snapshot upload carries message type ${m.type}, expected MsgSnap (7)`);
      return;
    }
    this.sink.message(m, t, 'snapshot');
  }
}

/** Collects a whole (small) body up to a bound, then hands it on once complete. */
export class BoundedBodyCollector implements BodyConsumer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly limit: number,
    private readonly onComplete: (body: Buffer, t: number) => void,
    private readonly onTooLarge: (size: number) => void,
  ) {}

  data(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.parts.length = 0;
      this.onTooLarge(this.size);
      return false;
    }
    this.parts.push(Buffer.from(chunk)); // copy: the chunk is the caller's
    return true;
  }

  end(t: number, complete: boolean): void {
    if (!complete || this.size > this.limit) return;
    const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts.length = 0;
    this.onComplete(body, t);
  }
}
