// Prometheus metrics (prom-client), names `raftguard_*` in base units (seconds, entries).
// Per-node state gauges are computed at scrape time from the engine's snapshot, so the hot path
// only bumps a few pre-bound counters per event.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterSnapshot } from '../engine.js';
import type { Finding, RaftEvent } from '../events/types.js';
import type { Sink } from '../runtime/monitor.js';

export interface MetricsSinkOptions {
  cluster: string;
  snapshot: () => ClusterSnapshot;
  /** Open RG010 stalls: seconds each has lasted (for raftguard_commit_stall_seconds). */
  openStallSeconds?: () => number;
  defaultMetrics?: boolean;
}

export class MetricsSink implements Sink {
  readonly registry = new Registry();
  private readonly messages: Counter<'cluster' | 'type'>;
  /** Messages counted since the last scrape, by event type: flushed into `messages` when scraped. */
  private readonly pendingMessages = new Map<string, { n: number }>();
  private readonly findings: Counter<'cluster' | 'code' | 'severity'>;
  private readonly leaderChanges: Counter<'cluster'>;
  private readonly elections: Counter<'cluster'>;
  private readonly firstCommit: Histogram<'cluster'>;
  readonly decodeErrors: Counter<'cluster' | 'protocol'>;
  readonly noopInjections: Counter<'cluster' | 'result'>;
  readonly stallCleared: Histogram<'cluster'>;

  constructor(private readonly opts: MetricsSinkOptions) {
    const r = this.registry;
    const cluster = opts.cluster;
    r.setDefaultLabels({});
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r, prefix: 'raftguard_process_' });

    // Counted in plain integers on the hot path (one per event) and added to the Prometheus counter
    // when it is scraped: prom-client's label hashing per inc() was a visible part of decoding.
    const pending = this.pendingMessages;
    this.messages = new Counter({
      name: 'raftguard_messages_total',
      help: 'Raft messages decoded from the wire, by type.',
      labelNames: ['cluster', 'type'],
      registers: [r],
      collect() {
        for (const [type, p] of pending) {
          if (p.n === 0) continue;
          this.labels(cluster, type).inc(p.n);
          p.n = 0;
        }
      },
    });
    this.findings = new Counter({ name: 'raftguard_findings_total', help: 'Findings raised, by code and severity.', labelNames: ['cluster', 'code', 'severity'], registers: [r] });
    this.leaderChanges = new Counter({ name: 'raftguard_leader_changes_total', help: 'Times a different node became leader.', labelNames: ['cluster'], registers: [r] });
    this.elections = new Counter({ name: 'raftguard_elections_total', help: 'Terms in which a leader was observed.', labelNames: ['cluster'], registers: [r] });
    this.decodeErrors = new Counter({ name: 'raftguard_decode_errors_total', help: 'Connections whose passive decoding failed (forwarding went on).', labelNames: ['cluster', 'protocol'], registers: [r] });
    this.noopInjections = new Counter({ name: 'raftguard_noop_injections_total', help: 'No-op injector decisions, by result.', labelNames: ['cluster', 'result'], registers: [r] });
    this.firstCommit = new Histogram({
      name: 'raftguard_leader_first_commit_seconds',
      help: 'Time from a new leader first acting to its first own-term entry being committed.',
      labelNames: ['cluster'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    this.stallCleared = new Histogram({
      name: 'raftguard_stall_cleared_seconds',
      help: 'Time from election to a previous-term commit stall clearing.',
      labelNames: ['cluster'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    for (const c of [this.findings, this.leaderChanges, this.elections]) c.labels({ cluster } as never).inc(0);

    const snap = opts.snapshot;
    // Per-node state, read from the snapshot at scrape time.
    const perNode: Array<[string, string, (n: ClusterSnapshot['nodes'][number]) => number]> = [
      ['raftguard_node_term', 'Current term of each node as seen on the wire.', (n) => n.term],
      ['raftguard_node_commit_index', 'Commit index of each node as far as observed.', (n) => n.commit],
      ['raftguard_node_last_index', 'Last log index of each node as far as observed.', (n) => n.lastIndex],
    ];
    for (const [name, help, value] of perNode) {
      new Gauge({
        name, help, labelNames: ['cluster', 'node'], registers: [r],
        collect() {
          this.reset();
          for (const n of snap().nodes) this.labels(cluster, n.id).set(value(n));
        },
      });
    }
    new Gauge({
      name: 'raftguard_node_is_leader', help: '1 if the node is the current leader.', labelNames: ['cluster', 'node'], registers: [r],
      collect() {
        this.reset();
        const s = snap();
        for (const n of s.nodes) this.labels(cluster, n.id).set(s.leader?.id === n.id ? 1 : 0);
      },
    });
    new Gauge({
      name: 'raftguard_cluster_has_leader', help: '1 if a leader of the newest term is observed.', labelNames: ['cluster'], registers: [r],
      collect() {
        const s = snap();
        this.labels(cluster).set(s.leader && s.leader.term === s.term ? 1 : 0);
      },
    });
    new Gauge({
      name: 'raftguard_follower_match_index', help: "The leader's matchIndex for each follower, as observed.", labelNames: ['cluster', 'leader', 'follower'], registers: [r],
      collect() {
        this.reset();
        const l = snap().leader;
        if (l) for (const [f, m] of Object.entries(l.match)) this.labels(cluster, l.id, f).set(m);
      },
    });
    new Gauge({
      name: 'raftguard_follower_lag_entries', help: "Entries each follower trails the leader's last index by.", labelNames: ['cluster', 'follower'], registers: [r],
      collect() {
        this.reset();
        const l = snap().leader;
        if (l) for (const [f, m] of Object.entries(l.match)) this.labels(cluster, f).set(Math.max(0, l.lastIndex - m));
      },
    });
    const stall = opts.openStallSeconds;
    new Gauge({
      name: 'raftguard_commit_stall_seconds', help: 'How long the current leader has held majority-replicated earlier-term entries without committing (0 = no stall).', labelNames: ['cluster'], registers: [r],
      collect() {
        this.labels(cluster).set(stall ? stall() : 0);
      },
    });
  }

  event(ev: RaftEvent): void {
    const p = this.pendingMessages.get(ev.type);
    if (p) p.n++;
    else this.pendingMessages.set(ev.type, { n: 1 }); // bounded: one entry per event type
  }

  finding(f: Finding): void {
    this.findings.labels(this.opts.cluster, f.code, f.severity).inc();
  }

  leaderChange(info: { previous?: string; leader: string }): void {
    this.elections.labels(this.opts.cluster).inc();
    if (info.previous !== undefined && info.previous !== info.leader) this.leaderChanges.labels(this.opts.cluster).inc();
  }

  firstOwnCommit(info: { ms: number }): void {
    this.firstCommit.labels(this.opts.cluster).observe(info.ms / 1000);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
