// `raftguard replay --pcap FILE --dialect etcd|grpc [--config FILE]`: a tcpdump capture of peer
// traffic taken anywhere, reassembled per TCP connection and fed to the same dialect readers a live
// relay feeds, then to the same engine and summary as any replay. Connections whose start was not
// captured are reported and skipped (msgappv2 and HPACK cannot be decoded mid-stream).

import { readPcap, type PcapStats } from '../../proxy/pcap/index.js';
import type { TapFactory } from '../../proxy/tap.js';
import type { DialectName, RunConfig } from '../config/run-config.js';
import type { Thresholds } from '../engine.js';
import { CaptureWriter } from '../events/capture.js';
import type { CaptureHeader, RaftEvent } from '../events/types.js';
import { createEtcdTap } from '../dialects/etcd/index.js';
import { createGrpcTap } from '../dialects/grpc/index.js';
import { createHashicorpTap } from '../dialects/hashicorp/index.js';
import { findRepoRoot } from '../demo/protos.js';
import { join } from 'node:path';
import { ReplaySession, type ReplayOptions, type ReplayResult } from './replay.js';

export interface PcapReplayOptions extends ReplayOptions {
  dialect: DialectName;
  /** Members (names, ports, etcd IDs) and the gRPC schema; optional for etcd. */
  config?: RunConfig;
  thresholds?: Partial<Thresholds>;
  /** Also write the decoded events as a capture file (format v1). */
  writeCapture?: string;
}

export interface PcapReplayResult extends ReplayResult {
  pcap: PcapStats;
  notices: string[];
  decodeErrors: string[];
}

export async function replayPcap(file: string, o: PcapReplayOptions): Promise<PcapReplayResult> {
  const cfg = o.config;
  const header: CaptureHeader = {
    raftguard: 'capture',
    version: 1,
    cluster: cfg?.cluster ?? 'pcap',
    ...(cfg ? { nodes: cfg.members.map((m) => m.id) } : {}),
    source: `pcap:${file}`,
  };
  const session = new ReplaySession(header, { ...cfg?.thresholds, ...o.thresholds }, o);
  const writer = o.writeCapture ? new CaptureWriter(o.writeCapture, header) : undefined;
  const notices: string[] = [];
  const decodeErrors: string[] = [];
  // Times: the readers stamp events relative to runStart = 0 (epoch ms); the first event sets t = 0.
  let base: number | undefined;
  const onEvent = (ev: RaftEvent): void => {
    if (base === undefined) base = ev.t;
    ev.t = Math.round((ev.t - base) * 1000) / 1000;
    session.add(ev);
    writer?.write(ev);
  };
  const onDecodeError = (where: string, message: string): void => {
    if (decodeErrors.length < 100) decodeErrors.push(`${where}: ${message}`);
  };

  let tapFactory: TapFactory;
  if (o.dialect === 'etcd') {
    const names: Record<string, string> = {};
    for (const m of cfg?.members ?? []) if (m.etcdId) names[m.etcdId] = m.id;
    tapFactory = createEtcdTap({ runStart: 0, names, onEvent, onDecodeError: (e) => onDecodeError(e.connection, `${e.direction} offset ${e.offset}: ${e.message}`) });
  } else if (o.dialect === 'hashicorp') {
    // Members are named by their advertised raft address (advertise, else listen); without a config
    // they keep the address as their name, which is also how the server side of each captured
    // connection is named, so requests and responses still agree on who is who.
    tapFactory = createHashicorpTap({
      runStart: 0,
      members: (cfg?.members ?? []).map((m) => ({ id: m.id, address: m.advertise ?? m.listen })),
      onEvent,
      onDecodeError: (e) => onDecodeError(e.connection, `${e.direction} offset ${e.offset}${e.rpc ? ` ${e.rpc}` : ''}: ${e.message}`),
    });
  } else {
    tapFactory = createGrpcTap({
      runStart: 0,
      protoFiles: cfg?.grpc?.proto ?? [join(findRepoRoot(), 'proto', 'raft.proto')],
      methods: cfg?.grpc?.methods ?? {},
      fields: cfg?.grpc?.fields ?? {},
      onEvent,
      onDecodeError: (e) => onDecodeError(e.conn, e.message),
    });
  }

  // The server side of a connection is the member: name it by the config's listen/target ports.
  const byPort = new Map<number, string>();
  for (const m of cfg?.members ?? []) {
    byPort.set(m.target.port, m.id);
    if (m.listen.port !== 0) byPort.set(m.listen.port, m.id);
  }
  let pcap: PcapStats;
  try {
    pcap = await readPcap(file, {
      tapFactory,
      ...(byPort.size ? { ports: [...byPort.keys()] } : {}),
      memberOf: (_ip, port) => byPort.get(port),
      onNotice: (n) => {
        if (notices.length < 100) notices.push(n.message);
      },
    });
  } finally {
    await writer?.close();
  }
  return { ...session.finish(), pcap, notices, decodeErrors };
}
