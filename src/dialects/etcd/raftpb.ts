// raftpb decoding from our own proto2 description (proto/etcd/raftpb.proto).
// Member IDs become lowercase hex strings without leading zeros (the form etcd itself prints), terms
// and indices become numbers only after a check that they are at most 2^53 - 1, so nothing is ever
// silently rounded.
//
// Message and Entry, decoded for every message on the relay's thread, are read by a small wire-format
// reader written for exactly these two messages (varints straight into 32-bit halves: no Long object
// per uint64, no intermediate decoded object, unknown fields and `context` skipped unread). The rarely
// seen parts (a MsgSnap's Snapshot, ConfChange entries) are decoded with protobufjs from the .proto.
// test/unit/etcd/raftpb.test.ts checks the reader against protobufjs on random messages.

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

function wireTypeError(field: number, got: number, want: number): WireError {
  return new WireError(`field ${field} has wire type ${got}, expected ${want}`);
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
      const field = vLo >>> 3;
      const wt = vLo & 7;
      if (vHi !== 0 || field === 0) throw new WireError(`invalid field tag`);
      switch (field) {
        case 1:
          if (wt !== 0) throw wireTypeError(field, wt, 0);
          pos = readVarint(buf, pos, end);
          type = vLo | 0;
          break;
        case 2:
          if (wt !== 0) throw wireTypeError(field, wt, 0);
          pos = readVarint(buf, pos, end);
          tLo = vLo;
          tHi = vHi;
          break;
        case 3:
          if (wt !== 0) throw wireTypeError(field, wt, 0);
          pos = readVarint(buf, pos, end);
          iLo = vLo;
          iHi = vHi;
          break;
        case 4: {
          if (wt !== 2) throw wireTypeError(field, wt, 2);
          const start = readLength(buf, pos, end);
          pos = lenEnd;
          data = buf.subarray(start, pos);
          break;
        }
        default:
          pos = skipField(buf, pos, end, wt);
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
      const field = vLo >>> 3;
      const wt = vLo & 7;
      if (vHi !== 0 || field === 0) throw new WireError('invalid field tag');
      if (field === 7 || field === 9) {
        if (wt !== 2) throw wireTypeError(field, wt, 2);
        const start = readLength(buf, pos, end);
        pos = lenEnd;
        if (field === 7) entryRanges.push(start, pos);
        else {
          snapStart = start;
          snapEnd = pos;
        }
        continue;
      }
      if (field > 12 || field === 12) {
        pos = skipField(buf, pos, end, wt); // context (12) and unknown fields: not needed
        continue;
      }
      if (wt !== 0) throw wireTypeError(field, wt, 0);
      pos = readVarint(buf, pos, end);
      switch (field) {
        case 1:
          type = vLo | 0;
          break;
        case 2:
          to = memberIdHex(vLo, vHi);
          break;
        case 3:
          from = memberIdHex(vLo, vHi);
          break;
        case 4:
          termLo = vLo;
          termHi = vHi;
          break;
        case 5:
          logTermLo = vLo;
          logTermHi = vHi;
          break;
        case 6:
          indexLo = vLo;
          indexHi = vHi;
          break;
        case 8:
          commitLo = vLo;
          commitHi = vHi;
          break;
        case 10:
          reject = (vLo | vHi) !== 0;
          break;
        case 11:
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
    const meta = snapshotMeta(pbDecode(SnapshotPb, buf.subarray(snapStart, snapEnd), 'raftpb.Message'));
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
