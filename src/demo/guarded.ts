// The reference cluster with RaftGuard in front of every member (the peer-address rewrite done by
// the `interpose` hook): what `raftguard demo` runs and what the end-to-end tests drive.

import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RunConfig } from '../config/run-config.js';
import type { Thresholds } from '../engine.js';
import type { Sink } from '../runtime/monitor.js';
import { startRun, type RunningInstance } from '../runtime/runner.js';
import { ReferenceCluster, type ReferenceClusterOptions } from './cluster.js';
import { findRepoRoot } from './protos.js';

export interface GuardedClusterOptions {
  cluster?: Omit<ReferenceClusterOptions, 'interpose'>;
  thresholds?: Partial<Thresholds>;
  capturePath?: string;
  /** Admin port; 0 = any free port. When the port is taken, falls back to a free one. */
  adminPort?: number;
  log: Logger;
  sinks?: Sink[];
  mode?: RunConfig['mode'];
  noop?: unknown;
  routes?: Parameters<typeof startRun>[1]['routes'];
}

export interface GuardedCluster {
  cluster: ReferenceCluster;
  running: RunningInstance;
  config: RunConfig;
  stop(): Promise<void>;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export function guardedConfig(members: ReadonlyArray<{ id: string; peerAddress: string; clientAddress?: string }>, o: GuardedClusterOptions, adminPort: number): RunConfig {
  return {
    file: '(reference cluster)',
    cluster: 'demo',
    dialect: 'grpc',
    grpc: { proto: [join(findRepoRoot(), 'proto', 'raft.proto')], methods: {}, fields: {} },
    members: members.map((m) => ({
      id: m.id,
      listen: { host: '127.0.0.1', port: 0 },
      target: hostPort(m.peerAddress),
      ...(m.clientAddress ? { client: hostPort(m.clientAddress) } : {}),
    })),
    thresholds: o.thresholds ?? {},
    mode: o.mode ?? 'passive',
    ...(o.capturePath ? { capture: { path: o.capturePath, maxBytes: 64 << 20, keep: 2 } } : {}),
    admin: { listen: { host: '127.0.0.1', port: adminPort } },
    log: { level: 'silent' },
    ...(o.noop !== undefined ? { noop: o.noop } : {}),
  };
}

export async function startGuardedCluster(o: GuardedClusterOptions): Promise<GuardedCluster> {
  let running: RunningInstance | undefined;
  let config: RunConfig | undefined;
  const start = async (cfg: RunConfig): Promise<RunningInstance> => startRun(cfg, { log: o.log, sinks: o.sinks, routes: o.routes });
  let cluster: ReferenceCluster;
  try {
    cluster = await ReferenceCluster.start({
      ...o.cluster,
      interpose: async (members) => {
        const port = o.adminPort ?? 0;
        config = guardedConfig(members, o, port);
        try {
          running = await start(config);
        } catch (err) {
          if (port === 0 || !/EADDRINUSE/.test(String((err as Error).message))) throw err;
          config = guardedConfig(members, o, 0);
          running = await start(config);
        }
        const dial: Record<string, string> = {};
        for (const [id, a] of running.listeners) dial[id] = `${a.host}:${a.port}`;
        return dial;
      },
    });
  } catch (err) {
    await running?.stop();
    throw err;
  }
  // Client addresses are known only after start: fill them in for the injector and the API.
  for (const m of config!.members) {
    const member = cluster.members.get(m.id);
    if (member) m.client = hostPort(member.clientAddress);
  }
  return {
    cluster,
    running: running!,
    config: config!,
    async stop() {
      await cluster.stop();
      await running!.stop();
    },
  };
}
