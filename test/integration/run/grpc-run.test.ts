// `raftguard run` end to end over real gRPC: the reference cluster with RaftGuard (relays + HTTP/2
// reader + gRPC dialect + engine + sinks + admin API) in front of every member, as the demo runs it.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGuardedCluster, type GuardedCluster } from '../../../src/demo/guarded.js';
import { converged, killAfterCommit, sleep, until } from '../../../src/demo/scenarios.js';
import { createLogger } from '../../../src/sinks/log.js';
import { replayFile } from '../../../src/cli/replay.js';
import { buildDemo } from '../refcluster/build.js';

const TIMING = { heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100 };
const THRESHOLDS = { stallMs: 1000, electionTimeoutMs: 700 };
let g: GuardedCluster | undefined;
const dirs: string[] = [];

beforeAll(buildDemo, 60_000);
afterEach(async () => {
  await g?.stop();
  g = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rg-run-'));
  dirs.push(d);
  return d;
}

const codes = (g: GuardedCluster, sev?: string) => g.running.monitor.findings().filter((f) => !sev || f.severity === sev).map((f) => f.code);

describe('raftguard run in front of the reference cluster', () => {
  it('reconstructs term, leader and commit equal to what the members report, across a leader kill and restart, with nothing critical', async () => {
    const capture = join(tmp(), 'cap.jsonl');
    g = await startGuardedCluster({ cluster: { ...TIMING, noopOnElection: true }, thresholds: THRESHOLDS, capturePath: capture, log: createLogger('silent') });
    const c = g.cluster;
    const l1 = await c.waitForLeader(10_000);
    for (let i = 0; i < 5; i++) await c.put(`k${i}`, `v${i}`);
    const st = await until('convergence', () => converged(c, 3), 5000);
    await sleep(2 * TIMING.heartbeatMs);
    let snap = g.running.monitor.snapshot();
    expect(snap.leader?.id).toBe(l1);
    expect(snap.term).toBe(st[0]!.term);
    expect(snap.leader?.commit).toBe(st[0]!.commit_index);
    for (const s of st) {
      const n = snap.nodes.find((x) => x.id === s.id)!;
      expect(n.term).toBe(s.term);
      expect(n.lastIndex).toBe(s.last_index);
    }

    await c.kill(l1, 'SIGKILL');
    const l2 = await c.waitForLeader(10_000, l1);
    await c.put('after', 'kill');
    await c.restart(l1);
    const st2 = await until('convergence after restart', () => converged(c, 3), 10_000);
    await sleep(2 * TIMING.heartbeatMs);
    snap = g.running.monitor.snapshot();
    expect(snap.leader?.id).toBe(l2);
    expect(snap.term).toBe(st2[0]!.term);
    expect(snap.leader?.commit).toBe(st2[0]!.commit_index);
    expect(codes(g, 'critical')).toEqual([]);
    expect(codes(g)).not.toContain('RG010');

    // The admin API serves the same view and the metrics.
    const base = `http://${g.running.adminAddress.host}:${g.running.adminAddress.port}`;
    const api = (await (await fetch(`${base}/api/cluster`)).json()) as { leader?: { id: string }; term: number };
    expect(api.leader?.id).toBe(l2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`raftguard_node_is_leader\\{cluster="demo",node="${l2}"\\} 1`));
    expect(metrics).toMatch(/raftguard_leader_changes_total\{cluster="demo"\} [1-9]/);
    expect(metrics).toMatch(/raftguard_decode_errors_total/);
    expect(metrics).not.toMatch(/raftguard_decode_errors_total\{[^}]*\} [1-9]/);

    // The capture replays to the same findings.
    const live = g.running.monitor.findings().map((f) => `${f.code}/${f.term}`);
    await g.stop();
    g = undefined;
    const replayed = await replayFile(capture);
    expect(replayed.findings.map((f) => `${f.code}/${f.term}`)).toEqual(live);
    expect(replayed.summary.leaderTerms).toBeGreaterThanOrEqual(2);
  });

  it('raises RG010 when the members never append a no-op on election, and sees it clear after a client write', async () => {
    g = await startGuardedCluster({ cluster: { ...TIMING, noopOnElection: false }, thresholds: THRESHOLDS, log: createLogger('silent') });
    const c = g.cluster;
    await c.waitForLeader(10_000);
    await c.put('a', '1');
    const { leader, put } = await killAfterCommit(c);
    const rg010 = await until('RG010', async () => g!.running.monitor.findings().find((f) => f.code === 'RG010'), 5000);
    expect(rg010.nodes).toContain(leader);
    expect(rg010.severity).toBe('warning');
    const s = await c.status(leader);
    expect(s.commit_index).toBeLessThan(put.index);
    await c.put('unstick', 'x');
    await until('the leader to commit past the stalled entry', async () => ((g!.running.monitor.snapshot().leader?.commit ?? 0) >= put.index ? true : undefined), 3000);
    expect(codes(g, 'critical')).toEqual([]);
  });

  it('does not raise RG010 when the members append a no-op on election', async () => {
    g = await startGuardedCluster({ cluster: { ...TIMING, noopOnElection: true }, thresholds: THRESHOLDS, log: createLogger('silent') });
    const c = g.cluster;
    await c.waitForLeader(10_000);
    await c.put('a', '1');
    const { leader, put } = await killAfterCommit(c);
    await until('the new leader to commit past the old-term entry', async () => ((g!.running.monitor.snapshot().leader?.commit ?? 0) > put.index ? true : undefined), 5000);
    await sleep(THRESHOLDS.stallMs * 1.5);
    expect(g.running.monitor.snapshot().leader?.id).toBe(leader);
    expect(codes(g)).not.toContain('RG010');
    expect(codes(g, 'critical')).toEqual([]);
  });

  it('raises RG005 (critical) when a leader commits an old-term entry by counting replicas', async () => {
    g = await startGuardedCluster({ cluster: { ...TIMING, noopOnElection: false, commitOldTermByCounting: true }, thresholds: THRESHOLDS, log: createLogger('silent') });
    const c = g.cluster;
    await c.waitForLeader(10_000);
    await c.put('a', '1');
    const { leader } = await killAfterCommit(c);
    const f = await until('RG005', async () => g!.running.monitor.findings().find((x) => x.code === 'RG005'), 5000);
    expect(f.severity).toBe('critical');
    expect(f.nodes).toContain(leader);
    expect(f.evidence.length).toBeGreaterThan(0);
  });
});
