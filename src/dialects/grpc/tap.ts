// The gRPC dialect as a passive reader for `raftguard run` and pcap replay: the HTTP/2 + gRPC reader
// (proxy/http2) on each relayed connection, feeding the schema-driven dialect. Times are turned into
// ms since `runStart`, as the event contract wants.

import { createHttp2Tap, type Http2ReaderOptions, type Http2TapFactory } from '../../../proxy/http2/index.js';
import type { RaftEvent } from '../../events/types.js';
import { createGrpcDialect, type GrpcDialect, type GrpcDialectConfig } from './dialect.js';

export interface GrpcTapError {
  conn: string;
  member: string;
  /** "http2" = the connection could not be followed (reading it stopped); "grpc" = one message did not decode. */
  layer: 'http2' | 'grpc';
  message: string;
}

export interface GrpcTapOptions extends Omit<GrpcDialectConfig, 'onError'> {
  /** ms since epoch of t = 0. */
  runStart: number;
  onEvent(ev: RaftEvent): void;
  onDecodeError?(e: GrpcTapError): void;
  http2?: Http2ReaderOptions;
}

export type GrpcTapFactory = Http2TapFactory & { readonly dialect: GrpcDialect };

/** Throws GrpcDialectConfigError (every schema problem at once) before any connection is read. */
export function createGrpcTap(opts: GrpcTapOptions): GrpcTapFactory {
  const members = new Map<string, string>(); // conn -> member, for dialect errors (bounded by open streams)
  const dialect = createGrpcDialect({
    ...opts,
    onError: (e) => opts.onDecodeError?.({ conn: e.conn, member: members.get(e.conn) ?? '', layer: 'grpc', message: `stream ${e.streamId} ${e.path} ${e.direction}: ${e.reason}` }),
  });
  const factory = createHttp2Tap(
    {
      onMessage(m) {
        members.set(m.conn, m.member);
        const events = dialect.onMessage({ ...m, t: m.t - opts.runStart });
        members.delete(m.conn);
        for (const ev of events) opts.onEvent(ev);
      },
      onStreamEnd(e) {
        dialect.onStreamEnd(e.conn, e.streamId);
      },
      onError(e) {
        opts.onDecodeError?.({ conn: e.conn, member: e.member, layer: 'http2', message: `${e.dir} offset ${e.offset}: ${e.reason}` });
      },
    },
    opts.http2,
  );
  return Object.assign(factory, { dialect });
}
