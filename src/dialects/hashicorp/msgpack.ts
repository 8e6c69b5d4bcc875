// An incremental msgpack reader for HashiCorp raft's NetworkTransport streams
// (shared/research/hashicorp-raft.md §3.2, §3.4). Bytes arrive in arbitrary chunks and one value may
// span any number of them, so the reader is a resumable state machine with an explicit container
// stack: at most one partial header (≤ 9 bytes) or one partial raw value is carried between chunks.
//
// It accepts the whole msgpack format, not only what go-msgpack 0.5.5 emits (old-spec raw 0xa0-0xbf /
// 0xda / 0xdb for strings and []byte): newer encoders (go-msgpack/v2) may use str8, bin and signed ints,
// and a decoder that refused them would stop reading a healthy upgraded cluster.
//
// Values: nil → null, bool → boolean, ints → number when safe (|v| ≤ 2^53 - 1) and bigint otherwise,
// so uint64 indexes and terms stay exact; every raw family (str, bin) → Uint8Array (a copy: the relay's
// chunks are not ours to keep), since Go encodes string and []byte alike and only the field says which;
// maps → Map with string keys (wire text, never an object's prototype chain); ext → MsgExt.
//
// Bounded: one top-level value may use at most `maxValueBytes` bytes and `maxValues` values (map keys
// count), nesting at most `maxDepth`. Malformed input or a broken bound throws MsgpackError with the
// offset (in the bytes this reader consumed) where the offending item starts.

export type MsgValue = null | boolean | number | bigint | Uint8Array | MsgValue[] | MsgMap | MsgExt;
export type MsgMap = Map<string, MsgValue>;

export interface MsgExt {
  ext: number;
  data: Uint8Array;
}

export interface MsgpackLimits {
  /** Bytes one top-level value may take on the wire. */
  maxValueBytes: number;
  /** Values (scalars, containers, map keys) in one top-level value: bounds the objects it makes. */
  maxValues: number;
  maxDepth: number;
}

export const DEFAULT_MSGPACK_LIMITS: MsgpackLimits = {
  maxValueBytes: 64 * 1024 * 1024,
  maxValues: 1 << 20,
  maxDepth: 32,
};

export class MsgpackError extends Error {
  constructor(
    message: string,
    /** Offset, in the bytes this reader consumed, of the item the problem is about. */
    readonly offset: number,
  ) {
    super(message);
  }
}

interface Frame {
  map: MsgMap | undefined;
  arr: MsgValue[] | undefined;
  /** Items (array) or key/value halves (map ×2) still to read. */
  remaining: number;
  key: string | undefined;
}

/** What the pending header or raw bytes will become. */
const enum Pending {
  None,
  Header,
  Raw,
}

const enum HeaderKind {
  Uint,
  Int,
  Float32,
  Float64,
  RawLen,
  ExtLen,
  FixExt,
  ArrayLen,
  MapLen,
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: false });
const SAFE_HIGH = 0x1fffff; // high 32 bits of 2^53 - 1

function hex2(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

/**
 * Reads one top-level msgpack value at a time. Call read() with each chunk until `done`; take
 * `value`, then call reset() (or next()) before reading the next value from the rest of the chunk.
 */
export class MsgpackReader {
  readonly limits: MsgpackLimits;
  /** True when read() returned after completing a top-level value. */
  done = false;
  value: MsgValue = null;
  /** Bytes this reader consumed over its life (for error offsets). */
  consumed = 0;
  /** Offset (in `consumed` terms) where the current top-level value started. */
  valueStart = 0;

  private readonly stack: Frame[] = [];
  private pending = Pending.None;
  private headerKind = HeaderKind.Uint;
  private readonly header = new Uint8Array(9);
  private headerWant = 0;
  private headerHave = 0;
  /** For ext: the type byte once the length is known. */
  private extType = -1;
  private raw: Uint8Array = EMPTY;
  private rawHave = 0;
  private rawIsExt = false;
  private itemStart = 0;
  private valueBytes = 0;
  private values = 0;
  private started = false;

  constructor(limits: Partial<MsgpackLimits> = {}) {
    this.limits = { ...DEFAULT_MSGPACK_LIMITS, ...limits };
  }

  /** Forget the completed value; the next read() starts a new top-level value. */
  reset(): void {
    this.done = false;
    this.value = null;
    this.stack.length = 0;
    this.pending = Pending.None;
    this.valueBytes = 0;
    this.values = 0;
    this.started = false;
    this.raw = EMPTY;
  }

  /** True while a top-level value is partly read. */
  get inProgress(): boolean {
    return this.started && !this.done;
  }

  /**
   * Consumes bytes of chunk from pos until one top-level value completes or the chunk ends;
   * returns the position after the bytes consumed. Throws MsgpackError on malformed input.
   */
  read(chunk: Uint8Array, pos: number): number {
    if (this.done) this.reset();
    const end = chunk.length;
    if (!this.started && pos < end) {
      this.started = true;
      this.valueStart = this.consumed;
    }
    while (pos < end) {
      if (this.pending === Pending.Header) {
        const take = Math.min(this.headerWant - this.headerHave, end - pos);
        for (let k = 0; k < take; k++) this.header[this.headerHave + k] = chunk[pos + k]!;
        this.headerHave += take;
        pos = this.advance(pos, take);
        if (this.headerHave < this.headerWant) return pos;
        this.pending = Pending.None;
        if (this.finishHeader()) return pos;
        continue;
      }
      if (this.pending === Pending.Raw) {
        const want = this.raw.length - this.rawHave;
        const take = Math.min(want, end - pos);
        this.raw.set(chunk.subarray(pos, pos + take), this.rawHave);
        this.rawHave += take;
        pos = this.advance(pos, take);
        if (this.rawHave < this.raw.length) return pos;
        this.pending = Pending.None;
        const v: MsgValue = this.rawIsExt ? { ext: this.extType, data: this.raw } : this.raw;
        this.raw = EMPTY;
        if (this.emit(v)) return pos;
        continue;
      }
      this.itemStart = this.consumed;
      const b = chunk[pos]!;
      pos = this.advance(pos, 1);
      if (this.byte(b)) return pos;
    }
    return pos;
  }

  private advance(pos: number, n: number): number {
    this.consumed += n;
    this.valueBytes += n;
    if (this.valueBytes > this.limits.maxValueBytes) {
      throw new MsgpackError(`value larger than the ${this.limits.maxValueBytes}-byte limit`, this.valueStart);
    }
    return pos + n;
  }

  private needHeader(kind: HeaderKind, n: number): false {
    this.pending = Pending.Header;
    this.headerKind = kind;
    this.headerWant = n;
    this.headerHave = 0;
    return false;
  }

  /** Handles one type byte; true when a top-level value completed. */
  private byte(b: number): boolean {
    if (b <= 0x7f) return this.emit(b);
    if (b >= 0xe0) return this.emit(b - 0x100);
    if (b <= 0x8f) return this.open(b & 0x0f, true);
    if (b <= 0x9f) return this.open(b & 0x0f, false);
    if (b <= 0xbf) return this.startRaw(b & 0x1f, false);
    switch (b) {
      case 0xc0:
        return this.emit(null);
      case 0xc2:
        return this.emit(false);
      case 0xc3:
        return this.emit(true);
      case 0xc4:
      case 0xd9:
        return this.needHeader(HeaderKind.RawLen, 1);
      case 0xc5:
      case 0xda:
        return this.needHeader(HeaderKind.RawLen, 2);
      case 0xc6:
      case 0xdb:
        return this.needHeader(HeaderKind.RawLen, 4);
      case 0xc7:
        return this.needHeader(HeaderKind.ExtLen, 2);
      case 0xc8:
        return this.needHeader(HeaderKind.ExtLen, 3);
      case 0xc9:
        return this.needHeader(HeaderKind.ExtLen, 5);
      case 0xca:
        return this.needHeader(HeaderKind.Float32, 4);
      case 0xcb:
        return this.needHeader(HeaderKind.Float64, 8);
      case 0xcc:
        return this.needHeader(HeaderKind.Uint, 1);
      case 0xcd:
        return this.needHeader(HeaderKind.Uint, 2);
      case 0xce:
        return this.needHeader(HeaderKind.Uint, 4);
      case 0xcf:
        return this.needHeader(HeaderKind.Uint, 8);
      case 0xd0:
        return this.needHeader(HeaderKind.Int, 1);
      case 0xd1:
        return this.needHeader(HeaderKind.Int, 2);
      case 0xd2:
        return this.needHeader(HeaderKind.Int, 4);
      case 0xd3:
        return this.needHeader(HeaderKind.Int, 8);
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        this.rawFixExt = 1 << (b - 0xd4);
        return this.needHeader(HeaderKind.FixExt, 1);
      case 0xdc:
        return this.needHeader(HeaderKind.ArrayLen, 2);
      case 0xdd:
        return this.needHeader(HeaderKind.ArrayLen, 4);
      case 0xde:
        return this.needHeader(HeaderKind.MapLen, 2);
      case 0xdf:
        return this.needHeader(HeaderKind.MapLen, 4);
      default: // 0xc1: never used
        throw new MsgpackError(`byte ${hex2(b)} is not a msgpack type`, this.itemStart);
    }
  }

  private rawFixExt = 0;

  private beU(n: number): number {
    const h = this.header;
    let v = 0;
    for (let k = 0; k < n; k++) v = v * 256 + h[k]!;
    return v;
  }

  /** The completed header; true when a top-level value completed. */
  private finishHeader(): boolean {
    const h = this.header;
    const n = this.headerWant;
    switch (this.headerKind) {
      case HeaderKind.Uint: {
        if (n < 8) return this.emit(this.beU(n));
        const high = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
        const low = ((h[4]! << 24) | (h[5]! << 16) | (h[6]! << 8) | h[7]!) >>> 0;
        if (high <= SAFE_HIGH) return this.emit(high * 0x1_0000_0000 + low);
        return this.emit((BigInt(high) << 32n) | BigInt(low));
      }
      case HeaderKind.Int: {
        const view = new DataView(h.buffer, h.byteOffset, 8);
        if (n === 1) return this.emit(view.getInt8(0));
        if (n === 2) return this.emit(view.getInt16(0));
        if (n === 4) return this.emit(view.getInt32(0));
        const v = view.getBigInt64(0);
        return this.emit(v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v);
      }
      case HeaderKind.Float32:
        return this.emit(new DataView(h.buffer, h.byteOffset, 4).getFloat32(0));
      case HeaderKind.Float64:
        return this.emit(new DataView(h.buffer, h.byteOffset, 8).getFloat64(0));
      case HeaderKind.RawLen:
        return this.startRaw(this.beU(n), false);
      case HeaderKind.ExtLen:
        this.extType = (h[n - 1]! << 24) >> 24;
        return this.startRaw(this.beU(n - 1), true);
      case HeaderKind.FixExt:
        this.extType = (h[0]! << 24) >> 24;
        return this.startRaw(this.rawFixExt, true);
      case HeaderKind.ArrayLen:
        return this.open(this.beU(n), false);
      case HeaderKind.MapLen:
        return this.open(this.beU(n), true);
    }
  }

  private startRaw(len: number, ext: boolean): boolean {
    if (len > this.limits.maxValueBytes - this.valueBytes) {
      throw new MsgpackError(`${ext ? 'ext' : 'string'} of ${len} bytes is over the ${this.limits.maxValueBytes}-byte value limit`, this.itemStart);
    }
    if (len === 0) return this.emit(ext ? { ext: this.extType, data: EMPTY } : new Uint8Array(0));
    this.raw = new Uint8Array(len);
    this.rawHave = 0;
    this.rawIsExt = ext;
    this.pending = Pending.Raw;
    return false;
  }

  private count(): void {
    if (++this.values > this.limits.maxValues) {
      throw new MsgpackError(`more than ${this.limits.maxValues} values in one message`, this.itemStart);
    }
  }

  private open(n: number, isMap: boolean): boolean {
    this.count();
    // Every element needs at least one byte: a declared count beyond the byte limit is a lie, and
    // must not size anything we allocate.
    const items = isMap ? n * 2 : n;
    if (items > this.limits.maxValueBytes - this.valueBytes || items > this.limits.maxValues - this.values) {
      throw new MsgpackError(`${isMap ? 'map' : 'array'} of ${n} elements is over the per-message limits`, this.itemStart);
    }
    if (n === 0) return this.complete(isMap ? new Map() : []);
    if (this.stack.length >= this.limits.maxDepth) {
      throw new MsgpackError(`nesting deeper than ${this.limits.maxDepth}`, this.itemStart);
    }
    this.stack.push({ map: isMap ? new Map() : undefined, arr: isMap ? undefined : [], remaining: items, key: undefined });
    return false;
  }

  /** A scalar or raw value read: count it and place it. */
  private emit(v: MsgValue): boolean {
    this.count();
    return this.complete(v);
  }

  /** Places a finished value in its container (closing containers that fill up); true at top level. */
  private complete(v: MsgValue): boolean {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.done = true;
        this.value = v;
        this.started = false;
        return true;
      }
      if (top.arr) {
        top.arr.push(v);
      } else if (top.key === undefined) {
        top.key = keyText(v, this.itemStart);
      } else {
        top.map!.set(top.key, v);
        top.key = undefined;
      }
      if (--top.remaining > 0) return false;
      this.stack.pop();
      v = top.arr ?? top.map!;
    }
  }
}

function keyText(v: MsgValue, offset: number): string {
  if (v instanceof Uint8Array) return utf8.decode(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  throw new MsgpackError(`map key is ${v === null ? 'nil' : Array.isArray(v) ? 'an array' : 'a map or ext'}, expected a string`, offset);
}

/** Wire text of a raw value (Go string or []byte), or undefined for nil/other types. */
export function rawText(v: MsgValue | undefined): string | undefined {
  return v instanceof Uint8Array ? utf8.decode(v) : undefined;
}
