// The etcd 3.4 (rafthttp) dialect as a TapFactory: the passive HTTP/1.1 reader per connection, the
// rafthttp body decoders behind it, and the conversion to RaftEvents. Driven only through
// Tap.data(dir, chunk, t), so the live relay and pcap replay feed it the same way.
//
// Which bytes mean what (shared/research/etcd34-rafthttp.md §2, §13): messages A→B travel in the
// *response* of a stream GET that B made to A, and in the *request* body of pipeline/snapshot POSTs
// that A makes to B.

import type { RaftEvent } from '../../events/types.js';
import { Http1Connection, type BodyConsumer, type Http1Limits, type Http1Request, type Http1Response } from '../../../proxy/http1/reader.js';
import type { ConnectionInfo, Direction, TapFactory } from '../../../proxy/tap.js';
import { convertMessage, type ConvertContext } from './convert.js';
import { MemberNames, VoterTracker, normaliseHexId, parseMembersJson } from './members.js';
import { MESSAGE_TYPE_NAMES, type RawMessage } from './raftpb.js';
import {
  BoundedBodyCollector,
  DEFAULT_STREAM_LIMITS,
  MessageStreamDecoder,
  MsgAppV2Decoder,
  SnapshotBodyDecoder,
  type EtcdChannel,
  type StreamLimits,
  type StreamSink,
} from './streams.js';

export type EtcdErrorChannel = EtcdChannel | 'http';

export interface EtcdDecodeError {
  connection: string;
  /** The member behind the listener. */
  member: string;
  direction: Direction;
  channel: EtcdErrorChannel;
  /** For `http`: byte offset in that direction of the connection; otherwise: offset in the de-chunked body. */
  offset: number;
  /** Request that carried the body, e.g. "GET /raft/stream/msgapp/1543619170000d86". */
  request?: string;
  message: string;
}

export interface EtcdEventContext {
  connection: string;
  channel: EtcdChannel;
}

export interface EtcdTapStats {
  connections: number;
  /** Connections left alone because they speak HTTP/2 (etcd's gRPC client API on the peer port). */
  http2Connections: number;
  upgradedConnections: number;
  requests: number;
  events: number;
  /** Decoded messages by raftpb type name. */
  messages: Record<string, number>;
  /** Messages of types the event contract does not describe (MsgProp, MsgReadIndex, ...), by type name. */
  ignored: Record<string, number>;
  linkHeartbeats: number;
  decodeErrors: number;
  membersLearned: number;
}

export interface EtcdTapOptions {
  /** ms since epoch of t = 0; events carry `t` = chunk time − runStart. */
  runStart: number;
  onEvent(ev: RaftEvent, ctx: EtcdEventContext): void;
  /**
   * Every decode error is counted in stats; this is called for the first error of each connection
   * only (fail open: one report per connection, DESIGN.md §2), unless `reportEveryError` is set.
   */
  onDecodeError?(err: EtcdDecodeError): void;
  reportEveryError?: boolean;
  /** hex member ID → node name. Unnamed members are named from `/members` responses, else their hex ID. */
  names?: Record<string, string>;
  /** Voting members at start (hex IDs), to derive `voters` of config entries; else learned from `/members`. */
  voters?: string[];
  httpLimits?: Partial<Http1Limits>;
  streamLimits?: Partial<StreamLimits>;
  /** Largest `/members` response read. */
  maxMembersBodyBytes?: number;
}

export interface EtcdTap {
  factory: TapFactory;
  stats: EtcdTapStats;
  names: MemberNames;
  voters: VoterTracker;
}

const STREAM_PATH = /^\/raft\/stream\/(message|msgapp)\/([0-9a-fA-F]{1,16})$/;

/** Builds the TapFactory plus the shared state (names, voters, counters) it reports through. */
export function createEtcdTapWithState(opts: EtcdTapOptions): EtcdTap {
  const names = new MemberNames(opts.names ?? {});
  const voters = new VoterTracker(opts.voters?.map(normaliseHexId));
  const limits: StreamLimits = { ...DEFAULT_STREAM_LIMITS, ...opts.streamLimits };
  const ctx: ConvertContext = { names, voters };
  const stats: EtcdTapStats = {
    connections: 0,
    http2Connections: 0,
    upgradedConnections: 0,
    requests: 0,
    events: 0,
    messages: {},
    ignored: {},
    linkHeartbeats: 0,
    decodeErrors: 0,
    membersLearned: 0,
  };

  const factory: TapFactory = (conn: ConnectionInfo) => {
    stats.connections++;
    let reported = false;
    const report = (e: EtcdDecodeError): void => {
      stats.decodeErrors++;
      if (reported && !opts.reportEveryError) return;
      reported = true;
      try {
        opts.onDecodeError?.(e);
      } catch {
        // a sink's failure must not reach the data path
      }
    };

    const sinkFor = (direction: Direction, req: Http1Request, fallbackTo?: string): StreamSink => ({
      message(m: RawMessage, tAbs: number, channel: EtcdChannel): void {
        const typeName = MESSAGE_TYPE_NAMES[m.type] ?? `type${m.type}`;
        stats.messages[typeName] = (stats.messages[typeName] ?? 0) + 1;
        let ev: RaftEvent | undefined;
        try {
          ev = convertMessage(m, tAbs - opts.runStart, ctx, fallbackTo);
        } catch (err) {
          this.error(channel, -1, `${typeName} ${m.from}->${m.to}: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        if (!ev) {
          stats.ignored[typeName] = (stats.ignored[typeName] ?? 0) + 1;
          return;
        }
        stats.events++;
        try {
          opts.onEvent(ev, { connection: conn.id, channel });
        } catch {
          // the event sink's failure is its own
        }
      },
      linkHeartbeat(): void {
        stats.linkHeartbeats++;
      },
      error(channel: EtcdChannel, offset: number, message: string): void {
        report({ connection: conn.id, member: conn.member, direction, channel, offset, request: `${req.method} ${req.path}`, message });
      },
    });

    const learnMembers = (body: Buffer, req: Http1Request): void => {
      try {
        const members = parseMembersJson(body.toString('utf8'));
        for (const m of members) {
          if (m.name !== '') {
            names.learn(m.idHex, m.name);
            stats.membersLearned++;
          }
        }
        const voting = members.filter((m) => !m.isLearner).map((m) => m.idHex);
        if (voting.length > 0) voters.setFromMembers(voting);
      } catch (err) {
        report({
          connection: conn.id,
          member: conn.member,
          direction: 's2c',
          channel: 'members',
          offset: 0,
          request: `${req.method} ${req.path}`,
          message: `bad /members JSON: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    };

    return new Http1Connection(
      conn,
      {
        onRequest(req: Http1Request): BodyConsumer | undefined {
          stats.requests++;
          if (req.method !== 'POST') return undefined;
          if (req.path === '/raft') return new MessageBodyCollector(sinkFor('c2s', req), limits.maxMessageBytes);
          if (req.path === '/raft/snapshot') return new SnapshotBodyDecoder(sinkFor('c2s', req, conn.member), limits);
          return undefined;
        },
        onResponse(res: Http1Response, req: Http1Request): BodyConsumer | undefined {
          if (req.method !== 'GET' || res.status !== 200) return undefined;
          const m = STREAM_PATH.exec(req.path);
          if (m) {
            const dialer = normaliseHexId(m[2]!);
            const sink = sinkFor('s2c', req);
            if (m[1] === 'message') return new MessageStreamDecoder(sink, limits);
            const raftTo = req.headers['x-raft-to'];
            let server: string | undefined;
            try {
              server = raftTo !== undefined ? normaliseHexId(raftTo) : undefined;
            } catch {
              server = undefined;
            }
            return new MsgAppV2Decoder(sink, server, dialer, limits);
          }
          if (req.path === '/members') {
            return new BoundedBodyCollector(
              opts.maxMembersBodyBytes ?? 1024 * 1024,
              (body) => learnMembers(body, req),
              (size) =>
                report({
                  connection: conn.id,
                  member: conn.member,
                  direction: 's2c',
                  channel: 'members',
                  offset: size,
                  request: 'GET /members',
                  message: 'response larger than the /members read limit; not read',
                }),
            );
          }
          return undefined;
        },
        onError(e): void {
          report({ connection: e.connection, member: conn.member, direction: e.direction, channel: 'http', offset: e.offset, message: e.message });
        },
        onStop(reason): void {
          if (reason === 'http2') stats.http2Connections++;
          else if (reason === 'upgrade') stats.upgradedConnections++;
        },
      },
      opts.httpLimits,
    );
  };

  return { factory, stats, names, voters };
}

/** The brief's API: a TapFactory emitting RaftEvents and decode-error callbacks. */
export function createEtcdTap(opts: EtcdTapOptions): TapFactory {
  return createEtcdTapWithState(opts).factory;
}

/** POST /raft: the whole body is one raftpb.Message (no length prefix). */
class MessageBodyCollector implements BodyConsumer {
  private readonly inner: BoundedBodyCollector;
  private decoder: MessageStreamDecoder | undefined;

  constructor(sink: StreamSink, limit: number) {
    this.inner = new BoundedBodyCollector(
      limit,
      (body, t) => {
        // Reuse the stream decoder's message path by framing the body as one stream frame.
        const header = Buffer.alloc(8);
        header.writeUInt32BE(Math.floor(body.length / 0x1_0000_0000), 0);
        header.writeUInt32BE(body.length >>> 0, 4);
        this.decoder = new MessageStreamDecoder(sink, { ...DEFAULT_STREAM_LIMITS, maxMessageBytes: limit }, 'pipeline');
        this.decoder.data(header, t);
        this.decoder.data(body, t);
      },
      (size) => sink.error('pipeline', size, `pipeline body larger than the ${limit}-byte limit; not decoded`),
    );
  }

  data(chunk: Buffer, t: number): boolean {
    return this.inner.data(chunk);
  }

  end(t: number, complete: boolean): void {
    this.inner.end(t, complete);
  }
}
