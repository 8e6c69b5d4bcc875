// `raftguard replay FILE`: runs the same engine (cluster view + checks) as a live run over a
// capture, ticking at each event, settling what waits on the reorder tolerance after the last one,
// and reports findings and the run summary.

import { parseArgs } from 'node:util';
import { readCapture, CaptureError, type CaptureProblem } from '../events/capture.js';
import type { CaptureHeader, Finding, RaftEvent, Severity } from '../events/types.js';
import { SEVERITY_RANK } from '../events/types.js';
import { createEngine, type Thresholds } from '../engine.js';
import { step } from '../runtime/step.js';
import { tuneHeapForReplay } from '../runtime/heap.js';
import { SummaryBuilder, type RunSummary } from '../report/summary.js';
import { ConfigError, loadReplayConfig } from '../config/load.js';
import { UsageError, type Io } from './io.js';
import { loadRunConfig, type RunConfig } from '../config/run-config.js';
// pcap-replay (and through it every dialect, protobufjs and the gRPC schema loader) is imported only
// for --pcap: a capture replay does not need them, and loading them cost ~140 ms and ~15 MB of RSS.
import type { PcapReplayResult } from './pcap-replay.js';

export const REPLAY_USAGE = `usage: raftguard replay FILE [--json] [--fail-on critical|warning|info] [--config FILE]
       raftguard replay --pcap FILE --dialect etcd|grpc|hashicorp [--config FILE] [--write-capture OUT.jsonl] [--json] [--fail-on …]

Replays a capture (format v1, JSON Lines) — or a tcpdump capture (pcap/pcapng) of peer traffic,
decoded by the dialect — through the cluster view and the checks, and prints the run summary and the
findings. With --pcap, --config is a \`raftguard run\` config (member names, ports, etcd IDs, the gRPC
schema). Exit code: 0 = nothing at or above --fail-on (default critical), 1 = something was found,
2 = unusable input or arguments.`;

const MAX_PROBLEMS_SHOWN = 20;

export interface ReplayResult {
  header: CaptureHeader;
  /** The first `keepPerCode` findings of each code, at most `keepFindings` in all (all are counted in the summary). */
  findings: Finding[];
  /** Findings not kept in `findings` (memory stays bounded on long captures). */
  findingsDropped: number;
  /** Findings not kept, per code. */
  droppedByCode?: Record<string, number>;
  summary: RunSummary;
  skippedLines: number;
  /** Events whose t is earlier than an event before them (judged at their own time), and the largest step back. */
  outOfOrder?: number;
  maxBackwardsMs?: number;
  problems: CaptureProblem[];
}

export interface ReplayOptions {
  /** How many findings to keep in the result (all are counted in the summary). Default 10,000. */
  keepFindings?: number;
  /**
   * At most this many findings of one code are kept (default 50): a long capture can raise thousands
   * of the same warning, which a report cannot usefully list, and keeping their evidence would make
   * memory grow with the capture. The rest are counted (and all of them stream with --json).
   */
  keepPerCode?: number;
  onFinding?: (f: Finding) => void;
}

/**
 * One replay: the engine and the summary fed the same way as a live run, whatever the source of the
 * events (a capture file, a pcap decoded by a dialect).
 */
export class ReplaySession {
  readonly engine: ReturnType<typeof createEngine>;
  readonly summary: SummaryBuilder;
  readonly findings: Finding[] = [];
  findingsDropped = 0;
  private readonly keptByCode = new Map<string, number>();
  private readonly droppedByCode: Record<string, number> = {};
  lastT = 0;
  private events = 0;

  constructor(
    readonly header: CaptureHeader,
    thresholds: Partial<Thresholds>,
    private readonly opts: ReplayOptions = {},
  ) {
    this.engine = createEngine({ nodes: header.nodes, observed: header.observed, thresholds: { ...(header.thresholds as Partial<Thresholds>), ...thresholds } });
    this.summary = new SummaryBuilder(header.cluster, header.nodes);
  }

  add(ev: RaftEvent): void {
    if (ev.t > this.lastT) this.lastT = ev.t;
    this.events++;
    this.take(step(this.engine, ev));
    this.summary.addEvent(ev);
  }

  /**
   * Ends the input. Time-based checks (stalls, no leader, lag) are judged at the last event: the end
   * of a capture is not silence, so none is invented after it. Checks that hold a suspicious event
   * until the reorder tolerance or the observer skew has passed (RG005, RG006, RG008, RG009) then
   * judge what they hold as of lastT + max(reorderToleranceMs, observerSkewMs) + 1, as a live run
   * that kept going would. The thresholds are the ones in force (header overridden by the caller's).
   */
  finish(problems: CaptureProblem[] = [], skippedLines = 0): ReplayResult {
    const th = this.engine.thresholds;
    this.take(this.engine.tick(this.lastT));
    if (this.events > 0) this.take(this.engine.settle(this.lastT + Math.max(th.reorderToleranceMs, th.observerSkewMs) + 1));
    return { header: this.header, findings: this.findings, findingsDropped: this.findingsDropped, droppedByCode: this.droppedByCode, summary: this.summary.build(), skippedLines, problems };
  }

  private take(fs: Finding[]): void {
    const keep = this.opts.keepFindings ?? 10_000;
    const perCode = this.opts.keepPerCode ?? 50;
    for (let i = 0; i < fs.length; i++) {
      const f = fs[i]!;
      const kept = this.keptByCode.get(f.code) ?? 0;
      if (this.findings.length < keep && kept < perCode) {
        this.findings.push(f);
        this.keptByCode.set(f.code, kept + 1);
      } else {
        this.findingsDropped++;
        this.droppedByCode[f.code] = (this.droppedByCode[f.code] ?? 0) + 1;
      }
      this.summary.addFinding(f);
      this.opts.onFinding?.(f);
    }
  }
}

/**
 * The replay of a capture file, with no printing: used by the CLI and by tests that compare live and
 * replay. Thresholds: the capture header's (what the live run used), overridden by `thresholds`.
 */
export async function replayFile(file: string, thresholds: Partial<Thresholds> = {}, opts: ReplayOptions = {}): Promise<ReplayResult> {
  let session: ReplaySession | undefined;
  const problems: CaptureProblem[] = [];
  const read = await readCapture(file, {
    onHeader(h) {
      session = new ReplaySession(h, thresholds, opts);
    },
    onEvent(ev) {
      session!.add(ev);
    },
    onProblem(p) {
      if (problems.length < 1000) problems.push(p);
    },
  });
  session!.lastT = Math.max(session!.lastT, read.lastT);
  return { ...session!.finish(problems, read.skippedLines), outOfOrder: read.outOfOrder, maxBackwardsMs: read.maxBackwardsMs };
}

export async function replayCommand(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        'fail-on': { type: 'string', default: 'critical' },
        config: { type: 'string' },
        pcap: { type: 'string' },
        dialect: { type: 'string' },
        'write-capture': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${REPLAY_USAGE}`);
  }
  if (args.values.help) {
    io.out(REPLAY_USAGE + '\n');
    return 0;
  }
  const failOn = args.values['fail-on'] as string;
  if (!(failOn in SEVERITY_RANK)) throw new UsageError(`--fail-on: expected critical, warning or info, got "${failOn}"\n${REPLAY_USAGE}`);
  // A replay is a batch run with a small, flat live heap: keep V8's old generation near it, so peak
  // RSS does not depend on the capture's length, and let the young generation reach its full size at
  // once (src/runtime/heap.ts says why and what each costs).
  tuneHeapForReplay();
  const pcap = args.values.pcap;
  if (pcap !== undefined) return pcapCommand(pcap, args.values, failOn as Severity, io);
  if (args.positionals.length !== 1) throw new UsageError(`expected exactly one capture FILE, got ${args.positionals.length}\n${REPLAY_USAGE}`);
  const file = args.positionals[0]!;

  let thresholds = {};
  if (args.values.config) {
    try {
      thresholds = loadReplayConfig(args.values.config).thresholds;
    } catch (err) {
      if (err instanceof ConfigError) {
        io.err(`raftguard replay: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }

  let result: ReplayResult;
  const json = args.values.json === true;
  let failing = false;
  const threshold = SEVERITY_RANK[failOn as Severity];
  try {
    // --json streams each finding as it is found; the human report keeps a bounded list.
    result = await replayFile(file, thresholds, {
      keepFindings: json ? 0 : 10_000,
      onFinding: (f) => {
        if (SEVERITY_RANK[f.severity] >= threshold) failing = true;
        if (json) io.out(JSON.stringify(f) + '\n');
      },
    });
  } catch (err) {
    if (err instanceof CaptureError) {
      io.err(`raftguard replay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  for (const p of result.problems.slice(0, MAX_PROBLEMS_SHOWN)) {
    io.err(`${p.file}:${p.line}: ${p.message}\n`);
  }
  if (result.problems.length > MAX_PROBLEMS_SHOWN) io.err(`… and ${result.problems.length - MAX_PROBLEMS_SHOWN} more problems\n`);
  if (result.skippedLines > 0) io.err(`raftguard replay: skipped ${result.skippedLines} bad line(s)\n`);
  if (result.outOfOrder) {
    io.err(
      `raftguard replay: ${result.outOfOrder} event(s) earlier than an event before them (up to ${Math.round(result.maxBackwardsMs ?? 0)} ms back); ` +
        'each was judged at its own time (merged captures need not be sorted, but the checks see them in file order)\n',
    );
  }

  if (json) {
    io.out(JSON.stringify({ summary: { ...result.summary, skippedLines: result.skippedLines, outOfOrder: result.outOfOrder ?? 0 } }) + '\n');
  } else {
    io.out(formatReport(result));
  }
  return failing ? 1 : 0;
}

function ms(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${Math.round(v)} ms`;
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export function formatReport(r: ReplayResult): string {
  const s = r.summary;
  let out = '';
  out += `RaftGuard replay — cluster "${s.cluster}", members ${s.nodes.join(', ')}\n`;
  out += `${s.events} events over ${ms(s.durationMs)}; ${s.leaderTerms} term(s) with a leader, ${s.leaderChanges} leader change(s), ${s.campaigns} campaign(s)\n`;
  if (s.commit.first !== undefined) out += `commit index ${s.commit.first} → ${s.commit.last} (${s.commit.entriesCommitted} entries committed)\n`;
  out += '\nLeaders\n';
  if (s.terms.length === 0) out += '  (no leader observed)\n';
  else {
    const rows = [['term', 'leader', 'from', 'led for', 'commit', 'election → own-term commit']];
    for (const t of s.terms) {
      rows.push([
        String(t.term),
        t.leader,
        ms(t.since),
        ms(t.ledMs),
        `${t.commitAtStart} → ${t.commitAtEnd}`,
        t.firstOwnCommitMs !== undefined ? ms(t.firstOwnCommitMs) : t.firstOwnIndex === undefined ? 'no own-term entry' : 'not committed',
      ]);
    }
    out += table(rows);
    if (s.termsOmitted) out += `  (${s.termsOmitted} older terms not shown)\n`;
  }
  const e = s.electionToFirstOwnCommitMs;
  if (e.count) out += `\nElection → first own-term commit: p50 ${ms(e.p50)}, p99 ${ms(e.p99)}, max ${ms(e.max)} (${e.count} terms)\n`;
  const followers = Object.entries(s.commitLearnMs);
  if (followers.length) {
    out += '\nCommit propagation (leader advertises commit → follower told)\n';
    const rows = [['follower', 'commits', 'p50', 'p99', 'max']];
    for (const [n, st] of followers) rows.push([n, String(st.count), ms(st.p50), ms(st.p99), ms(st.max)]);
    out += table(rows);
  }
  out += `\nFindings: ${s.findings.critical} critical, ${s.findings.warning} warning, ${s.findings.info} info\n`;
  for (const sev of ['critical', 'warning', 'info'] as Severity[]) {
    const fs = r.findings.filter((f) => f.severity === sev);
    if (!fs.length) continue;
    out += `\n${sev.toUpperCase()}\n`;
    for (const f of fs) {
      out += `  ${f.code} ${f.name} at ${ms(f.t)}${f.term !== undefined ? `, term ${f.term}` : ''}, nodes ${f.nodes.join(', ')}\n`;
      out += `    ${f.message}\n`;
      out += `    → ${f.recommendation}\n`;
      for (const ev of f.evidence.slice(0, 6)) {
        out += `    · ${ev.note}${ev.event ? `  [${ev.event.type} ${ev.event.from}→${ev.event.to} term ${ev.event.term} at ${ms(ev.event.t)}]` : ''}\n`;
      }
      if (f.evidence.length > 6) out += `    · … ${f.evidence.length - 6} more\n`;
    }
  }
  if (r.findingsDropped) {
    const by = Object.entries(r.droppedByCode ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${n} ${c}`)
      .join(', ');
    out += `\n(${r.findingsDropped} more findings not listed${by ? `: ${by}` : ''}; use --json to get every one)\n`;
  }
  return out;
}

async function pcapCommand(
  file: string,
  v: { json?: boolean; config?: string; dialect?: string; 'write-capture'?: string },
  failOn: Severity,
  io: Io,
): Promise<number> {
  const dialect = v.dialect;
  if (dialect !== 'etcd' && dialect !== 'grpc' && dialect !== 'hashicorp') throw new UsageError(`--pcap needs --dialect etcd, grpc or hashicorp, got ${JSON.stringify(dialect ?? '')}\n${REPLAY_USAGE}`);
  let config: RunConfig | undefined;
  if (v.config) {
    try {
      config = loadRunConfig(v.config);
    } catch (err) {
      if (err instanceof ConfigError) {
        io.err(`raftguard replay: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  const threshold = SEVERITY_RANK[failOn];
  let failing = false;
  let result: PcapReplayResult;
  try {
    const { replayPcap } = await import('./pcap-replay.js');
    result = await replayPcap(file, {
      dialect,
      config,
      writeCapture: v['write-capture'],
      keepFindings: v.json ? 0 : 10_000,
      onFinding: (f) => {
        if (SEVERITY_RANK[f.severity] >= threshold) failing = true;
        if (v.json) io.out(JSON.stringify(f) + '\n');
      },
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    io.err(`raftguard replay: ${e.code === 'ENOENT' ? `${file}: no such file` : e.message}\n`);
    return 2;
  }
  for (const n of result.notices.slice(0, MAX_PROBLEMS_SHOWN)) io.err(`${file}: ${n}\n`);
  for (const d of result.decodeErrors.slice(0, MAX_PROBLEMS_SHOWN)) io.err(`${file}: decode error on ${d}\n`);
  const p = result.pcap;
  io.err(`${file}: ${p.packets} packets, ${p.flows} TCP connections decoded, ${p.skippedFlows.total} skipped\n`);
  if (v.json) io.out(JSON.stringify({ summary: result.summary, pcap: p }) + '\n');
  else io.out(formatReport(result));
  return failing ? 1 : 0;
}
