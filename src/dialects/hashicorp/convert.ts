// HashiCorp raft RPCs → RaftEvents (capture format v1). Schemas and meanings:
// shared/research/hashicorp-raft.md §3.5-3.7. Pure apart from the address → member names.
//
// Requests become events on their own. Responses carry no request id, and AppendEntries' LastLog is
// the follower's last index *before* the request, so a response means something only next to its
// request: the tap pairs them FIFO per connection and hands the pair's facts (PendingRequest) here.

import type { Entry, EntryKind, NodeId, RaftEvent } from '../../events/types.js';
import { payloadDigest } from '../etcd/convert.js';
import { MsgpackReader, rawText, type MsgMap, type MsgValue } from './msgpack.js';
import type { MemberAddresses } from './members.js';
import { RPC_NAMES, RpcType, type RequestFrame, type ResponseFrame } from './transport.js';

/** LogType (§3.6). */
export const LogType = {
  Command: 0,
  Noop: 1,
  AddPeerDeprecated: 2,
  RemovePeerDeprecated: 3,
  Barrier: 4,
  Configuration: 5,
} as const;

/** A field that is missing, of the wrong type, or beyond what a position can be. */
export class FieldError extends Error {}

/** What a response needs from its request. */
export interface PendingRequest {
  rpc: number;
  /** Event id shared by the request's event and its response's. */
  id: string;
  /** The sender (dialer), by member name; undefined when the request named nobody (TimeoutNow). */
  from: NodeId | undefined;
  /** AppendEntries: the heartbeat shape (its response says nothing about the log). */
  heartbeat: boolean;
  /** AppendEntries: PrevLogEntry + number of entries = what a success means the follower holds. */
  matchOnSuccess: number;
  /** InstallSnapshot: LastLogIndex. */
  snapshotIndex: number;
  /** The request could not become an event; its response is skipped too. */
  skipped: boolean;
}

export interface ConvertContext {
  members: MemberAddresses;
}

function describe(v: MsgValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'nil';
  if (typeof v === 'bigint') return `${v} (above 2^53, not usable as a position)`;
  if (v instanceof Uint8Array) return `a ${v.length}-byte string`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Map) return 'a map';
  return JSON.stringify(v) ?? typeof v;
}

/**
 * A uint64 position or term. go-msgpack keeps them exact on the wire and the reader keeps them exact
 * (bigint above 2^53); the event contract's numbers cannot, so such a value refuses the message, as
 * the etcd dialect refuses positions above 2^53, rather than report a rounded index.
 */
export function pos(m: MsgMap, key: string, what: string): number {
  const v = m.get(key);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new FieldError(`${what}.${key} is ${describe(v)}, expected an unsigned integer`);
}

function bool(m: MsgMap, key: string, what: string, dflt?: boolean): boolean {
  const v = m.get(key);
  if (typeof v === 'boolean') return v;
  if (v === undefined && dflt !== undefined) return dflt;
  throw new FieldError(`${what}.${key} is ${describe(v)}, expected a bool`);
}

/**
 * The sender's advertised address: the RPCHeader's `Addr` (raft ≥ 1.3.7, which receivers prefer)
 * when present and non-empty, else the request's own field (Leader / Candidate).
 */
function senderAddress(m: MsgMap, field: string | undefined, what: string): string {
  const addr = rawText(m.get('Addr'));
  if (addr) return addr;
  const v = field ? rawText(m.get(field)) : undefined;
  if (v) return v;
  throw new FieldError(`${what} names no sender (${field ? `${field} and ` : ''}Addr ${field ? 'are' : 'is'} ${describe(field ? m.get(field) : m.get('Addr'))})`);
}

const EMPTY = new Uint8Array(0);

function kindOf(type: number): EntryKind {
  switch (type) {
    case LogType.Noop:
    // LogBarrier: the leader appends it in its own term and its Data is nil; the FSM never sees it
    // (it only waits for everything before it to apply). On the wire it is what a no-op is: a
    // leader's own-term entry carrying no command, so it is reported as one.
    case LogType.Barrier:
      return 'noop';
    case LogType.Configuration:
    case LogType.AddPeerDeprecated:
    case LogType.RemovePeerDeprecated:
      return 'config';
    default:
      // LogCommand, and types newer than this decoder: handed to the FSM or at least not membership.
      return 'data';
  }
}

/**
 * The voters of a msgpack Configuration ({Servers: [{Address, ID, Suffrage}]}, Suffrage 0 = Voter),
 * by member name. undefined when the bytes are not such a configuration (the entry stays a config
 * entry with unknown voters rather than failing the message).
 */
export function decodeVoters(data: Uint8Array, ctx: ConvertContext): NodeId[] | undefined {
  if (data.length === 0) return undefined;
  const r = new MsgpackReader({ maxValueBytes: data.length, maxValues: 64 * 1024, maxDepth: 8 });
  let end: number;
  try {
    end = r.read(data, 0);
  } catch {
    return undefined;
  }
  if (!r.done || end !== data.length || !(r.value instanceof Map)) return undefined;
  const servers = r.value.get('Servers');
  if (!Array.isArray(servers)) return undefined;
  const voters = new Set<NodeId>();
  for (const s of servers) {
    if (!(s instanceof Map)) return undefined;
    const suffrage = s.get('Suffrage');
    const address = rawText(s.get('Address'));
    if (typeof suffrage !== 'number' || address === undefined) return undefined;
    if (suffrage === 0) voters.add(ctx.members.name(address));
  }
  return [...voters].sort();
}

function convertEntries(v: MsgValue | undefined, ctx: ConvertContext): Entry[] {
  // Entries is nil in heartbeats and an empty array in commit-carrying probes (§3.4): both mean none.
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new FieldError(`AppendEntries.Entries is ${describe(v)}, expected an array of Log`);
  const out: Entry[] = new Array(v.length);
  for (let k = 0; k < v.length; k++) {
    const l = v[k];
    if (!(l instanceof Map)) throw new FieldError(`AppendEntries.Entries[${k}] is ${describe(l)}, expected a Log map`);
    const what = `AppendEntries.Entries[${k}]`;
    const index = pos(l, 'Index', what);
    const term = pos(l, 'Term', what);
    const type = pos(l, 'Type', what);
    const d = l.get('Data');
    if (d !== null && d !== undefined && !(d instanceof Uint8Array)) throw new FieldError(`${what}.Data is ${describe(d)}, expected bytes`);
    const data = d ?? EMPTY;
    const kind = kindOf(type);
    // The digest covers Data only, like the etcd dialect's; kind tells command from no-op entries.
    const e: Entry = { index, term, kind, digest: payloadDigest(data), size: data.length };
    if (type === LogType.Configuration) {
      const voters = decodeVoters(data, ctx);
      if (voters) e.voters = voters;
    }
    out[k] = e;
  }
  // A Log's Index must follow PrevLogEntry + k; the library does not check it, neither do we: the
  // engine's log-matching judges what was sent.
  return out;
}

export interface RequestResult {
  event: RaftEvent | undefined;
  pending: PendingRequest;
  /** The member the request names as its sender, when it names one. */
  sender: NodeId | undefined;
  term: number | undefined;
}

export interface Dialer {
  /** The connection's dialer as far as earlier requests told, else the latest leader seen. */
  from: NodeId | undefined;
  term: number | undefined;
}

/**
 * One request → its event (undefined for nothing to report) and what its response will need.
 * Throws FieldError when a field is unusable; the caller reports it and pairs a skipped response.
 */
export function convertRequest(f: RequestFrame, t: number, to: NodeId, id: string, dialer: Dialer, ctx: ConvertContext): RequestResult {
  const m = f.body;
  const what = RPC_NAMES[f.rpc]!;
  const pending: PendingRequest = { rpc: f.rpc, id, from: dialer.from, heartbeat: false, matchOnSuccess: -1, snapshotIndex: -1, skipped: false };
  switch (f.rpc) {
    case RpcType.AppendEntries: {
      const term = pos(m, 'Term', what);
      const from = ctx.members.name(senderAddress(m, 'Leader', what));
      const prevIndex = pos(m, 'PrevLogEntry', what);
      const prevTerm = pos(m, 'PrevLogTerm', what);
      const commit = pos(m, 'LeaderCommitIndex', what);
      const entries = convertEntries(m.get('Entries'), ctx);
      pending.from = from;
      // The follower's fast path takes exactly this shape as a heartbeat (raft.go processHeartbeat:
      // Term and Leader set, PrevLogEntry, PrevLogTerm, LeaderCommitIndex zero, no entries). Its
      // commit 0 is not the leader's commit: it is reported as a `heartbeat`, which carries no log
      // position, so the engine never reads it as a leader's commit going backwards (view.ts only
      // lets a heartbeat's commit raise what a follower may commit, and 0 raises nothing).
      if (term !== 0 && prevIndex === 0 && prevTerm === 0 && commit === 0 && entries.length === 0) {
        pending.heartbeat = true;
        return { event: { t, from, to, term, id, type: 'heartbeat', commit: 0 }, pending, sender: from, term };
      }
      pending.matchOnSuccess = prevIndex + entries.length;
      return { event: { t, from, to, term, id, type: 'append', prevIndex, prevTerm, entries, commit }, pending, sender: from, term };
    }
    case RpcType.RequestVote:
    case RpcType.RequestPreVote: {
      const term = pos(m, 'Term', what);
      // PreVote (raft ≥ 1.7) has no Candidate field: its sender is the RPCHeader's Addr.
      const from = ctx.members.name(senderAddress(m, f.rpc === RpcType.RequestVote ? 'Candidate' : undefined, what));
      const lastIndex = pos(m, 'LastLogIndex', what);
      const lastTerm = pos(m, 'LastLogTerm', what);
      // LeadershipTransfer (true in the vote after a TimeoutNow) has no field in the event contract;
      // the timeout_now event just before it on the wire tells the same story.
      if (f.rpc === RpcType.RequestVote) bool(m, 'LeadershipTransfer', what, false);
      pending.from = from;
      return { event: { t, from, to, term, id, type: 'vote', lastIndex, lastTerm, pre: f.rpc === RpcType.RequestPreVote }, pending, sender: from, term };
    }
    case RpcType.InstallSnapshot: {
      const term = pos(m, 'Term', what);
      const from = ctx.members.name(senderAddress(m, 'Leader', what));
      const lastIndex = pos(m, 'LastLogIndex', what);
      const lastTerm = pos(m, 'LastLogTerm', what);
      pending.from = from;
      pending.snapshotIndex = lastIndex;
      const ev: RaftEvent = { t, from, to, term, id, type: 'snapshot', lastIndex, lastTerm };
      const c = m.get('Configuration');
      if (c instanceof Uint8Array) {
        const voters = decodeVoters(c, ctx);
        if (voters && voters.length > 0) ev.voters = voters;
      }
      return { event: ev, pending, sender: from, term };
    }
    case RpcType.TimeoutNow: {
      // TimeoutNowRequest carries only the RPC header: no term and (before 1.3.7) no sender. Only a
      // leader sends it, over one of its pooled connections to the target, so the sender is that
      // connection's dialer as earlier requests named it, else the latest leader seen, with its term.
      const addr = rawText(m.get('Addr'));
      const from = addr ? ctx.members.name(addr) : dialer.from;
      pending.from = from;
      if (from === undefined) throw new FieldError('TimeoutNow names no sender and none is known for this connection or cluster');
      return { event: { t, from, to, term: dialer.term ?? 0, id, type: 'timeout_now' }, pending, sender: addr ? from : undefined, term: undefined };
    }
    default:
      throw new FieldError(`rpc type ${f.rpc} has no meaning here`);
  }
}

/**
 * One response paired with its request → its event. `from` is the member behind the listener.
 * undefined: nothing to report (the remote answered with an error, a TimeoutNow ack, a skipped request).
 */
export function convertResponse(f: ResponseFrame, req: PendingRequest, t: number, from: NodeId): RaftEvent | undefined {
  if (req.skipped || f.error !== '' || f.body === null || req.from === undefined) return undefined;
  const m = f.body;
  const to = req.from;
  const id = req.id;
  const what = `${RPC_NAMES[req.rpc]}Response`;
  switch (req.rpc) {
    case RpcType.AppendEntries: {
      const term = pos(m, 'Term', what);
      const success = bool(m, 'Success', what);
      // A heartbeat's answer tells that the follower is alive and its term, nothing about its log:
      // LastLog is the follower's last index, not one known to match the leader's.
      if (req.heartbeat) return { t, from, to, term, id, type: 'heartbeat_resp' };
      // Success: the follower's log now matches the leader's through the request's last entry
      // (what the leader itself takes as matchIndex). LastLog is only its last index before the
      // request, so it is the reject hint, the one use the leader makes of it (nextIndex ≤ LastLog+1).
      if (success) return { t, from, to, term, id, type: 'append_resp', success: true, match: req.matchOnSuccess };
      return { t, from, to, term, id, type: 'append_resp', success: false, hint: pos(m, 'LastLog', what) };
    }
    case RpcType.RequestVote:
    case RpcType.RequestPreVote:
      return { t, from, to, term: pos(m, 'Term', what), id, type: 'vote_resp', granted: bool(m, 'Granted', what), pre: req.rpc === RpcType.RequestPreVote };
    case RpcType.InstallSnapshot: {
      const term = pos(m, 'Term', what);
      const success = bool(m, 'Success', what);
      return success ? { t, from, to, term, id, type: 'snapshot_resp', success, match: req.snapshotIndex } : { t, from, to, term, id, type: 'snapshot_resp', success };
    }
    default:
      // TimeoutNowResponse carries nothing (ProtocolVersion only, 0 in 1.1.2).
      return undefined;
  }
}
