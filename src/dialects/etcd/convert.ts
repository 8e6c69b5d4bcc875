// raftpb Message → RaftEvent (capture format v1). Pure apart from the shared member/voter state.
// Field meanings per message type follow shared/research/etcd34-rafthttp.md §8.

import { createHash } from 'node:crypto';
import type { Entry, RaftEvent } from '../../events/types.js';
import type { MemberNames, VoterTracker } from './members.js';
import { EntryType, MessageType, decodeConfChange, type RawConfChange, type RawEntry, type RawMessage } from './raftpb.js';

export interface ConvertContext {
  names: MemberNames;
  voters: VoterTracker;
}

/** Short hex hash of an entry payload: 16 hex digits of SHA-256 (collisions irrelevant at this use). */
export function payloadDigest(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
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

/**
 * The event for one message, or undefined for types that carry nothing the contract describes
 * (MsgProp, MsgReadIndex, ...). `fallbackTo` names the receiver when the message itself has To = 0.
 */
export function convertMessage(m: RawMessage, t: number, ctx: ConvertContext, fallbackTo?: string): RaftEvent | undefined {
  const from = ctx.names.name(m.from);
  const to = m.to === '0' && fallbackTo !== undefined ? fallbackTo : ctx.names.name(m.to);
  const base = { t, from, to, term: m.term };
  switch (m.type) {
    case MessageType.MsgApp:
      ctx.voters.noteCommit(m.commit);
      return {
        ...base,
        type: 'append',
        prevIndex: m.index,
        prevTerm: m.logTerm,
        commit: m.commit,
        entries: m.entries.map((e) => convertEntry(e, ctx)),
      };
    case MessageType.MsgAppResp:
      return m.reject
        ? { ...base, type: 'append_resp', success: false, hint: m.rejectHint }
        : { ...base, type: 'append_resp', success: true, match: m.index };
    case MessageType.MsgHeartbeat:
      return { ...base, type: 'heartbeat', commit: m.commit };
    case MessageType.MsgHeartbeatResp:
      return { ...base, type: 'heartbeat_resp' };
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      return { ...base, type: 'vote', lastIndex: m.index, lastTerm: m.logTerm, pre: m.type === MessageType.MsgPreVote };
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      return { ...base, type: 'vote_resp', granted: !m.reject, pre: m.type === MessageType.MsgPreVoteResp };
    case MessageType.MsgSnap: {
      const meta = m.snapshot;
      if (meta) ctx.voters.setFromSnapshot(meta.voters, meta.index);
      const ev: RaftEvent = { ...base, type: 'snapshot', lastIndex: meta?.index ?? 0, lastTerm: meta?.term ?? 0 };
      if (meta && meta.voters.length > 0) ev.voters = meta.voters.map((v) => ctx.names.name(v)).sort();
      return ev;
    }
    case MessageType.MsgTimeoutNow:
      return { ...base, type: 'timeout_now' };
    default:
      return undefined;
  }
}
