// The HashiCorp raft (NetworkTransport over plain TCP, msgpack) dialect as a TapFactory: per relayed
// connection, the request stream (dialer → member behind the listener) and the response stream
// (its answers), requests paired with responses FIFO (§3.2: a receiver answers one request at a
// time, in order; pipelining only means many are outstanding), and the conversion to RaftEvents.
// Driven only through Tap.data(dir, chunk, t), so the live relay and pcap replay feed it alike.
//
// Memory per connection: one partial msgpack value per direction (bounded by maxMessageBytes) and
// the outstanding-request queue (bounded by maxOutstanding). Snapshot data is skipped, never kept.

import type { RaftEvent } from '../../events/types.js';
import type { ConnectionInfo, Direction, Tap, TapFactory } from '../../../proxy/tap.js';
import { convertRequest, convertResponse, FieldError, type Dialer, type PendingRequest } from './convert.js';
import { MemberAddresses, type AddressedMember } from './members.js';
import { FramingError, RequestStream, ResponseStream, RPC_NAMES, RpcType, type RequestFrame, type ResponseFrame } from './transport.js';

export interface HashicorpDecodeError {
  connection: string;
  /** The member behind the listener. */
  member: string;
  direction: Direction;
  /** Byte offset in that direction of the connection where the frame or problem starts. */
  offset: number;
  /** The RPC concerned, when known (e.g. "AppendEntries", "InstallSnapshotResponse"). */
  rpc?: string;
  message: string;
  /** true: reading of this connection stopped (framing lost); false: one message skipped. */
  fatal: boolean;
}

export interface HashicorpLimits {
  /** Largest single request or response map (an AppendEntries batch with its entries). */
  maxMessageBytes: number;
  /** Values in one message (bounds the objects decoding makes). */
  maxValues: number;
  /** Requests awaiting a response on one connection (raft 1.1.2 pipelines about 130; ≥ 1.5 two). */
  maxOutstanding: number;
}

export const DEFAULT_HASHICORP_LIMITS: HashicorpLimits = {
  maxMessageBytes: 64 * 1024 * 1024,
  maxValues: 1 << 20,
  maxOutstanding: 4096,
};

export interface HashicorpTapOptions {
  /** ms since epoch of t = 0; events carry `t` = chunk time − runStart. */
  runStart: number;
  /** Members and the raft address they are advertised under (the RaftGuard listener). */
  members: AddressedMember[];
  onEvent(ev: RaftEvent): void;
  /**
   * Every problem is counted in stats; this is called for the first one of each connection only
   * (fail open: one report per connection, DESIGN.md §2), unless `reportEveryError` is set.
   */
  onDecodeError?(err: HashicorpDecodeError): void;
  reportEveryError?: boolean;
  limits?: Partial<HashicorpLimits>;
}

export interface HashicorpTapStats {
  connections: number;
  events: number;
  /** Requests by RPC name. */
  requests: Record<string, number>;
  responses: number;
  /** Responses whose error string was not empty (the remote refused the RPC). */
  remoteErrors: number;
  snapshotBytesSkipped: number;
  decodeErrors: number;
  /** Requests still unanswered when their connection ended (a peer died mid-RPC). */
  unansweredAtEnd: number;
}

export interface HashicorpTap {
  factory: TapFactory;
  stats: HashicorpTapStats;
  members: MemberAddresses;
}

/** Builds the TapFactory plus the shared state it reports through. */
export function createHashicorpTapWithState(opts: HashicorpTapOptions): HashicorpTap {
  const members = new MemberAddresses(opts.members);
  const limits: HashicorpLimits = { ...DEFAULT_HASHICORP_LIMITS, ...opts.limits };
  const ctx = { members };
  const stats: HashicorpTapStats = { connections: 0, events: 0, requests: {}, responses: 0, remoteErrors: 0, snapshotBytesSkipped: 0, decodeErrors: 0, unansweredAtEnd: 0 };
  // The latest leader seen on any connection (highest term of an AppendEntries / InstallSnapshot),
  // to name the sender of a TimeoutNow on a connection that had carried nothing else.
  const leader: Dialer = { from: undefined, term: undefined };

  const emit = (ev: RaftEvent | undefined): void => {
    if (!ev) return;
    stats.events++;
    try {
      opts.onEvent(ev);
    } catch {
      // the event sink's failure is its own, never the relay's
    }
  };

  const factory: TapFactory = (conn: ConnectionInfo) => {
    stats.connections++;
    const msgLimits = { maxValueBytes: limits.maxMessageBytes, maxValues: limits.maxValues };
    const requests = new RequestStream(msgLimits);
    const responses = new ResponseStream(msgLimits);
    const pending: PendingRequest[] = [];
    let head = 0;
    let seq = 0;
    let stopped = false;
    let reported = false;
    const dialer: Dialer = { from: undefined, term: undefined };

    const report = (e: Omit<HashicorpDecodeError, 'connection' | 'member'>): void => {
      stats.decodeErrors++;
      if (e.fatal) stopped = true;
      if (reported && !opts.reportEveryError) return;
      reported = true;
      try {
        opts.onDecodeError?.({ connection: conn.id, member: conn.member, ...e });
      } catch {
        // a sink's failure must not reach the data path
      }
    };

    const onRequest = (f: RequestFrame, t: number): void => {
      const name = RPC_NAMES[f.rpc]!;
      stats.requests[name] = (stats.requests[name] ?? 0) + 1;
      if (f.snapshotSize) stats.snapshotBytesSkipped += f.snapshotSize;
      if (pending.length - head >= limits.maxOutstanding) {
        report({ direction: 'c2s', offset: f.offset, rpc: name, message: `more than ${limits.maxOutstanding} requests without a response on one connection; reading stopped`, fatal: true });
        return;
      }
      const id = `${conn.id}/${seq++}`;
      const known: Dialer = dialer.from !== undefined ? dialer : leader;
      let result;
      try {
        result = convertRequest(f, t, conn.member, id, known, ctx);
      } catch (err) {
        // One unusable message: skip it (and its response), keep reading; the stream is still aligned.
        pending.push({ rpc: f.rpc, id, from: dialer.from, heartbeat: false, matchOnSuccess: -1, snapshotIndex: -1, skipped: true });
        report({ direction: 'c2s', offset: f.offset, rpc: name, message: err instanceof FieldError ? err.message : String(err), fatal: false });
        return;
      }
      pending.push(result.pending);
      if (result.sender !== undefined) {
        // A pooled connection belongs to one requester for its whole life (§3.1).
        dialer.from = result.sender;
        if (result.term !== undefined) dialer.term = result.term;
        if ((f.rpc === RpcType.AppendEntries || f.rpc === RpcType.InstallSnapshot) && result.term !== undefined && result.term >= (leader.term ?? 0)) {
          leader.from = result.sender;
          leader.term = result.term;
        }
      }
      emit(result.event);
    };

    const onResponse = (f: ResponseFrame, t: number): void => {
      stats.responses++;
      if (head >= pending.length) {
        report({ direction: 's2c', offset: f.offset, message: 'a response with no outstanding request (responses must follow requests FIFO); reading stopped', fatal: true });
        return;
      }
      const req = pending[head++]!;
      if (head > 64 && head * 2 > pending.length) {
        pending.splice(0, head);
        head = 0;
      }
      if (f.error !== '') stats.remoteErrors++;
      try {
        emit(convertResponse(f, req, t, conn.member));
      } catch (err) {
        report({ direction: 's2c', offset: f.offset, rpc: `${RPC_NAMES[req.rpc]}Response`, message: err instanceof FieldError ? err.message : String(err), fatal: false });
      }
    };

    const tap: Tap = {
      data(dir: Direction, chunk: Buffer, tAbs: number): void {
        if (stopped) return;
        const t = tAbs - opts.runStart;
        try {
          if (dir === 'c2s') requests.data(chunk, (f) => !stopped && onRequest(f, t));
          else responses.data(chunk, (f) => !stopped && onResponse(f, t));
        } catch (err) {
          const fe = err instanceof FramingError ? err : new FramingError(String(err), -1);
          report({ direction: dir, offset: fe.offset, message: `${fe.message}; reading stopped`, fatal: true });
        }
      },
      end(): void {
        stats.unansweredAtEnd += pending.length - head;
        pending.length = 0;
        head = 0;
      },
    };
    return tap;
  };

  return { factory, stats, members };
}

/** A TapFactory emitting RaftEvents and decode-error callbacks. */
export function createHashicorpTap(opts: HashicorpTapOptions): TapFactory {
  return createHashicorpTapWithState(opts).factory;
}
