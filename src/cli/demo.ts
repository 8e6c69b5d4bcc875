// `raftguard demo` (what `npm start` runs): the reference Raft cluster (3 members over gRPC) with
// RaftGuard in front of every member, a scripted scenario, and a terminal view of what RaftGuard
// sees. Everything it starts is stopped on exit (also on Ctrl-C).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ReferenceCluster, ReferenceClusterOptions } from '../demo/cluster.js';
import { startGuardedCluster, type GuardedCluster } from '../demo/guarded.js';
import { killAfterCommit, sleep } from '../demo/scenarios.js';
import { parseDuration } from '../config/load.js';
import type { Finding, NodeId, RaftEvent } from '../events/types.js';
import { findRepoRoot } from '../demo/protos.js';
import type { RunningInstance } from '../runtime/runner.js';
import type { Sink } from '../runtime/monitor.js';
import { createLogger } from '../sinks/log.js';
import { UsageError, type Io } from './io.js';

export const DEMO_USAGE = `usage: raftguard demo [--scenario stall|healthy|figure8] [--mode passive|active] [--duration 60s] [--admin-port 9900] [--verbose]

Starts a 3-member reference Raft cluster (gRPC) behind RaftGuard on loopback ports and plays a scenario:
  stall    (default) the members never append a no-op on election; the leader is killed right after a
           commit, so the new leader holds an entry of the old term it cannot commit: RG010, until a
           client write arrives
  healthy  the same kill with no-op on election: the new leader commits at once, nothing is raised
  figure8  the members commit old-term entries by counting replicas (the Figure 8 bug): RG005 critical
--mode active: RaftGuard repairs the stall itself with one guarded no-op client request (KV Put).
--duration keeps the cluster and the admin API up that long in total (default: stop after the scenario).`;

const SCENARIOS: Record<string, { cluster: ReferenceClusterOptions; about: string }> = {
  stall: { cluster: { noopOnElection: false }, about: 'no no-op on election (the previous-term commit stall)' },
  healthy: { cluster: { noopOnElection: true }, about: 'no-op on election (correct Raft, no stall)' },
  figure8: { cluster: { noopOnElection: false, commitOldTermByCounting: true }, about: 'commit of old-term entries by counting replicas (Figure 8 bug)' },
};

// Slow enough to read in a terminal and to make the kill-after-commit window reliable.
// Exported with the thresholds and the no-op request: bench:noop runs this same scenario.
export const DEMO_TIMING = { heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100 };
const TIMING = DEMO_TIMING;
export const DEMO_THRESHOLDS = { stallMs: 1500, electionTimeoutMs: TIMING.electionMinMs, noLeaderMs: 5000 };
export const demoNoopConfig = (): object => ({ grpc: { proto: [join(findRepoRoot(), 'proto', 'kv.proto')], method: '/raft.v1.KV/Put', request: { key: '__raftguard_noop_{{term}}', value: '' } } });


/** The terminal view: one readable line per leader change and per finding. */
class TerminalSink implements Sink {
  constructor(
    private readonly io: Io,
    private readonly t0: number,
  ) {}
  line(s: string): void {
    const secs = ((Date.now() - this.t0) / 1000).toFixed(1).padStart(5);
    this.io.out(`[${secs}s] ${s}\n`);
  }
  leaderChange(info: { term: number; leader: NodeId; previous?: NodeId }): void {
    this.line(`RaftGuard: ${info.leader} is leader of term ${info.term}${info.previous && info.previous !== info.leader ? ` (was ${info.previous})` : ''}`);
  }
  finding(f: Finding): void {
    this.line(`RaftGuard ${f.severity.toUpperCase()} ${f.code} ${f.name}${f.term !== undefined ? ` (term ${f.term})` : ''} on ${f.nodes.join(', ')}`);
    this.io.out(`         ${f.message}\n         → ${f.recommendation}\n`);
  }
  event(ev: RaftEvent): void {
    if (ev.type === 'noop') this.line(`RaftGuard no-op ${ev.result} → ${ev.to} (term ${ev.term}): ${ev.reason}`);
  }
  firstOwnCommit(info: { term: number; leader: NodeId; ms: number }): void {
    this.line(`RaftGuard: ${info.leader} committed its first own-term entry ${Math.round(info.ms)} ms after taking over term ${info.term}`);
  }
}

export async function demoCommand(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        scenario: { type: 'string', default: 'stall' },
        mode: { type: 'string', default: 'passive' },
        duration: { type: 'string' },
        'admin-port': { type: 'string', default: '9900' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${DEMO_USAGE}`);
  }
  if (args.values.help) {
    io.out(DEMO_USAGE + '\n');
    return 0;
  }
  const scenario = SCENARIOS[args.values.scenario!];
  if (!scenario) throw new UsageError(`--scenario: expected one of ${Object.keys(SCENARIOS).join(', ')}, got "${args.values.scenario}"`);
  const durationMs = args.values.duration === undefined ? 0 : parseDuration(args.values.duration);
  if (durationMs === undefined) throw new UsageError(`--duration: expected a duration such as 60s, got "${args.values.duration}"`);
  const mode = args.values.mode;
  if (mode !== 'passive' && mode !== 'active') throw new UsageError(`--mode: expected passive or active, got "${mode}"`);
  const adminPort = Number(args.values['admin-port']);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) throw new UsageError(`--admin-port: expected a port number`);

  const t0 = Date.now();
  const view = new TerminalSink(io, t0);
  const capturePath = join(mkdtempSync(join(tmpdir(), 'raftguard-demo-')), 'capture.jsonl');
  const log = createLogger(args.values.verbose ? 'info' : 'silent');
  let guarded: GuardedCluster | undefined;
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  io.out(`RaftGuard demo — scenario "${args.values.scenario}": ${scenario.about}\n`);
  io.out(`Starting 3 reference Raft members (gRPC) with RaftGuard in front of each…\n\n`);
  try {
    guarded = await startGuardedCluster({
      cluster: { ...TIMING, ...scenario.cluster },
      thresholds: DEMO_THRESHOLDS,
      capturePath,
      adminPort,
      log,
      sinks: [view],
      mode,
      ...(mode === 'active' ? { noop: demoNoopConfig() } : {}),
    });
    const { cluster, running } = guarded;
    const admin = `http://${running.adminAddress.host}:${running.adminAddress.port}`;
    for (const [id, a] of running.listeners) {
      view.line(`${id}: peers dial RaftGuard at ${a.host}:${a.port} → member at ${cluster.members.get(id)!.peerAddress}`);
    }
    io.out(`\n  web view ${admin}/\n  metrics  ${admin}/metrics\n  cluster  ${admin}/api/cluster   (or: npx raftguard status --url ${admin})\n  events   ${admin}/api/events  (Server-Sent Events)\n  capture  ${capturePath}\n\n`);

    await playScenario(args.values.scenario!, mode, cluster, running, view, () => interrupted);

    const remaining = durationMs - (Date.now() - t0);
    if (remaining > 0 && !interrupted) {
      view.line(`keeping everything up for ${Math.round(remaining / 1000)} s more (Ctrl-C to stop)`);
      const until = Date.now() + remaining;
      while (Date.now() < until && !interrupted) await sleep(200);
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await guarded?.stop();
  }
  if (!guarded) return 1;
  const found = guarded.running.monitor.findings();
  const by = (sev: string): number => found.filter((f) => f.severity === sev).length;
  io.out(`\nStopped. RaftGuard saw ${guarded.running.monitor.counts.events} Raft messages and raised ${by('critical')} critical, ${by('warning')} warning, ${by('info')} info finding(s).\n`);
  io.out(`Replay the capture with the same checks:  npx raftguard replay ${capturePath}\n`);
  return 0;
}

async function playScenario(name: string, mode: 'passive' | 'active', c: ReferenceCluster, r: RunningInstance, view: TerminalSink, stopped: () => boolean): Promise<void> {
  const leader = await c.waitForLeader(10_000);
  view.line(`client: cluster is up, ${leader} says it is leader; writing 5 keys`);
  for (let i = 0; i < 5 && !stopped(); i++) await c.put(`key${i}`, `value${i}`);
  if (stopped()) return;

  // Kill the leader right after a commit, before its next heartbeat tells the followers: the
  // survivors hold the entry but do not know it is committed.
  const { old: killed, leader: next, put } = await killAfterCommit(c);
  const stalledIndex = put.index;
  view.line(`client: put at index ${put.index} (term ${put.term}) committed on ${killed}; killed ${killed} (SIGKILL) before its next heartbeat told the followers`);
  if (stopped()) return;
  view.line(`client: ${next} is the new leader; no client writes for a while…`);
  for (let i = 0; i < 8 && !stopped(); i++) {
    await sleep(500);
    const s = await c.status(next).catch(() => undefined);
    if (s && i % 2 === 1) view.line(`${next} says: term ${s.term}, last index ${s.last_index} (term ${s.last_term}), commit ${s.commit_index}`);
  }
  if (stopped()) return;
  if (name === 'stall' && mode === 'active') {
    const after = r.monitor.snapshot();
    const seen = after.leader?.commit ?? 0;
    view.line(`RaftGuard's view: leader ${after.leader?.id ?? '?'} commit ${seen}` + (seen >= stalledIndex ? ` ≥ ${stalledIndex}: the no-op cleared the stall, no client write needed` : ` (not yet past ${stalledIndex})`));
  }
  if (name === 'stall' && mode === 'passive') {
    const snap = r.monitor.snapshot();
    view.line(`RaftGuard's view: leader ${snap.leader?.id ?? '?'} commit ${snap.leader?.commit ?? '?'} < entry ${stalledIndex} held by a majority`);
    view.line(`client: one write to ${next} (what active mode's no-op does for you)`);
    const w = await c.put('unstick', 'y');
    await sleep(600);
    const after = r.monitor.snapshot();
    const seen = after.leader?.commit ?? 0;
    view.line(
      `client: write committed at index ${w.index} (term ${w.term}); RaftGuard sees commit ${seen}` +
        (seen >= stalledIndex ? ` ≥ ${stalledIndex}: the stall cleared` : ` (not yet past ${stalledIndex})`),
    );
  }
  view.line(`client: restarting ${killed}`);
  await c.restart(killed);
  await sleep(1500);
}
