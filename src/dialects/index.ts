// Picks the dialect's passive reader for `raftguard run`: a TapFactory that turns a copy of each
// relayed connection's bytes into RaftEvents. Dialects know wire formats, never state.

import type { TapFactory } from '../../proxy/tap.js';
import type { RunConfig } from '../config/run-config.js';
import type { RaftEvent } from '../events/types.js';
import { createEtcdTap } from './etcd/index.js';
import { createGrpcTap, GrpcDialectConfigError } from './grpc/index.js';
import { createHashicorpTap } from './hashicorp/index.js';

/** One decode problem on one connection: reading of that connection stopped, forwarding did not. */
export interface DecodeProblem {
  conn: string;
  member: string;
  protocol: string;
  reason: string;
}

export interface DialectSinks {
  /** ms since epoch of t = 0. */
  runStart: number;
  onEvent(ev: RaftEvent): void;
  onDecodeProblem(p: DecodeProblem): void;
}

export async function createDialectTap(cfg: RunConfig, sinks: DialectSinks): Promise<TapFactory> {
  switch (cfg.dialect) {
    case 'etcd': {
      const names: Record<string, string> = {};
      for (const m of cfg.members) if (m.etcdId) names[m.etcdId] = m.id;
      return createEtcdTap({
        runStart: sinks.runStart,
        names,
        onEvent: (ev) => sinks.onEvent(ev),
        onDecodeError: (e) =>
          sinks.onDecodeProblem({
            conn: e.connection,
            member: e.member,
            protocol: `etcd/${e.channel}`,
            reason: `${e.request ? `${e.request}: ` : ''}${e.direction} offset ${e.offset}: ${e.message}`,
          }),
      });
    }
    case 'hashicorp':
      return createHashicorpTap({
        runStart: sinks.runStart,
        // Members name each other by the advertised raft address: the RaftGuard listener in front
        // of each, unless the config says members reach it under another address.
        members: cfg.members.map((m) => ({ id: m.id, address: m.advertise ?? m.listen })),
        onEvent: (ev) => sinks.onEvent(ev),
        onDecodeError: (e) =>
          sinks.onDecodeProblem({
            conn: e.connection,
            member: e.member,
            protocol: 'hashicorp',
            reason: `${e.direction} offset ${e.offset}${e.rpc ? ` ${e.rpc}` : ''}: ${e.message}`,
          }),
      });
    case 'grpc': {
      const g = cfg.grpc!;
      try {
        return createGrpcTap({
          runStart: sinks.runStart,
          protoFiles: g.proto,
          methods: g.methods,
          fields: g.fields,
          onEvent: (ev) => sinks.onEvent(ev),
          onDecodeError: (e) => sinks.onDecodeProblem({ conn: e.conn, member: e.member, protocol: e.layer === 'http2' ? 'http2' : 'grpc', reason: e.message }),
        });
      } catch (err) {
        // Schema problems are configuration problems: report them against the config file.
        if (err instanceof GrpcDialectConfigError) throw new Error(`${cfg.file}: grpc section: ${err.message}`);
        throw err;
      }
    }
  }
}
