// Capture file formats: classic pcap (both byte orders; micro-, nanosecond and the "modified"
// Kuznetzov variant) and pcapng (sections of either byte order, per-interface link type and
// timestamp resolution). The parser is incremental: push() takes the next chunk of the file and
// emits every complete record; at most one incomplete record is carried over to the next chunk, so
// memory does not depend on the file size. A packet's bytes are a view into the current chunk and
// are valid only during the onPacket call.

/** A structural error in the capture file: names the file, the byte offset and what was expected. */
export class PcapFormatError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${file}: at byte offset ${offset}: ${detail}`);
    this.name = 'PcapFormatError';
  }
}

export type CaptureFormat = 'pcap' | 'pcapng';

/** Called once per captured packet. `data` is only valid during the call. */
export type PacketSink = (linkType: number, data: Buffer, tMs: number, origLen: number, offset: number) => void;

/** Called for conditions that are reported but do not stop reading (e.g. a truncated last record). */
export type FormatNoticeSink = (kind: string, message: string, offset: number) => void;

const EMPTY = Buffer.alloc(0);

/** No real link layer produces frames this large; a larger length means the file is corrupt. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** libpcap's largest snapshot length; records up to this are accepted even with a smaller snaplen. */
const LIBPCAP_MAX_SNAPLEN = 262_144;

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_OPB = 2; // obsolete Packet Block
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

interface PcapngInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp ticks per millisecond (e.g. 1000 for microsecond resolution). */
  ticksPerMs: number;
  /** if_tsoffset in ms, added to every timestamp. */
  offsetMs: number;
}

export class CaptureParser {
  format: CaptureFormat | undefined;
  /** Bytes consumed so far (file offset of the first unparsed byte). */
  consumed = 0;
  /** Link types seen (pcap: one; pcapng: one per interface). */
  readonly linkTypes = new Set<number>();
  private carry: Buffer = EMPTY;
  /** Bytes the record at the start of `carry` needs in total (known once its header is read). */
  private need = 0;

  // classic pcap
  private littleEndian = true;
  private nanos = false;
  private recordHeaderLen = 16;
  private linkType = 0;
  private maxRecord = LIBPCAP_MAX_SNAPLEN;

  // pcapng
  private interfaces: PcapngInterface[] = [];
  private lastTimestamp = 0;
  private unknownInterfaceNoticed = false;

  constructor(
    private readonly file: string,
    private readonly onPacket: PacketSink,
    private readonly onNotice: FormatNoticeSink,
  ) {}

  /**
   * Parses every complete record in the carried-over tail + chunk; keeps the incomplete tail. A
   * record straddling two chunks is completed from just the bytes it still needs, so the chunk
   * itself is parsed in place, never copied.
   */
  push(chunk: Buffer): void {
    let start = 0;
    while (this.carry.length > 0) {
      const take = Math.min(Math.max(this.need - this.carry.length, 1), chunk.length - start);
      if (take === 0) return;
      this.carry = Buffer.concat([this.carry, chunk.subarray(start, start + take)]);
      start += take;
      const used = this.parseOne(this.carry, 0);
      if (used === 0) continue;
      this.consumed += used;
      // `need` is exact, so the record ends where the carry does (kept general all the same).
      this.carry = used === this.carry.length ? EMPTY : Buffer.from(this.carry.subarray(used));
    }
    let pos = start;
    for (;;) {
      const used = this.parseOne(chunk, pos);
      if (used === 0) break;
      pos += used;
      this.consumed += used;
    }
    // Copy the tail so the (large) chunk it came from can be released.
    if (pos < chunk.length) this.carry = Buffer.from(chunk.subarray(pos));
  }

  /** Bytes of the next record consumed, or 0 with `need` set to the bytes it needs from `pos`. */
  private parseOne(buf: Buffer, pos: number): number {
    if (this.format === undefined) return this.parseFileHeader(buf, pos);
    return this.format === 'pcap' ? this.parsePcapRecord(buf, pos) : this.parsePcapngBlock(buf, pos);
  }

  private incomplete(bytes: number): number {
    this.need = bytes;
    return 0;
  }

  /** End of file: a cut-off header or block structure is an error, a cut-off last packet a notice. */
  finish(): void {
    const left = this.carry.length;
    if (this.format === undefined) {
      if (this.consumed === 0 && left === 0) throw new PcapFormatError(this.file, 0, 'empty file, expected a pcap or pcapng file header');
      throw new PcapFormatError(this.file, this.consumed, `file ends after ${left} bytes, inside the file header (expected 24 bytes for pcap, a complete Section Header Block for pcapng)`);
    }
    if (left === 0) return;
    if (this.format === 'pcapng') {
      const type = left >= 4 ? this.carry.readUInt32LE(0) : -1;
      if (type === PCAPNG_SHB) throw new PcapFormatError(this.file, this.consumed, `file ends inside a Section Header Block (${left} bytes left)`);
    }
    this.onNotice('truncated-record', `${this.file}: the last record at byte offset ${this.consumed} is cut off (${left} bytes of it present); it was skipped`, this.consumed);
    this.carry = EMPTY;
  }

  private u32(buf: Buffer, at: number, le: boolean): number {
    return le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  }

  private u16(buf: Buffer, at: number, le: boolean): number {
    return le ? buf.readUInt16LE(at) : buf.readUInt16BE(at);
  }

  private parseFileHeader(buf: Buffer, pos: number): number {
    if (buf.length - pos < 4) return this.incomplete(4);
    const magic = buf.readUInt32LE(pos);
    if (magic === PCAPNG_SHB) {
      this.format = 'pcapng';
      return this.parsePcapngBlock(buf, pos);
    }
    let le: boolean;
    let nanos = false;
    let modified = false;
    switch (magic) {
      case 0xa1b2c3d4: le = true; break;
      case 0xd4c3b2a1: le = false; break;
      case 0xa1b23c4d: le = true; nanos = true; break;
      case 0x4d3cb2a1: le = false; nanos = true; break;
      case 0xa1b2cd34: le = true; modified = true; break;
      case 0x34cdb2a1: le = false; modified = true; break;
      default:
        throw new PcapFormatError(
          this.file,
          this.consumed,
          `bad magic 0x${buf.readUInt32BE(pos).toString(16).padStart(8, '0')}: expected a pcap magic (a1b2c3d4 or a1b23c4d, either byte order) or a pcapng Section Header Block (0a0d0d0a)`,
        );
    }
    if (buf.length - pos < 24) return this.incomplete(24);
    const major = this.u16(buf, pos + 4, le);
    if (major !== 2) throw new PcapFormatError(this.file, this.consumed + 4, `pcap version ${major}.${this.u16(buf, pos + 6, le)}: expected version 2.x`);
    const snapLen = this.u32(buf, pos + 16, le);
    // The upper bits of the link-type field carry FCS information; the link type is the low 16 bits.
    this.linkType = this.u32(buf, pos + 20, le) & 0xffff;
    this.littleEndian = le;
    this.nanos = nanos;
    this.recordHeaderLen = modified ? 24 : 16;
    this.maxRecord = Math.min(MAX_RECORD_BYTES, Math.max(snapLen, LIBPCAP_MAX_SNAPLEN));
    this.linkTypes.add(this.linkType);
    this.format = 'pcap';
    return 24;
  }

  private parsePcapRecord(buf: Buffer, pos: number): number {
    const hl = this.recordHeaderLen;
    if (buf.length - pos < hl) return this.incomplete(hl);
    const le = this.littleEndian;
    const capLen = this.u32(buf, pos + 8, le);
    if (capLen > this.maxRecord) {
      throw new PcapFormatError(this.file, this.consumed + 8, `record captured length ${capLen} exceeds the maximum ${this.maxRecord} (snapshot length in the file header): not a record boundary, the file is corrupt`);
    }
    if (buf.length - pos < hl + capLen) return this.incomplete(hl + capLen);
    const sec = this.u32(buf, pos, le);
    const frac = this.u32(buf, pos + 4, le);
    const tMs = sec * 1000 + (this.nanos ? frac / 1e6 : frac / 1e3);
    const origLen = this.u32(buf, pos + 12, le);
    this.onPacket(this.linkType, buf.subarray(pos + hl, pos + hl + capLen), tMs, origLen, this.consumed);
    return hl + capLen;
  }

  private parsePcapngBlock(buf: Buffer, pos: number): number {
    if (buf.length - pos < 12) return this.incomplete(12);
    let le = this.littleEndian;
    const rawType = buf.readUInt32LE(pos);
    if (rawType === PCAPNG_SHB) {
      const bom = buf.readUInt32LE(pos + 8);
      if (bom === PCAPNG_BOM) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new PcapFormatError(this.file, this.consumed + 8, `Section Header Block byte-order magic 0x${buf.readUInt32BE(pos + 8).toString(16).padStart(8, '0')}: expected 1a2b3c4d in either byte order`);
      this.littleEndian = le;
    }
    const type = this.u32(buf, pos, le);
    const len = this.u32(buf, pos + 4, le);
    if (len < 12 || len % 4 !== 0 || len > MAX_RECORD_BYTES + 64) {
      throw new PcapFormatError(this.file, this.consumed + 4, `pcapng block (type 0x${type.toString(16)}) has total length ${len}: expected a multiple of 4, at least 12 and at most ${MAX_RECORD_BYTES + 64}`);
    }
    if (buf.length - pos < len) return this.incomplete(len);
    const trailer = this.u32(buf, pos + len - 4, le);
    if (trailer !== len) {
      throw new PcapFormatError(this.file, this.consumed + len - 4, `pcapng block (type 0x${type.toString(16)}) trailing length ${trailer} differs from its leading length ${len}`);
    }
    const block = buf.subarray(pos, pos + len);
    switch (type) {
      case PCAPNG_SHB: {
        if (len < 28) throw new PcapFormatError(this.file, this.consumed + 4, `Section Header Block length ${len}: expected at least 28`);
        const major = this.u16(block, 12, le);
        if (major !== 1) throw new PcapFormatError(this.file, this.consumed + 12, `pcapng version ${major}.${this.u16(block, 14, le)}: expected version 1.x`);
        this.interfaces = []; // interface ids are per section
        break;
      }
      case PCAPNG_IDB:
        this.parseInterface(block, le);
        break;
      case PCAPNG_EPB:
      case PCAPNG_OPB: {
        if (len < 32) throw new PcapFormatError(this.file, this.consumed + 4, `packet block length ${len}: expected at least 32`);
        const ifId = type === PCAPNG_EPB ? this.u32(block, 8, le) : this.u16(block, 8, le);
        const capLen = this.u32(block, 20, le);
        if (28 + capLen > len - 4) {
          throw new PcapFormatError(this.file, this.consumed + 20, `packet block captured length ${capLen} does not fit in its block of ${len} bytes`);
        }
        const iface = this.interfaces[ifId];
        if (!iface) {
          this.unknownInterface(ifId);
          break;
        }
        const ticks = this.u32(block, 12, le) * 4294967296 + this.u32(block, 16, le);
        const tMs = ticks / iface.ticksPerMs + iface.offsetMs;
        this.lastTimestamp = tMs;
        this.onPacket(iface.linkType, block.subarray(28, 28 + capLen), tMs, this.u32(block, 24, le), this.consumed);
        break;
      }
      case PCAPNG_SPB: {
        if (len < 16) throw new PcapFormatError(this.file, this.consumed + 4, `Simple Packet Block length ${len}: expected at least 16`);
        const iface = this.interfaces[0];
        if (!iface) {
          this.unknownInterface(0);
          break;
        }
        const origLen = this.u32(block, 8, le);
        let capLen = Math.min(origLen, len - 16);
        if (iface.snapLen > 0) capLen = Math.min(capLen, iface.snapLen);
        // A Simple Packet Block has no timestamp: it inherits the last one seen.
        this.onPacket(iface.linkType, block.subarray(12, 12 + capLen), this.lastTimestamp, origLen, this.consumed);
        break;
      }
      default:
        break; // name resolution, statistics, decryption secrets, custom blocks: not needed
    }
    return len;
  }

  private parseInterface(block: Buffer, le: boolean): void {
    const len = block.length;
    if (len < 20) throw new PcapFormatError(this.file, this.consumed + 4, `Interface Description Block length ${len}: expected at least 20`);
    const iface: PcapngInterface = { linkType: this.u16(block, 8, le), snapLen: this.u32(block, 12, le), ticksPerMs: 1000, offsetMs: 0 };
    let at = 16;
    const end = len - 4;
    while (at + 4 <= end) {
      const code = this.u16(block, at, le);
      const olen = this.u16(block, at + 2, le);
      const value = at + 4;
      if (code === 0) break;
      if (value + olen > end) {
        throw new PcapFormatError(this.file, this.consumed + at, `Interface Description Block option ${code} of length ${olen} runs past the end of its block`);
      }
      if (code === OPT_IF_TSRESOL && olen >= 1) {
        const r = block[value]!;
        const exp = r & 0x7f;
        const ticksPerSecond = r & 0x80 ? 2 ** exp : 10 ** exp;
        iface.ticksPerMs = ticksPerSecond / 1000;
      } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const hi = le ? block.readInt32LE(value + 4) : block.readInt32BE(value);
        const lo = le ? block.readUInt32LE(value) : block.readUInt32BE(value + 4);
        iface.offsetMs = (hi * 4294967296 + lo) * 1000;
      }
      at = value + ((olen + 3) & ~3);
    }
    this.interfaces.push(iface);
    this.linkTypes.add(iface.linkType);
  }

  private unknownInterface(ifId: number): void {
    if (this.unknownInterfaceNoticed) return;
    this.unknownInterfaceNoticed = true;
    this.onNotice('unknown-interface', `${this.file}: packet block at byte offset ${this.consumed} names interface ${ifId}, which no Interface Description Block in this section declared; such packets are skipped`, this.consumed);
  }
}
