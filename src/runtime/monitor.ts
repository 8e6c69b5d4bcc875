// The live side of the pure core: owns one Engine, stamps nothing itself (events arrive with `t`
// relative to the run's start), ticks the engine with the clock so silence is noticed, and fans
// events and findings out to sinks. This is the only place the live run touches the wall clock for
// the checks, which is why a replay of the capture written here reproduces the same findings.

import { createEngine, type ClusterSnapshot, type Engine, type Thresholds } from '../engine.js';
import type { CaptureHeader, Finding, NodeId, RaftEvent } from '../events/types.js';
import { step } from './step.js';
import { SummaryBuilder, type RunSummary } from '../report/summary.js';
import { monotonicNow } from '../../proxy/clock.js';

export interface Sink {
  /** Every decoded event, after the engine saw it. Must be cheap: it runs on the hot path. */
  event?(ev: RaftEvent): void;
  finding?(f: Finding): void;
  /** A new leader was observed acting for a new term. */
  leaderChange?(info: { t: number; term: number; leader: NodeId; previous?: NodeId }): void;
  /** A leader's first own-term entry was seen committed, `ms` after it was first seen leading. */
  firstOwnCommit?(info: { term: number; leader: NodeId; ms: number }): void;
  close?(): Promise<void> | void;
}

export interface MonitorOptions {
  cluster: string;
  nodes?: NodeId[];
  observed?: NodeId[];
  thresholds?: Partial<Thresholds>;
  /** ms since epoch of t = 0. */
  startedAt: number;
  /** Clock for ticks; tests pass a fake. */
  now?: () => number;
  /** How many recent findings the API keeps. */
  keepFindings?: number;
}

export class Monitor {
  readonly header: CaptureHeader;
  private readonly engine: Engine;
  private readonly sinks: Sink[] = [];
  private readonly recent: Finding[] = [];
  private readonly keep: number;
  private readonly now: () => number;
  private lastLeaderTerm = 0;
  private lastLeader: NodeId | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly summaryBuilder: SummaryBuilder;
  counts = { events: 0, findings: 0 };

  constructor(private readonly opts: MonitorOptions) {
    this.engine = createEngine({ nodes: opts.nodes, observed: opts.observed, thresholds: opts.thresholds });
    this.keep = opts.keepFindings ?? 1000;
    this.now = opts.now ?? monotonicNow;
    this.summaryBuilder = new SummaryBuilder(opts.cluster, opts.nodes);
    this.summaryBuilder.onFirstOwnCommit = (info) => {
      for (const s of this.sinks) s.firstOwnCommit?.(info);
    };
    this.header = {
      raftguard: 'capture',
      version: 1,
      cluster: opts.cluster,
      ...(opts.nodes ? { nodes: opts.nodes } : {}),
      ...(opts.observed ? { observed: opts.observed } : {}),
      startedAt: opts.startedAt,
      source: 'raftguard run',
      ...(opts.thresholds && Object.keys(opts.thresholds).length ? { thresholds: { ...opts.thresholds } as Record<string, number> } : {}),
    };
  }

  addSink(s: Sink): void {
    this.sinks.push(s);
  }

  /** ms since the run started, for stamping decoded events. */
  t(wallMs = this.now()): number {
    return wallMs - this.opts.startedAt;
  }

  ingest(ev: RaftEvent): void {
    this.counts.events++;
    const found = step(this.engine, ev);
    if ((ev.type === 'append' || ev.type === 'heartbeat') && ev.term > this.lastLeaderTerm) {
      const previous = this.lastLeader;
      this.lastLeaderTerm = ev.term;
      this.lastLeader = ev.from;
      for (const s of this.sinks) s.leaderChange?.({ t: ev.t, term: ev.term, leader: ev.from, previous });
    }
    this.summaryBuilder.addEvent(ev);
    for (const s of this.sinks) s.event?.(ev);
    this.publish(found);
  }

  /** Advance time-based checks to now. */
  tick(): void {
    this.publish(this.engine.tick(this.t()));
  }

  startTicking(intervalMs = 100): void {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  snapshot(): ClusterSnapshot {
    return this.engine.snapshot();
  }

  /** The historical view so far (the same summary `raftguard replay` prints). */
  summary(): RunSummary {
    return this.summaryBuilder.build();
  }

  findings(): readonly Finding[] {
    return this.recent;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.tick();
    for (const s of this.sinks) await s.close?.();
  }

  private publish(found: Finding[]): void {
    for (const f of found) {
      this.counts.findings++;
      this.summaryBuilder.addFinding(f);
      this.recent.push(f);
      if (this.recent.length > this.keep) this.recent.shift();
      for (const s of this.sinks) s.finding?.(f);
    }
  }
}
