// raftpb decoding from our own proto2 description (proto/etcd/raftpb.proto).
// Member IDs become lowercase hex strings without leading zeros (the form etcd itself prints), terms
// and indices become numbers only after a check that they are at most 2^53 - 1, so nothing is ever
// silently rounded.
//
// Message and Entry, decoded for every message on the relay's thread, are read by a small wire-format
// reader written for exactly these two messages (varints straight into 32-bit halves: no Long object
// per uint64, no intermediate decoded object, unknown fields and `context` skipped unread). Why not
// protobufjs here: it allocates a Long per uint64 field and an object per message and entry; on a
// recorded 32-client etcd capture the decode path went from 18.8 to 3.8 µs per put with this reader
// (README, Benchmarks). The reader's field numbers and wire types still come from the .proto: they
// are read from the protobufjs Types at load (see readerFieldTable), so proto/ stays the one place that
// says which number is which field. The rarely seen parts (a MsgSnap's Snapshot, ConfChange entries)
// are decoded with protobufjs itself. test/unit/etcd/raftpb.test.ts checks the reader against
// protobufjs on random messages.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;

export const MESSAGE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([k, v]) => [v, k]),
);

export const EntryType = { EntryNormal: 0, EntryConfChange: 1, EntryConfChangeV2: 2 } as const;

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const;

/** A problem decoding one protobuf value; `field` names where. Caught by the stream decoders. */
export class RaftpbError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftpbError';
  }
}

/** The decoded shape of a raftpb.Entry, before it becomes a contract Entry. */
export interface RawEntry {
  type: number;
  term: number;
  index: number;
  data: Uint8Array;
}

export interface RawSnapshotMeta {
  index: number;
  term: number;
  /** Hex member IDs. */
  voters: string[];
  learners: string[];
  votersOutgoing: string[];
}

/** A raftpb.Message with IDs as hex and positions as checked numbers. */
export interface RawMessage {
  type: number;
  to: string;
  from: string;
  term: number;
  logTerm: number;
  index: number;
  entries: RawEntry[];
  commit: number;
  snapshot?: RawSnapshotMeta;
  reject: boolean;
  rejectHint: number;
}

export interface RawConfChange {
  /** One (type, nodeId hex) per single change; ConfChange has exactly one. */
  changes: { type: number; nodeId: string }[];
  /** ConfChangeV2 with no changes: leave a joint configuration. */
  leaveJoint: boolean;
}

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(radix?: number): string;
}

type Decoded = Record<string, unknown>;

/** Finds proto/etcd/raftpb.proto from both src/ (tests) and dist/src/ (built) locations. */
function findProto(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 6; k++) {
    const candidate = join(dir, 'proto', 'etcd', 'raftpb.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`proto/etcd/raftpb.proto not found above ${fileURLToPath(import.meta.url)}`);
}

export const RAFTPB_PROTO_PATH = findProto();

// keepCase: field names exactly as in the .proto (Entry's are capitalised there, as in etcd).
const parsed = new protobuf.Root();
protobuf.parse(readFileSync(RAFTPB_PROTO_PATH, 'utf8'), parsed, { keepCase: true });
parsed.resolveAll();

export const MessagePb = parsed.lookupType('raftpb.Message');
export const EntryPb = parsed.lookupType('raftpb.Entry');
export const ConfChangePb = parsed.lookupType('raftpb.ConfChange');
export const ConfChangeV2Pb = parsed.lookupType('raftpb.ConfChangeV2');
export const SnapshotPb = parsed.lookupType('raftpb.Snapshot');

function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && 'low' in v && 'high' in v;
}

/** uint64 → hex string without leading zeros ("0" for zero), exact for all 64 bits. */
export function idHex(v: unknown): string {
  if (v === undefined || v === null) return '0';
  if (isLong(v)) {
    const high = v.high >>> 0;
    const low = v.low >>> 0;
    if (high === 0) return low.toString(16);
    return high.toString(16) + low.toString(16).padStart(8, '0');
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v.toString(16);
  throw new RaftpbError(`expected a uint64, got ${typeof v}`);
}

/** uint64 → number, refusing values above 2^53 - 1. */
export function safeNumber(v: unknown, field: string): number {
  if (v === undefined || v === null) return 0;
  if (isLong(v)) {
    const high = v.high >>> 0;
    const low = v.low >>> 0;
    if (high > 0x1fffff) throw new RaftpbError(`${field} = 0x${idHex(v)} is above 2^53 and cannot be used as a position`);
    return high * 0x1_0000_0000 + low;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new RaftpbError(`${field}: expected a uint64, got ${String(v)}`);
}

function pbDecode(type: protobuf.Type, bytes: Uint8Array, what: string): Decoded {
  try {
    return type.decode(bytes) as unknown as Decoded;
  } catch (err) {
    throw new RaftpbError(`${what}: invalid protobuf (${err instanceof Error ? err.message : String(err)})`);
  }
}

function rawEntry(e: Decoded, where: string): RawEntry {
  return {
    type: (e['Type'] as number | undefined) ?? 0,
    term: safeNumber(e['Term'], `${where}.Term`),
    index: safeNumber(e['Index'], `${where}.Index`),
    data: asBytes(e['Data']),
  };
}

const EMPTY = new Uint8Array(0);

/** protobufjs leaves an absent bytes field as its prototype default (not always a Uint8Array). */
function asBytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : EMPTY;
}

export function decodeEntry(bytes: Uint8Array): RawEntry {
  return readEntry(bytes, 0, bytes.length, 'raftpb.Entry', 'Entry');
}

export function decodeMessage(bytes: Uint8Array): RawMessage {
  return readMessage(bytes);
}

/** The protobufjs path for Message (the reference the wire reader is tested against). */
export function decodeMessageWithProtobufjs(bytes: Uint8Array): RawMessage {
  const m = pbDecode(MessagePb, bytes, 'raftpb.Message');
  const entries = (m['entries'] as Decoded[] | undefined) ?? [];
  const msg: RawMessage = {
    type: (m['type'] as number | undefined) ?? 0,
    to: idHex(m['to']),
    from: idHex(m['from']),
    term: safeNumber(m['term'], 'Message.term'),
    logTerm: safeNumber(m['logTerm'], 'Message.logTerm'),
    index: safeNumber(m['index'], 'Message.index'),
    entries: entries.map((e, k) => rawEntry(e, `Message.entries[${k}]`)),
    commit: safeNumber(m['commit'], 'Message.commit'),
    reject: Boolean(m['reject']),
    rejectHint: safeNumber(m['rejectHint'], 'Message.rejectHint'),
  };
  const snap = m['snapshot'] as Decoded | undefined | null;
  const meta = snapshotMeta(snap);
  if (meta) msg.snapshot = meta;
  return msg;
}

function snapshotMeta(snap: Decoded | undefined | null): RawSnapshotMeta | undefined {
  const meta = snap?.['metadata'] as Decoded | undefined | null;
  if (!meta) return undefined;
  const cs = (meta['conf_state'] as Decoded | undefined | null) ?? {};
  return {
    index: safeNumber(meta['index'], 'Message.snapshot.metadata.index'),
    term: safeNumber(meta['term'], 'Message.snapshot.metadata.term'),
    voters: ((cs['voters'] as unknown[] | undefined) ?? []).map(idHex),
    learners: ((cs['learners'] as unknown[] | undefined) ?? []).map(idHex),
    votersOutgoing: ((cs['voters_outgoing'] as unknown[] | undefined) ?? []).map(idHex),
  };
}

// ---- the reader's field numbers and wire types, from the .proto ----
// The reader dispatches on a slot (a code of ours, a literal in its switch) looked up by the whole
// tag (field number << 3 | wire type) in a small table built here from the protobufjs Types, so the
// numbers live only in proto/ and one load both finds the field and checks its wire type. Each field
// the reader reads is checked at load to exist with the type the reader's code handles; anything else
// (a renamed field, uint64 turned fixed64, a field made repeated) stops the process at start-up with
// the field named, instead of a reader silently reading the wrong bytes.

// Slot 0 skips the field (unknown or not needed); slot 1 (BAD_TAG) is field number 0 or a field the
// reader reads arriving with another wire type than its .proto type has: an error. The slots are
// dense small numbers so the switches compile to jump tables.
const BAD_TAG = 1;
// What the Message reader does with a tag. The length-delimited slots come first, so
// `slot >= FirstVarint` says "a varint follows" and the reader has one readVarint call site for all
// of them: with one call site per case readMessage outgrew TurboFan's inlining budget and measured
// ~6 % slower on etcd-shaped messages.
const enum MsgSlot { Skip = 0, Bad = 1, Entries, Snapshot, FirstVarint, Type = FirstVarint, To, From, Term, LogTerm, Index, Commit, Reject, RejectHint }
/** What the Entry reader does with a tag. */
const enum EntrySlot { Skip = 0, Bad = 1, Type, Term, Index, Data }

/**
 * A field the reader reads: its name in the .proto, the type the reader's code for it handles
 * ('uint64', 'bool', 'bytes', 'enum <full name>' or 'message <full name>'), whether repeated, its slot.
 */
export interface ReaderField {
  name: string;
  type: string;
  repeated: boolean;
  slot: number;
}

export interface ReaderFieldTable {
  /** Tag (field number << 3 | wire type) → slot; 0 (and tags past the end) skip, BAD_TAG is an error. */
  slotOfTag: Uint8Array;
  /** Slot → wire type of the field's .proto type (for error messages). */
  wireOf: Uint8Array;
  /** Slot → field name, for error messages. */
  nameOf: string[];
  /** Field name → number, as the .proto gives it. */
  ids: Record<string, number>;
}

/** Field numbers above this would make the table large; raftpb's are all below 16. */
const MAX_TABLE_FIELD = 1023;

/** Builds the reader's table for `type` from its protobufjs description; throws naming the field when one doesn't fit. */
export function readerFieldTable(type: protobuf.Type, needs: readonly ReaderField[]): ReaderFieldTable {
  const where = (name: string) => `${type.fullName.replace(/^\./, '')}.${name} in ${RAFTPB_PROTO_PATH}`;
  const ids: Record<string, number> = {};
  const slots = Math.max(0, ...needs.map((n) => n.slot)) + 1;
  const wireOf = new Uint8Array(slots);
  const nameOf: string[] = new Array<string>(slots).fill('');
  let max = 0;
  for (const need of needs) {
    const f = type.fields[need.name];
    if (!f) throw new Error(`raftpb reader: field ${where(need.name)} is missing (the wire reader reads it as ${need.type})`);
    f.resolve();
    const kind = need.type.split(' ')[0];
    let wire: number | undefined;
    let actual = f.type;
    if (kind === 'enum' || kind === 'message') {
      const rt = f.resolvedType;
      const rtKind = rt instanceof protobuf.Enum ? 'enum' : rt instanceof protobuf.Type ? 'message' : 'scalar';
      actual = rt ? `${rtKind} ${rt.fullName.replace(/^\./, '')}` : f.type;
      if (rtKind === kind && actual === need.type) wire = kind === 'enum' ? 0 : 2;
    } else if (!f.resolvedType && f.type === kind) {
      wire = (protobuf.types.basic as Record<string, number | undefined>)[f.type];
    }
    if (wire === undefined) throw new Error(`raftpb reader: field ${where(need.name)} has type ${actual}, the wire reader reads ${need.type}`);
    if (f.repeated !== need.repeated) {
      throw new Error(`raftpb reader: field ${where(need.name)} is ${f.repeated ? 'repeated' : 'not repeated'}, the wire reader expects ${need.repeated ? 'repeated' : 'a single value'}`);
    }
    if (f.repeated && f.packed) throw new Error(`raftpb reader: field ${where(need.name)} is packed, the wire reader reads one value per tag`);
    if (!Number.isInteger(f.id) || f.id < 1 || f.id > MAX_TABLE_FIELD) {
      throw new Error(`raftpb reader: field ${where(need.name)} has number ${f.id}, the reader's table holds 1..${MAX_TABLE_FIELD}`);
    }
    if (need.slot <= BAD_TAG || need.slot > 255 || nameOf[need.slot] !== '') throw new Error(`raftpb reader: slot ${need.slot} of ${need.name} is out of range or given twice`);
    ids[need.name] = f.id;
    wireOf[need.slot] = wire;
    nameOf[need.slot] = need.name;
    if (f.id > max) max = f.id;
  }
  const slotOfTag = new Uint8Array((max + 1) << 3);
  slotOfTag.fill(BAD_TAG, 0, 8); // field number 0
  for (const need of needs) {
    const id = ids[need.name]!;
    slotOfTag.fill(BAD_TAG, id << 3, (id + 1) << 3);
    slotOfTag[(id << 3) | wireOf[need.slot]!] = need.slot;
  }
  return { slotOfTag, wireOf, nameOf, ids };
}

const MESSAGE_FIELDS = readerFieldTable(MessagePb, [
  { name: 'type', type: 'enum raftpb.MessageType', repeated: false, slot: MsgSlot.Type },
  { name: 'to', type: 'uint64', repeated: false, slot: MsgSlot.To },
  { name: 'from', type: 'uint64', repeated: false, slot: MsgSlot.From },
  { name: 'term', type: 'uint64', repeated: false, slot: MsgSlot.Term },
  { name: 'logTerm', type: 'uint64', repeated: false, slot: MsgSlot.LogTerm },
  { name: 'index', type: 'uint64', repeated: false, slot: MsgSlot.Index },
  { name: 'entries', type: 'message raftpb.Entry', repeated: true, slot: MsgSlot.Entries },
  { name: 'commit', type: 'uint64', repeated: false, slot: MsgSlot.Commit },
  { name: 'snapshot', type: 'message raftpb.Snapshot', repeated: false, slot: MsgSlot.Snapshot },
  { name: 'reject', type: 'bool', repeated: false, slot: MsgSlot.Reject },
  { name: 'rejectHint', type: 'uint64', repeated: false, slot: MsgSlot.RejectHint },
]);
const ENTRY_FIELDS = readerFieldTable(EntryPb, [
  { name: 'Type', type: 'enum raftpb.EntryType', repeated: false, slot: EntrySlot.Type },
  { name: 'Term', type: 'uint64', repeated: false, slot: EntrySlot.Term },
  { name: 'Index', type: 'uint64', repeated: false, slot: EntrySlot.Index },
  { name: 'Data', type: 'bytes', repeated: false, slot: EntrySlot.Data },
]);

/** The enum constants above (used by name across the dialect) must be the .proto's values. */
function checkEnum(fullName: string, consts: Record<string, number>, prefix = ''): void {
  const e = parsed.lookupEnum(fullName);
  for (const [name, value] of Object.entries(consts)) {
    const inProto = e.values[prefix + name];
    if (inProto !== value) {
      throw new Error(`raftpb reader: ${fullName}.${prefix + name} is ${inProto ?? 'missing'} in ${RAFTPB_PROTO_PATH}, the dialect uses ${value}`);
    }
  }
}
checkEnum('raftpb.MessageType', MessageType);
checkEnum('raftpb.EntryType', EntryType);
checkEnum('raftpb.ConfChangeType', ConfChangeType, 'ConfChange');

/** The field numbers the wire reader uses, by message and field name (as read from the .proto). */
export const READER_FIELD_IDS: { readonly Message: Readonly<Record<string, number>>; readonly Entry: Readonly<Record<string, number>> } = {
  Message: MESSAGE_FIELDS.ids,
  Entry: ENTRY_FIELDS.ids,
};

// Read once into module-level constants: the hot loops index these directly.
const MSG_TAG = MESSAGE_FIELDS.slotOfTag;
const ENTRY_TAG = ENTRY_FIELDS.slotOfTag;

// ---- the wire reader for Message and Entry ----
// State of the last varint read, as two unsigned 32-bit halves (module-level: no allocation per field).
let vLo = 0;
let vHi = 0;

class WireError extends Error {}

/** Reads one varint at `pos` into (vLo, vHi); returns the position after it. */
function readVarint(buf: Uint8Array, pos: number, end: number): number {
  let lo = 0;
  let hi = 0;
  let b: number;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw new WireError('index out of range: truncated varint');
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      vLo = lo >>> 0;
      vHi = 0;
      return pos;
    }
  }
  if (pos >= end) throw new WireError('index out of range: truncated varint');
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw new WireError('invalid varint encoding (more than 10 bytes)');
      if (pos >= end) throw new WireError('index out of range: truncated varint');
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  vLo = lo >>> 0;
  vHi = hi >>> 0;
  return pos;
}

/** Skips one field of `wireType` starting at `pos` (after its tag); returns the position after it. */
function skipField(buf: Uint8Array, pos: number, end: number, wireType: number, depth = 0): number {
  switch (wireType) {
    case 0:
      return readVarint(buf, pos, end);
    case 1:
      pos += 8;
      break;
    case 2:
      pos = readVarint(buf, pos, end);
      if (vHi !== 0) throw new WireError('length-delimited field longer than 2^32');
      pos += vLo;
      break;
    case 3: {
      // A group (proto2, unused by raftpb): skip fields up to its end tag.
      if (depth > 32) throw new WireError('groups nested too deeply');
      for (;;) {
        pos = readVarint(buf, pos, end);
        const wt = vLo & 7;
        if (wt === 4) return pos;
        pos = skipField(buf, pos, end, wt, depth + 1);
      }
    }
    case 5:
      pos += 4;
      break;
    default:
      throw new WireError(`invalid wire type ${wireType}`);
  }
  if (pos > end) throw new WireError('index out of range: truncated field');
  return pos;
}

/** The error for a tag whose slot is BAD_TAG: field number 0, or a known field with another wire type. */
function badTag(tag: number, table: ReaderFieldTable): WireError {
  const field = tag >>> 3;
  if (field === 0) return new WireError('invalid field tag');
  const slot = table.slotOfTag.subarray(field << 3, (field + 1) << 3).find((x) => x !== BAD_TAG) ?? 0;
  return new WireError(`field ${field} (${table.nameOf[slot]}) has wire type ${tag & 7}, expected ${table.wireOf[slot]}`);
}

/** The last varint as a position number, refusing values above 2^53 - 1 (as safeNumber does). */
function varintPosition(field: string): number {
  if (vHi > 0x1fffff) throw new RaftpbError(`${field} = 0x${halvesHex(vLo, vHi)} is above 2^53 and cannot be used as a position`);
  return vHi * 0x1_0000_0000 + vLo;
}

function halvesHex(lo: number, hi: number): string {
  if (hi === 0) return lo.toString(16);
  return hi.toString(16) + lo.toString(16).padStart(8, '0');
}

// Member IDs repeat in every message: the last few (lo, hi) → hex strings are kept, so a message
// costs two comparisons per ID instead of two number-to-hex conversions. Bounded (ID_CACHE entries).
const ID_CACHE = 16;
const idLo = new Uint32Array(ID_CACHE);
const idHi = new Uint32Array(ID_CACHE);
const idStr: string[] = new Array<string>(ID_CACHE).fill('0');
let idNext = 0;

function memberIdHex(lo: number, hi: number): string {
  for (let k = 0; k < ID_CACHE; k++) if (idLo[k] === lo && idHi[k] === hi) return idStr[k]!;
  const s = halvesHex(lo, hi);
  idLo[idNext] = lo;
  idHi[idNext] = hi;
  idStr[idNext] = s;
  idNext = (idNext + 1) % ID_CACHE;
  return s;
}

/** [start, end) of the length-delimited value whose tag was just read at `pos`; returns end via lenEnd. */
let lenEnd = 0;
function readLength(buf: Uint8Array, pos: number, end: number): number {
  pos = readVarint(buf, pos, end);
  if (vHi !== 0 || pos + vLo > end) throw new WireError('index out of range: truncated length-delimited field');
  lenEnd = pos + vLo;
  return pos;
}

const EMPTY_BYTES = new Uint8Array(0);

function readEntry(buf: Uint8Array, pos: number, end: number, what: string, where: string): RawEntry {
  let type = 0;
  let tLo = 0;
  let tHi = 0;
  let iLo = 0;
  let iHi = 0;
  let data: Uint8Array = EMPTY_BYTES;
  try {
    while (pos < end) {
      pos = readVarint(buf, pos, end);
      if (vHi !== 0) throw new WireError('invalid field tag');
      const tag = vLo;
      switch (tag < ENTRY_TAG.length ? ENTRY_TAG[tag]! : EntrySlot.Skip) {
        case EntrySlot.Skip:
          pos = skipField(buf, pos, end, tag & 7);
          break;
        case EntrySlot.Bad:
          throw badTag(tag, ENTRY_FIELDS);
        case EntrySlot.Type:
          pos = readVarint(buf, pos, end);
          type = vLo | 0;
          break;
        case EntrySlot.Term:
          pos = readVarint(buf, pos, end);
          tLo = vLo;
          tHi = vHi;
          break;
        case EntrySlot.Index:
          pos = readVarint(buf, pos, end);
          iLo = vLo;
          iHi = vHi;
          break;
        case EntrySlot.Data: {
          const start = readLength(buf, pos, end);
          pos = lenEnd;
          data = buf.subarray(start, pos);
          break;
        }
      }
    }
  } catch (err) {
    if (err instanceof WireError) throw new RaftpbError(`${what}: invalid protobuf (${err.message})`);
    throw err;
  }
  vLo = tLo;
  vHi = tHi;
  const term = varintPosition(`${where}.Term`);
  vLo = iLo;
  vHi = iHi;
  const index = varintPosition(`${where}.Index`);
  return { type, term, index, data };
}

// etcd sends field 9 in every message (gogoproto non-nullable), almost always the same empty
// snapshot (fact sheet §7: 12 08 0a 02 28 00 10 00 18 00 after tag and length): decoding it with protobufjs
// was about half of a message's decode cost. The last small snapshot's bytes and result are kept and
// reused when the next one is byte-identical; each message still gets its own object.
const SNAP_CACHE_MAX = 64;
const snapCacheBytes = new Uint8Array(SNAP_CACHE_MAX);
let snapCacheLen = -1;
let snapCacheMeta: RawSnapshotMeta | undefined;

function readSnapshot(buf: Uint8Array, start: number, end: number): RawSnapshotMeta | undefined {
  const len = end - start;
  let hit = len === snapCacheLen;
  for (let i = 0; hit && i < len; i++) hit = buf[start + i] === snapCacheBytes[i];
  if (!hit) {
    const meta = snapshotMeta(pbDecode(SnapshotPb, buf.subarray(start, end), 'raftpb.Message'));
    if (len > SNAP_CACHE_MAX) return meta;
    snapCacheBytes.set(buf.subarray(start, end));
    snapCacheLen = len;
    snapCacheMeta = meta;
  }
  const m = snapCacheMeta;
  return m && { index: m.index, term: m.term, voters: m.voters.slice(), learners: m.learners.slice(), votersOutgoing: m.votersOutgoing.slice() };
}

function readMessage(buf: Uint8Array): RawMessage {
  const end = buf.length;
  let pos = 0;
  let type = 0;
  let to = '0';
  let from = '0';
  // uint64 positions kept as halves until the end, so the last occurrence wins (protobuf semantics)
  // and the 2^53 check names the field.
  let termLo = 0, termHi = 0, logTermLo = 0, logTermHi = 0, indexLo = 0, indexHi = 0;
  let commitLo = 0, commitHi = 0, hintLo = 0, hintHi = 0;
  let reject = false;
  // Entries and the snapshot are remembered as byte ranges and decoded after the scan.
  const entryRanges: number[] = [];
  let snapStart = -1;
  let snapEnd = -1;
  try {
    while (pos < end) {
      pos = readVarint(buf, pos, end);
      if (vHi !== 0) throw new WireError('invalid field tag');
      const tag = vLo;
      const slot = tag < MSG_TAG.length ? MSG_TAG[tag]! : MsgSlot.Skip;
      if (slot < MsgSlot.FirstVarint) {
        switch (slot) {
          case MsgSlot.Skip:
            pos = skipField(buf, pos, end, tag & 7); // context and unknown fields: not needed
            break;
          case MsgSlot.Bad:
            throw badTag(tag, MESSAGE_FIELDS);
          case MsgSlot.Entries:
            entryRanges.push(readLength(buf, pos, end), lenEnd);
            pos = lenEnd;
            break;
          case MsgSlot.Snapshot:
            snapStart = readLength(buf, pos, end);
            snapEnd = pos = lenEnd;
            break;
        }
        continue;
      }
      pos = readVarint(buf, pos, end);
      switch (slot) {
        case MsgSlot.Type:
          type = vLo | 0;
          break;
        case MsgSlot.To:
          to = memberIdHex(vLo, vHi);
          break;
        case MsgSlot.From:
          from = memberIdHex(vLo, vHi);
          break;
        case MsgSlot.Term:
          termLo = vLo;
          termHi = vHi;
          break;
        case MsgSlot.LogTerm:
          logTermLo = vLo;
          logTermHi = vHi;
          break;
        case MsgSlot.Index:
          indexLo = vLo;
          indexHi = vHi;
          break;
        case MsgSlot.Commit:
          commitLo = vLo;
          commitHi = vHi;
          break;
        case MsgSlot.Reject:
          reject = (vLo | vHi) !== 0;
          break;
        case MsgSlot.RejectHint:
          hintLo = vLo;
          hintHi = vHi;
          break;
      }
    }
  } catch (err) {
    if (err instanceof WireError) throw new RaftpbError(`raftpb.Message: invalid protobuf (${err.message})`);
    throw err;
  }
  // Checked in the order the protobufjs path checks them, so both name the same field first.
  vLo = termLo; vHi = termHi;
  const term = varintPosition('Message.term');
  vLo = logTermLo; vHi = logTermHi;
  const logTerm = varintPosition('Message.logTerm');
  vLo = indexLo; vHi = indexHi;
  const index = varintPosition('Message.index');
  const entries: RawEntry[] = new Array(entryRanges.length >> 1);
  for (let k = 0; k < entries.length; k++) {
    entries[k] = readEntry(buf, entryRanges[2 * k]!, entryRanges[2 * k + 1]!, 'raftpb.Message', `Message.entries[${k}]`);
  }
  vLo = commitLo; vHi = commitHi;
  const commit = varintPosition('Message.commit');
  vLo = hintLo; vHi = hintHi;
  const rejectHint = varintPosition('Message.rejectHint');
  const msg: RawMessage = { type, to, from, term, logTerm, index, entries, commit, reject, rejectHint };
  if (snapStart >= 0) {
    const meta = readSnapshot(buf, snapStart, snapEnd);
    if (meta) msg.snapshot = meta;
  }
  return msg;
}

export function decodeConfChange(entryType: number, data: Uint8Array): RawConfChange {
  if (entryType === EntryType.EntryConfChange) {
    const cc = pbDecode(ConfChangePb, data, 'raftpb.ConfChange');
    return { changes: [{ type: (cc['type'] as number | undefined) ?? 0, nodeId: idHex(cc['node_id']) }], leaveJoint: false };
  }
  const cc = pbDecode(ConfChangeV2Pb, data, 'raftpb.ConfChangeV2');
  const changes = ((cc['changes'] as Decoded[] | undefined) ?? []).map((c) => ({
    type: (c['type'] as number | undefined) ?? 0,
    nodeId: idHex(c['node_id']),
  }));
  return { changes, leaveJoint: changes.length === 0 };
}
