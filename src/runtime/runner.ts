// `raftguard run`: assembles the data plane (one relay per member), the dialect's passive readers,
// the monitor (engine + ticks) and the sinks (metrics, logs, capture, admin API), and shuts them
// down cleanly: stop accepting, close relayed connections with a FIN (peers reconnect on their own),
// flush the capture and the logs.

import type { Logger } from 'pino';
import { Relay } from '../../proxy/relay.js';
import type { TapFactory } from '../../proxy/tap.js';
import { AdminServer } from '../api/admin.js';
import type { RunConfig } from '../config/run-config.js';
import { CaptureWriter } from '../events/capture.js';
import type { RaftEvent } from '../events/types.js';
import { createDialectTap, type DecodeProblem } from '../dialects/index.js';
import { LogSink } from '../sinks/log.js';
import { MetricsSink } from '../sinks/metrics.js';
import { Monitor, type Sink } from './monitor.js';
import { NoopInjector, parseNoopConfig } from '../actions/noop-injector.js';
import { monotonicNow } from '../../proxy/clock.js';

export interface RunningInstance {
  monitor: Monitor;
  metrics: MetricsSink;
  admin: AdminServer;
  adminAddress: { host: string; port: number };
  relays: Map<string, Relay>;
  /** Bound listener address per member (useful when the config asked for port 0). */
  listeners: Map<string, { host: string; port: number }>;
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** Extra sinks (the demo's terminal view). */
  sinks?: Sink[];
  /** Admin routes added by active mode. */
  routes?: ConstructorParameters<typeof AdminServer>[0]['routes'];
  pages?: ConstructorParameters<typeof AdminServer>[0]['pages'];
  now?: () => number;
}

export async function startRun(cfg: RunConfig, opts: StartOptions): Promise<RunningInstance> {
  const now = opts.now ?? monotonicNow;
  const startedAt = now();
  const monitor = new Monitor({
    cluster: cfg.cluster,
    nodes: cfg.members.map((m) => m.id),
    thresholds: cfg.thresholds,
    startedAt,
    now,
  });
  const metrics = new MetricsSink({ cluster: cfg.cluster, snapshot: () => monitor.snapshot() });
  const logSink = new LogSink(opts.log);
  monitor.addSink(metrics);
  monitor.addSink(logSink);
  for (const s of opts.sinks ?? []) monitor.addSink(s);

  let capture: CaptureWriter | undefined;
  if (cfg.capture) {
    const writer = new CaptureWriter(cfg.capture.path, monitor.header, { maxBytes: cfg.capture.maxBytes, keep: cfg.capture.keep });
    capture = writer;
    monitor.addSink({ event: (ev: RaftEvent) => writer.write(ev), close: () => writer.close() });
  }

  const onDecodeProblem = (p: DecodeProblem): void => {
    metrics.decodeErrors.labels(cfg.cluster, p.protocol).inc();
    logSink.decodeProblem(p);
  };
  // decode: false relays only (no reader is attached at all), to measure or isolate the data plane.
  const tapFactory: TapFactory | undefined = cfg.decode === false ? undefined : await createDialectTap(cfg, {
    runStart: startedAt,
    onEvent: (ev) => monitor.ingest(ev),
    onDecodeProblem,
  });

  let injector: NoopInjector | undefined;
  const routes = { ...opts.routes };
  if (cfg.mode === 'active') {
    injector = new NoopInjector({ config: parseNoopConfig(cfg.noop, cfg.file), monitor, members: () => cfg.members, metrics, log: opts.log, cluster: cfg.cluster });
    monitor.addSink(injector);
    const inj = injector;
    routes['POST /api/noop'] = async (_req, body) => {
      let node: unknown;
      try {
        node = (JSON.parse(body) as { node?: unknown }).node;
      } catch {
        return { status: 400, body: { error: 'expected a JSON body {"node":"<member id>"}' } };
      }
      if (typeof node !== 'string') return { status: 400, body: { error: 'expected a JSON body {"node":"<member id>"}' } };
      const r = await inj.manual(node);
      return { status: r.result === 'ok' ? 200 : 409, body: r };
    };
  }
  const admin = new AdminServer({
    host: cfg.admin.listen.host,
    port: cfg.admin.listen.port,
    token: cfg.admin.token,
    monitor,
    metrics,
    routes,
    pages: opts.pages,
  });
  monitor.addSink(admin);

  const relays = new Map<string, Relay>();
  const listeners = new Map<string, { host: string; port: number }>();
  let adminAddress: { host: string; port: number };
  try {
    adminAddress = await admin.start();
  } catch (err) {
    await capture?.close();
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot listen for the admin API on ${cfg.admin.listen.host}:${cfg.admin.listen.port}: ${e.code ?? e.message}`);
  }
  for (const m of cfg.members) {
    const relay = new Relay({
      member: m.id,
      listen: m.listen,
      target: m.target,
      tapFactory,
      onReaderError: (conn, err) => onDecodeProblem({ conn: conn.id, member: conn.member, protocol: cfg.dialect, reason: `reader failed: ${String((err as Error)?.message ?? err)}` }),
    });
    try {
      listeners.set(m.id, await relay.start());
    } catch (err) {
      for (const r of relays.values()) await r.close();
      await admin.close();
      await capture?.close();
      const e = err as NodeJS.ErrnoException;
      throw new Error(`cannot listen for member ${m.id} on ${m.listen.host}:${m.listen.port}: ${e.code ?? e.message}`);
    }
    relays.set(m.id, relay);
  }
  monitor.startTicking();
  injector?.start();
  opts.log.info({ event: 'started', cluster: cfg.cluster, dialect: cfg.dialect, listeners: Object.fromEntries(listeners), admin: adminAddress }, 'raftguard running');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      injector?.close();
      await Promise.all([...relays.values()].map((r) => r.close()));
      await admin.close();
      await monitor.close();
      opts.log.info({ event: 'stopped', events: monitor.counts.events, findings: monitor.counts.findings }, 'raftguard stopped');
      opts.log.flush?.();
    })());
  return { monitor, metrics, admin, adminAddress, relays, listeners, stop };
}
