// Active mode: the guarded no-op injector (DESIGN.md §5). The planner decides (pure); this executes:
// one gRPC client request (JSON template, the user's .proto) to the leader's client API, with a bounded
// timeout, cancelled when the term changes, never retried to another node. Every decision becomes a
// `noop` event in the stream (and so in the capture), a log line and a metric.

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { Logger } from 'pino';
import type { MemberConfig } from '../config/run-config.js';
import type { NodeId, NoopEvent, NoopResult, RaftEvent } from '../events/types.js';
import type { Monitor, Sink } from '../runtime/monitor.js';
import type { MetricsSink } from '../sinks/metrics.js';
import { NoopPlanner, type NoopDecision } from './noop-planner.js';
import { DRY_RUN_REASON } from '../checks/stall.js';

export interface NoopConfig {
  dryRun: boolean;
  timeoutMs: number;
  /** Fixed grace after leadership is established; default: the observed heartbeat interval. */
  graceMs?: number;
  /** A gRPC method with a JSON request template... */
  grpc?: { proto: string[]; method: string; request: unknown };
  /** ...or an HTTP request template (etcd's v3 JSON gateway: POST http://{{client}}/v3/kv/put). */
  http?: { method: string; url: string; headers: Record<string, string>; body?: unknown };
}

/** Reads and checks the config's `noop:` section; every problem at once. */
export function parseNoopConfig(raw: unknown, file: string): NoopConfig {
  const problems: string[] = [];
  const o = (raw ?? {}) as Record<string, unknown>;
  let grpcT: NoopConfig['grpc'];
  let httpT: NoopConfig['http'];
  if (o.grpc !== undefined) {
    const g = o.grpc as Record<string, unknown>;
    const proto = typeof g.proto === 'string' ? [g.proto] : Array.isArray(g.proto) ? (g.proto as unknown[]) : [];
    if (proto.length === 0 || !proto.every((p) => typeof p === 'string')) problems.push('noop.grpc.proto: expected the .proto file(s) of the client API');
    if (typeof g.method !== 'string' || !/^\/[\w.]+\/\w+$/.test(g.method)) problems.push('noop.grpc.method: expected a method path such as /raft.v1.KV/Put');
    if (typeof g.request !== 'object' || g.request === null) problems.push('noop.grpc.request: expected the request as an object (templates: {{term}}, {{leader}}, {{timestamp}})');
    grpcT = { proto: proto as string[], method: g.method as string, request: g.request };
  }
  if (o.http !== undefined) {
    const h = o.http as Record<string, unknown>;
    if (typeof h.url !== 'string' || !/^https?:\/\//.test(h.url)) problems.push('noop.http.url: expected an http(s) URL template such as http://{{client}}/v3/kv/put');
    if (h.method !== undefined && typeof h.method !== 'string') problems.push('noop.http.method: expected an HTTP method');
    if (h.headers !== undefined && (typeof h.headers !== 'object' || h.headers === null)) problems.push('noop.http.headers: expected a mapping');
    httpT = { method: (h.method as string | undefined) ?? 'POST', url: h.url as string, headers: (h.headers as Record<string, string> | undefined) ?? {}, body: h.body };
  }
  if (!grpcT === !httpT) problems.push('noop: expected exactly one of noop.grpc (method + JSON request template) or noop.http (request template)');
  if (o.timeoutMs !== undefined && !(typeof o.timeoutMs === 'number' && o.timeoutMs > 0)) problems.push('noop.timeoutMs: expected a positive number of ms');
  if (o.graceMs !== undefined && !(typeof o.graceMs === 'number' && o.graceMs >= 0)) problems.push('noop.graceMs: expected a non-negative number of ms');
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  return {
    dryRun: o.dryRun === true,
    timeoutMs: (o.timeoutMs as number | undefined) ?? 2000,
    ...(o.graceMs !== undefined ? { graceMs: o.graceMs as number } : {}),
    ...(grpcT ? { grpc: grpcT } : {}),
    ...(httpT ? { http: httpT } : {}),
  };
}

/** Substitutes {{term}}, {{leader}}, {{timestamp}} in every string of a JSON value. */
export function fillTemplate(v: unknown, vars: Record<string, string>): unknown {
  if (typeof v === 'string') return v.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m);
  if (Array.isArray(v)) return v.map((x) => fillTemplate(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fillTemplate(x, vars)]));
  return v;
}

/** The leader's heartbeat interval as observed on the wire: median gap of its empty appends per link. */
class HeartbeatEstimator {
  private readonly last = new Map<string, number>();
  private readonly gaps: number[] = [];
  note(ev: RaftEvent): void {
    if (!((ev.type === 'append' && ev.entries.length === 0) || ev.type === 'heartbeat')) return;
    const key = `${ev.from}>${ev.to}/${ev.term}`;
    const prev = this.last.get(key);
    this.last.set(key, ev.t);
    if (this.last.size > 256) this.last.delete(this.last.keys().next().value as string);
    if (prev === undefined || ev.t <= prev) return;
    this.gaps.push(ev.t - prev);
    if (this.gaps.length > 64) this.gaps.shift();
  }
  interval(): number | undefined {
    if (this.gaps.length < 3) return undefined;
    const s = [...this.gaps].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  }
}

export class NoopInjector implements Sink {
  private readonly planner = new NoopPlanner();
  private readonly heartbeat = new HeartbeatEstimator();
  private readonly method: { path: string; serialize: (o: unknown) => Buffer; deserialize: (b: Buffer) => unknown } | undefined;
  private readonly httpInFlight = new Map<string, { term: number; abort: AbortController }>();
  private readonly clients = new Map<string, grpc.Client>();
  private readonly inFlight = new Map<string, { term: number; call: grpc.ClientUnaryCall }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      config: NoopConfig;
      monitor: Monitor;
      members: () => MemberConfig[];
      metrics: MetricsSink;
      log: Logger;
      cluster: string;
    },
  ) {
    const g = o.config.grpc;
    if (!g) {
      this.method = undefined;
      return;
    }
    const root = new protobuf.Root();
    root.loadSync(g.proto, { keepCase: true });
    root.resolveAll();
    const [, svc, name] = /^\/([\w.]+)\/(\w+)$/.exec(g.method)!;
    const m = root.lookupService(svc!).methods[name!];
    if (!m) throw new Error(`noop.grpc.method: ${g.method} is not in ${g.proto.join(', ')}`);
    m.resolve();
    const req = m.resolvedRequestType!;
    const res = m.resolvedResponseType!;
    this.method = {
      path: g.method,
      serialize: (obj) => Buffer.from(req.encode(req.fromObject(obj as Record<string, unknown>)).finish()),
      deserialize: (b) => res.toObject(res.decode(b)),
    };
  }

  start(everyMs = 25): void {
    this.timer = setInterval(() => this.evaluate(), everyMs);
    this.timer.unref();
  }

  event(ev: RaftEvent): void {
    if (ev.type === 'noop') return;
    this.heartbeat.note(ev);
    // Any newer term cancels a request in flight for an older one.
    // (Pre-votes carry the term a candidate would have, not a real one.)
    const pre = (ev.type === 'vote' || ev.type === 'vote_resp') && ev.pre;
    if (!pre) {
      for (const [leader, f] of [...this.inFlight, ...this.httpInFlight]) if (ev.term > f.term) this.cancel(leader, `term ${ev.term} appeared while the request was in flight`);
    }
  }

  grace(): number {
    return this.o.config.graceMs ?? this.heartbeat.interval() ?? 100;
  }

  /** The admin route: inject now to `node`, with the same guards (no grace). */
  async manual(node: NodeId): Promise<{ result: NoopResult; reason: string }> {
    return this.execute(this.planner.manual(this.o.monitor.snapshot(), node));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const leader of [...this.inFlight.keys(), ...this.httpInFlight.keys()]) this.cancel(leader, 'shutting down');
    for (const c of this.clients.values()) c.close();
  }

  private readonly clearedSeen = new Set<string>();

  private evaluate(): void {
    const m = this.o.monitor;
    m.tick();
    const snap = m.snapshot();
    for (const d of this.planner.decide(snap, m.t(), this.grace())) void this.execute(d);
    // Verification: how long from leadership established to the stall clearing.
    for (const s of snap.stalls ?? []) {
      const key = `${s.leader}/${s.term}`;
      if (s.clearedAt === undefined || s.firstHazardAt === undefined || this.clearedSeen.has(key)) continue;
      this.clearedSeen.add(key);
      if (this.clearedSeen.size > 256) this.clearedSeen.delete(this.clearedSeen.values().next().value as string);
      this.o.metrics.stallCleared.labels(this.o.cluster).observe((s.clearedAt - (s.establishedAt ?? s.firstHazardAt)) / 1000);
    }
  }

  private record(d: { leader: NodeId; term: number }, result: NoopResult, reason: string): { result: NoopResult; reason: string } {
    const ev: NoopEvent = { type: 'noop', t: this.o.monitor.t(), from: 'raftguard', to: d.leader, term: d.term, result, reason };
    this.o.monitor.ingest(ev);
    this.o.metrics.noopInjections.labels(this.o.cluster, result).inc();
    const level = result === 'failed' ? 'warn' : 'info';
    this.o.log[level]({ event: 'noop', leader: d.leader, term: d.term, result, reason }, `no-op ${result} for ${d.leader} (term ${d.term}): ${reason}`);
    return { result, reason };
  }

  private async execute(d: NoopDecision): Promise<{ result: NoopResult; reason: string }> {
    if (d.kind === 'skip') return this.record(d, 'skipped', d.reason);
    const what = this.method ? this.method.path : `${this.o.config.http!.method} ${this.o.config.http!.url}`;
    if (this.o.config.dryRun) return this.record(d, 'skipped', `${DRY_RUN_REASON}: would send ${what} to ${d.leader} now (${d.reason})`);
    const member = this.o.members().find((m) => m.id === d.leader);
    if (!member?.client) return this.record(d, 'skipped', `no client address configured for ${d.leader}`);
    const vars = { term: String(d.term), leader: d.leader, timestamp: String(Date.now()), client: `${member.client.host}:${member.client.port}` };
    const method = this.method;
    if (!method) return this.executeHttp(d, vars);
    const request = fillTemplate(this.o.config.grpc!.request, vars);
    let client = this.clients.get(d.leader);
    if (!client) this.clients.set(d.leader, (client = new grpc.Client(`${member.client.host}:${member.client.port}`, grpc.credentials.createInsecure())));
    this.record(d, 'sent', `${method.path} to ${member.client.host}:${member.client.port}: ${d.reason}`);
    return new Promise((resolve) => {
      const call = client!.makeUnaryRequest(
        method.path,
        method.serialize,
        method.deserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + this.o.config.timeoutMs },
        (err) => {
          const cancelled = this.inFlight.get(d.leader)?.call !== call;
          this.inFlight.delete(d.leader);
          if (err) resolve(this.record(d, 'failed', cancelled ? `cancelled: ${err.details || err.message}` : `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`));
          else resolve(this.record(d, 'ok', `${d.leader} accepted the request`));
        },
      );
      this.inFlight.set(d.leader, { term: d.term, call });
    });
  }

  private async executeHttp(d: NoopDecision, vars: Record<string, string>): Promise<{ result: NoopResult; reason: string }> {
    const h = this.o.config.http!;
    const url = fillTemplate(h.url, vars) as string;
    const body = h.body === undefined ? undefined : typeof h.body === 'string' ? (fillTemplate(h.body, vars) as string) : JSON.stringify(fillTemplate(h.body, vars));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${this.o.config.timeoutMs} ms`)), this.o.config.timeoutMs);
    this.httpInFlight.set(d.leader, { term: d.term, abort });
    this.record(d, 'sent', `${h.method} ${url}: ${d.reason}`);
    try {
      const res = await fetch(url, { method: h.method, headers: fillTemplate(h.headers, vars) as Record<string, string>, body, signal: abort.signal });
      const text = (await res.text()).slice(0, 200);
      if (res.ok) return this.record(d, 'ok', `${d.leader} answered ${res.status}`);
      return this.record(d, 'failed', `${d.leader} answered ${res.status}: ${text}`);
    } catch (err) {
      const e = abort.signal.reason ?? err;
      return this.record(d, 'failed', `${(e as Error).message ?? String(e)}`);
    } finally {
      clearTimeout(timer);
      this.httpInFlight.delete(d.leader);
    }
  }

  private cancel(leader: NodeId, why: string): void {
    const h = this.httpInFlight.get(leader);
    if (h) {
      this.httpInFlight.delete(leader);
      h.abort.abort(new Error(`cancelled: ${why}`));
    }
    const f = this.inFlight.get(leader);
    if (!f) return;
    this.inFlight.delete(leader);
    this.o.log.info({ event: 'noop_cancel', leader, term: f.term }, `cancelling the no-op to ${leader}: ${why}`);
    f.call.cancel();
  }
}
