// HPACK header block decoder (RFC 7541), one per direction of a connection.
// It only reads: it keeps the dynamic table in step with the peer's encoder and hands each decoded
// field to a callback. Header names and values are octets; they are decoded as latin1 strings so any
// byte round-trips. Memory is bounded by the table size the encoder may use (capped by the reader).

import { huffmanDecode } from './huffman.js';

/** RFC 7541 Appendix A, index 1..61. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_COUNT = 61;
/** Per-entry overhead in the table size accounting (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** The HPACK dynamic table: a ring of entries, newest first, evicted by size. */
export class DynamicTable {
  private names: string[] = [];
  private values: string[] = [];
  private sizes: Int32Array = new Int32Array(0);
  /** ring slot of the newest entry */
  private head = 0;
  count = 0;
  /** current size in RFC 7541 §4.1 units */
  size = 0;
  maxSize: number;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
    this.resizeRing(maxSize);
  }

  private resizeRing(maxSize: number): void {
    const capacity = Math.max(1, Math.floor(maxSize / ENTRY_OVERHEAD));
    if (capacity === this.sizes.length) return;
    const names: string[] = new Array(capacity);
    const values: string[] = new Array(capacity);
    const sizes = new Int32Array(capacity);
    // Copy oldest..newest so that the newest lands at slot count-1.
    for (let i = this.count - 1, slot = 0; i >= 0; i--, slot++) {
      const from = this.slot(i);
      names[slot] = this.names[from]!;
      values[slot] = this.values[from]!;
      sizes[slot] = this.sizes[from]!;
    }
    this.names = names;
    this.values = values;
    this.sizes = sizes;
    this.head = this.count > 0 ? this.count - 1 : capacity - 1;
  }

  /** ring slot of the i-th newest entry (0-based) */
  private slot(i: number): number {
    const cap = this.sizes.length;
    let s = this.head - i;
    if (s < 0) s += cap;
    return s;
  }

  name(i: number): string {
    return this.names[this.slot(i)]!;
  }
  value(i: number): string {
    return this.values[this.slot(i)]!;
  }

  /** Applies a dynamic table size update (already checked against the allowed maximum). */
  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictTo(maxSize);
    // Shrink the ring only when it no longer fits the entries; grow when the new maximum needs it.
    if (Math.floor(maxSize / ENTRY_OVERHEAD) > this.sizes.length || this.count === 0) this.resizeRing(maxSize);
  }

  add(name: string, value: string, octets: number): void {
    const entrySize = octets + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      // RFC 7541 §4.4: an entry larger than the table empties it and is not added.
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - entrySize);
    const cap = this.sizes.length;
    if (this.count === cap) this.resizeRing(this.maxSize); // cannot happen: count*32 <= maxSize
    this.head = this.head + 1 === cap ? 0 : this.head + 1;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.sizes[this.head] = entrySize;
    this.count++;
    this.size += entrySize;
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.count > 0) {
      const oldest = this.slot(this.count - 1);
      this.size -= this.sizes[oldest]!;
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }
}

export class HpackError extends Error {
  constructor(
    message: string,
    /** byte offset inside the header block */
    readonly offset: number,
  ) {
    super(message);
  }
}

export type HeaderSink = (name: string, value: string) => void;

/**
 * Decodes header blocks of one direction. `maxAllowedTableSize` is the bound the encoder may use (set
 * from the other direction's SETTINGS_HEADER_TABLE_SIZE); a size update above it is an error.
 */
export class HpackDecoder {
  readonly table: DynamicTable;
  /** The largest table size the encoder may announce (SETTINGS of the receiving peer, capped by the reader). */
  maxAllowedTableSize: number;
  /** Scratch for Huffman output; grows to the longest string seen (bounded by the header block limit). */
  private scratch: Buffer = Buffer.allocUnsafe(4096);
  private pos = 0;
  private lastOctets = 0;

  constructor(
    initialTableSize = 4096,
    /** hard cap on the table size the reader keeps, whatever the peer allows */
    readonly tableSizeCap = 65536,
  ) {
    this.table = new DynamicTable(initialTableSize);
    this.maxAllowedTableSize = initialTableSize;
  }

  /** Decodes one complete header block; calls `sink` for each field in order. Throws HpackError. */
  decode(block: Uint8Array, start: number, end: number, sink: HeaderSink): void {
    this.pos = start;
    let fieldsSeen = false;
    while (this.pos < end) {
      const b = block[this.pos]!;
      if (b & 0x80) {
        // Indexed header field (§6.1)
        const at = this.pos;
        const index = this.readInt(block, end, 7);
        if (index === 0) throw new HpackError('indexed header field with index 0', at - start);
        if (index <= STATIC_COUNT) {
          const e = STATIC_TABLE[index - 1]!;
          sink(e[0], e[1]);
        } else {
          const d = index - STATIC_COUNT - 1;
          if (d >= this.table.count) throw new HpackError(`index ${index} beyond the dynamic table (${this.table.count} entries)`, at - start);
          sink(this.table.name(d), this.table.value(d));
        }
        fieldsSeen = true;
      } else if (b & 0x40) {
        // Literal with incremental indexing (§6.2.1)
        const at = this.pos;
        const index = this.readInt(block, end, 6);
        let name: string;
        let nameOctets: number;
        if (index === 0) {
          name = this.readString(block, start, end);
          nameOctets = this.lastOctets;
        } else {
          name = this.indexedName(index, at - start);
          nameOctets = name.length; // latin1: one char per octet
        }
        const value = this.readString(block, start, end);
        this.table.add(name, value, nameOctets + this.lastOctets);
        sink(name, value);
        fieldsSeen = true;
      } else if (b & 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block (§4.2)
        const at = this.pos;
        if (fieldsSeen) throw new HpackError('dynamic table size update after a header field', at - start);
        const size = this.readInt(block, end, 5);
        if (size > this.maxAllowedTableSize) {
          throw new HpackError(`dynamic table size update to ${size} above the allowed ${this.maxAllowedTableSize}`, at - start);
        }
        if (size > this.tableSizeCap) throw new HpackError(`dynamic table size ${size} above the reader's cap ${this.tableSizeCap}`, at - start);
        this.table.setMaxSize(size);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3)
        const at = this.pos;
        const index = this.readInt(block, end, 4);
        const name = index === 0 ? this.readString(block, start, end) : this.indexedName(index, at - start);
        const value = this.readString(block, start, end);
        sink(name, value);
        fieldsSeen = true;
      }
    }
  }

  private indexedName(index: number, at: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1]![0];
    const d = index - STATIC_COUNT - 1;
    if (d >= this.table.count) throw new HpackError(`name index ${index} beyond the dynamic table (${this.table.count} entries)`, at);
    return this.table.name(d);
  }

  /** §5.1 integer with an N-bit prefix, starting at this.pos. */
  private readInt(buf: Uint8Array, end: number, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= end) throw new HpackError('integer runs past the end of the header block', this.pos);
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (shift > 28) throw new HpackError('integer too large', this.pos);
    }
    return value;
  }

  /** §5.2 string literal starting at this.pos; sets lastOctets to its decoded length. */
  private readString(buf: Uint8Array, blockStart: number, end: number): string {
    if (this.pos >= end) throw new HpackError('string expected at the end of the header block', this.pos - blockStart);
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const at = this.pos;
    const len = this.readInt(buf, end, 7);
    if (this.pos + len > end) throw new HpackError(`string of ${len} octets runs past the end of the header block`, at - blockStart);
    const from = this.pos;
    this.pos += len;
    if (!huffman) {
      this.lastOctets = len;
      if (len === 0) return '';
      return latin1(buf, from, from + len);
    }
    const need = Math.ceil((len * 8) / 5);
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    const n = huffmanDecode(buf, from, from + len, this.scratch);
    if (n < 0) throw new HpackError('invalid Huffman-coded string (EOS inside or bad padding)', at - blockStart);
    this.lastOctets = n;
    const text = n === 0 ? '' : this.scratch.toString('latin1', 0, n);
    // A rare huge header must not pin a huge scratch buffer for the connection's lifetime.
    if (this.scratch.length > 65536) this.scratch = Buffer.allocUnsafe(4096);
    return text;
  }
}

function latin1(buf: Uint8Array, from: number, to: number): string {
  if (Buffer.isBuffer(buf)) return buf.toString('latin1', from, to);
  return Buffer.from(buf.buffer, buf.byteOffset + from, to - from).toString('latin1');
}
