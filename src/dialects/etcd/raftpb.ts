// raftpb decoding with protobufjs from our own proto2 description (proto/etcd/raftpb.proto).
// uint64 fields arrive as Long: member IDs become lowercase hex strings without leading zeros (the
// form etcd itself prints), terms and indices become numbers only after a check that they are at most
// 2^53 - 1, so nothing is ever silently rounded.

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
  return rawEntry(pbDecode(EntryPb, bytes, 'raftpb.Entry'), 'Entry');
}

export function decodeMessage(bytes: Uint8Array): RawMessage {
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
  const meta = snap?.['metadata'] as Decoded | undefined | null;
  if (meta) {
    const cs = (meta['conf_state'] as Decoded | undefined | null) ?? {};
    msg.snapshot = {
      index: safeNumber(meta['index'], 'Message.snapshot.metadata.index'),
      term: safeNumber(meta['term'], 'Message.snapshot.metadata.term'),
      voters: ((cs['voters'] as unknown[] | undefined) ?? []).map(idHex),
      learners: ((cs['learners'] as unknown[] | undefined) ?? []).map(idHex),
      votersOutgoing: ((cs['voters_outgoing'] as unknown[] | undefined) ?? []).map(idHex),
    };
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
