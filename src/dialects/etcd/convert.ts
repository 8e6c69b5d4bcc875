// raftpb Message → RaftEvent (capture format v1). Pure apart from the shared member/voter state.
// Field meanings per message type follow shared/research/etcd34-rafthttp.md §8.

import type { Entry, RaftEvent } from '../../events/types.js';
import type { MemberNames, VoterTracker } from './members.js';
import { EntryType, MessageType, decodeConfChange, type RawConfChange, type RawEntry, type RawMessage } from './raftpb.js';

export interface ConvertContext {
  names: MemberNames;
  voters: VoterTracker;
}

/** Char codes of '0'..'9', 'a'..'f'. */
const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * Short hex hash of an entry payload: 16 hex digits from two independent 32-bit MurmurHash3-style
 * lanes (different seeds and multipliers) over 4-byte little-endian words, each finalised with
 * murmur3's fmix32. Not cryptographic, and it need not be: the digest only lets log-matching (RG003,
 * RG004) tell two payloads at the same (index, term) apart. Equal payloads always get equal digests,
 * so a collision (about 2^-64 for unrelated payloads) can only hide a divergence, never invent one.
 * Chosen over SHA-256 because hashing runs for every entry on the relay's thread: a node:crypto Hash
 * per entry cost more than the rest of decoding (object + C++ handle + GC), this costs ~1 ns/byte.
 */
export function payloadDigest(data: Uint8Array): string {
  const n = data.length;
  let h1 = 0x9747b28c ^ n;
  let h2 = 0x5bd1e995 ^ Math.imul(n, 0x2c1b3c6d);
  const words = n & ~3;
  let i = 0;
  for (; i < words; i += 4) {
    const k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    let k1 = Math.imul(k, 0xcc9e2d51);
    k1 = Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    h1 ^= k1;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    let k2 = Math.imul(k, 0x85ebca6b);
    k2 = Math.imul((k2 << 17) | (k2 >>> 15), 0xc2b2ae35);
    h2 ^= k2;
    h2 = (h2 << 15) | (h2 >>> 17);
    h2 = (Math.imul(h2, 9) + 0x38495ab5) | 0;
  }
  if (i < n) {
    let k = 0;
    for (let s = 0; i < n; i++, s += 8) k |= data[i]! << s;
    let k1 = Math.imul(k, 0xcc9e2d51);
    h1 ^= Math.imul((k1 << 15) | (k1 >>> 17), 0x1b873593);
    let k2 = Math.imul(k, 0x85ebca6b);
    h2 ^= Math.imul((k2 << 17) | (k2 >>> 15), 0xc2b2ae35);
  }
  h1 ^= h2 >>> 7; // let each lane's final state depend on the other's
  h2 ^= h1 >>> 11;
  return hex16(fmix32(h1), fmix32(h2));
}

/** Two 32-bit values as 16 lowercase hex digits, built as one flat string (no concatenation). */
function hex16(a: number, b: number): string {
  const c = HEX_CODES;
  return String.fromCharCode(
    c[(a >>> 28) & 15]!, c[(a >>> 24) & 15]!, c[(a >>> 20) & 15]!, c[(a >>> 16) & 15]!,
    c[(a >>> 12) & 15]!, c[(a >>> 8) & 15]!, c[(a >>> 4) & 15]!, c[a & 15]!,
    c[(b >>> 28) & 15]!, c[(b >>> 24) & 15]!, c[(b >>> 20) & 15]!, c[(b >>> 16) & 15]!,
    c[(b >>> 12) & 15]!, c[(b >>> 8) & 15]!, c[(b >>> 4) & 15]!, c[b & 15]!,
  );
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Link-layer heartbeat of the message stream: MsgHeartbeat with from = to = 0. */
export function isLinkHeartbeat(m: RawMessage): boolean {
  return m.type === MessageType.MsgHeartbeat && m.from === '0' && m.to === '0';
}

export function convertEntry(e: RawEntry, ctx: ConvertContext): Entry {
  const digest = payloadDigest(e.data);
  const out: Entry = { index: e.index, term: e.term, kind: 'data', digest, size: e.data.length };
  if (e.type === EntryType.EntryNormal) {
    if (e.data.length === 0) out.kind = 'noop';
  } else if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
    out.kind = 'config';
    let change: RawConfChange | undefined;
    try {
      change = decodeConfChange(e.type, e.data);
    } catch {
      change = undefined; // the entry is still a config entry; only its voters stay unknown
    }
    const voters = ctx.voters.configEntry(e.index, digest, change);
    if (voters) out.voters = voters.map((v) => ctx.names.name(v)).sort();
  }
  return out;
}

function convertEntries(entries: RawEntry[], ctx: ConvertContext): Entry[] {
  const out: Entry[] = new Array(entries.length);
  for (let k = 0; k < entries.length; k++) out[k] = convertEntry(entries[k]!, ctx);
  return out;
}

/**
 * The event for one message, or undefined for types that carry nothing the contract describes
 * (MsgProp, MsgReadIndex, ...). `fallbackTo` names the receiver when the message itself has To = 0.
 * Each event is one object literal with its fields in contract order (no spreads: this runs per message).
 */
export function convertMessage(m: RawMessage, t: number, ctx: ConvertContext, fallbackTo?: string): RaftEvent | undefined {
  const from = ctx.names.name(m.from);
  const to = m.to === '0' && fallbackTo !== undefined ? fallbackTo : ctx.names.name(m.to);
  const term = m.term;
  switch (m.type) {
    case MessageType.MsgApp:
      ctx.voters.noteCommit(m.commit);
      return { t, from, to, term, type: 'append', prevIndex: m.index, prevTerm: m.logTerm, commit: m.commit, entries: convertEntries(m.entries, ctx) };
    case MessageType.MsgAppResp:
      return m.reject
        ? { t, from, to, term, type: 'append_resp', success: false, hint: m.rejectHint }
        : { t, from, to, term, type: 'append_resp', success: true, match: m.index };
    case MessageType.MsgHeartbeat:
      return { t, from, to, term, type: 'heartbeat', commit: m.commit };
    case MessageType.MsgHeartbeatResp:
      return { t, from, to, term, type: 'heartbeat_resp' };
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      return { t, from, to, term, type: 'vote', lastIndex: m.index, lastTerm: m.logTerm, pre: m.type === MessageType.MsgPreVote };
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      return { t, from, to, term, type: 'vote_resp', granted: !m.reject, pre: m.type === MessageType.MsgPreVoteResp };
    case MessageType.MsgSnap: {
      const meta = m.snapshot;
      if (meta) ctx.voters.setFromSnapshot(meta.voters, meta.index);
      const ev: RaftEvent = { t, from, to, term, type: 'snapshot', lastIndex: meta?.index ?? 0, lastTerm: meta?.term ?? 0 };
      if (meta && meta.voters.length > 0) ev.voters = meta.voters.map((v) => ctx.names.name(v)).sort();
      return ev;
    }
    case MessageType.MsgTimeoutNow:
      return { t, from, to, term, type: 'timeout_now' };
    default:
      return undefined;
  }
}
