// Active mode on the reference cluster (no no-op on election): RaftGuard sends one guarded no-op
// client request to the new leader after leadership is established plus the grace, and the stalled
// earlier-term entry becomes committed on every member; passive mode leaves it stuck; dry run sends
// nothing.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { join } from 'node:path';
import { startGuardedCluster, type GuardedCluster } from '../../../src/demo/guarded.js';
import { findRepoRoot } from '../../../src/demo/protos.js';
import { killAfterCommit, sleep, until } from '../../../src/demo/scenarios.js';
import { createLogger } from '../../../src/sinks/log.js';
import type { NoopEvent, RaftEvent } from '../../../src/events/types.js';
import { buildDemo } from '../refcluster/build.js';
import { noopCommand } from '../../../src/cli/noop.js';

const TIMING = { heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100, noopOnElection: false };
const NOOP = { grpc: { proto: [join(findRepoRoot(), 'proto', 'kv.proto')], method: '/raft.v1.KV/Put', request: { key: '__raftguard_noop_{{term}}', value: '' } } };
let g: GuardedCluster | undefined;

beforeAll(buildDemo, 60_000);
afterEach(async () => {
  await g?.stop();
  g = undefined;
});

async function guarded(mode: 'passive' | 'active', noop?: object, cluster: object = {}): Promise<{ g: GuardedCluster; events: RaftEvent[] }> {
  const events: RaftEvent[] = [];
  g = await startGuardedCluster({
    cluster: { ...TIMING, ...cluster },
    thresholds: { stallMs: 3000, electionTimeoutMs: 700 },
    mode,
    ...(noop ? { noop } : {}),
    log: createLogger('silent'),
    sinks: [{ event: (ev) => void events.push(ev) }],
  });
  return { g, events };
}

const noops = (events: RaftEvent[]) => events.filter((e): e is NoopEvent => e.type === 'noop');

describe('active mode: the guarded no-op injector', () => {
  it('clears the stall with exactly one injection to the new leader; the old-term entry commits on all members', async () => {
    const { g, events } = await guarded('active', NOOP);
    await g.cluster.waitForLeader(10_000);
    await g.cluster.put('a', '1');
    const { leader, put } = await killAfterCommit(g.cluster);
    // Leadership established + grace (one observed heartbeat interval) + a heartbeat and a round trip.
    const statuses = await until(
      'the stalled entry to commit on both survivors',
      async () => {
        const st = await g.cluster.statuses();
        return st.length === 2 && st.every((s) => s.commit_index >= put.index) ? st : undefined;
      },
      3000,
    );
    expect(statuses.every((s) => s.leader === leader)).toBe(true);
    const term = statuses[0]!.term;
    const sent = noops(events).filter((e) => e.result === 'sent' && e.term === term);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.to).toBe(leader);
    await until('the ok decision', async () => (noops(events).some((e) => e.result === 'ok' && e.term === term) ? true : undefined), 2000);
    expect(noops(events).filter((e) => e.to !== leader && e.result === 'sent')).toEqual([]);
    // The stall cleared before RG010's threshold: no warning needed, and the engine credits the injection.
    expect(g.running.monitor.findings().map((f) => f.code)).not.toContain('RG010');
    const stall = await until('the stall to clear in RaftGuard\'s view', async () => g.running.monitor.snapshot().stalls?.find((s) => s.term === term && s.clearedAt !== undefined), 2000);
    expect(stall).toMatchObject({ leader, clearedBy: 'noop', action: { result: 'ok', dryRun: false } });
    expect(stall.escalated).toBeUndefined();
    const metrics = await g.running.metrics.text();
    expect(metrics).toMatch(/raftguard_noop_injections_total\{cluster="demo",result="ok"\} 1/);
  }, 60_000);

  it('passive mode leaves the commit stuck while no client writes arrive', async () => {
    const { g, events } = await guarded('passive');
    await g.cluster.waitForLeader(10_000);
    await g.cluster.put('a', '1');
    const { leader, put } = await killAfterCommit(g.cluster);
    await sleep(2000);
    const s = await g.cluster.status(leader);
    expect(s.commit_index).toBeLessThan(put.index);
    expect(noops(events)).toEqual([]);
  }, 60_000);

  it('dry run decides and records, but sends nothing', async () => {
    const { g, events } = await guarded('active', { ...NOOP, dryRun: true });
    await g.cluster.waitForLeader(10_000);
    await g.cluster.put('a', '1');
    const { leader, put } = await killAfterCommit(g.cluster);
    await until('the dry-run decision', async () => (noops(events).some((e) => e.result === 'skipped' && /dry run/.test(e.reason)) ? true : undefined), 3000);
    await sleep(1000);
    expect(noops(events).filter((e) => e.result === 'sent')).toEqual([]);
    expect((await g.cluster.status(leader)).commit_index).toBeLessThan(put.index);
  }, 60_000);

  it('raftguard noop --node: lands on the current leader only, once per term', async () => {
    const { g, events } = await guarded('active', { ...NOOP, graceMs: 60_000 });
    const leader = await g.cluster.waitForLeader(10_000);
    await g.cluster.put('a', '1');
    await sleep(600);
    const url = `http://${g.running.adminAddress.host}:${g.running.adminAddress.port}`;
    let out = '';
    const io = { out: (s: string) => void (out += s), err: (s: string) => void (out += s) };
    const other = ['n1', 'n2', 'n3'].find((n) => n !== leader)!;
    expect(await noopCommand(['--node', other, '--url', url], io)).toBe(1);
    expect(out).toMatch(/skipped: .*not acting as leader/);
    const before = (await g.cluster.status(leader)).last_index;
    expect(await noopCommand(['--node', leader, '--url', url], io)).toBe(0);
    expect(out).toMatch(/ok: /);
    await until('the no-op entry on the wire', async () => (events.some((e) => e.type === 'append' && e.from === leader && e.entries.some((x) => x.index === before + 1)) ? true : undefined), 3000);
    expect(await noopCommand(['--node', leader, '--url', url], io)).toBe(1);
    expect(out).toMatch(/already decided/);
  }, 60_000);

  it('a leader that never answers: a clean `failed` after the timeout, nothing sent to anyone else, no retry', async () => {
    // Every member's client address points at a server that accepts and never answers.
    const hole = http.createServer(() => {});
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    try {
      const { g, events } = await guarded('active', { ...NOOP, grpc: undefined, http: { url: 'http://{{client}}/put', body: { term: '{{term}}' } }, timeoutMs: 400 });
      for (const m of g.config.members) m.client = { host: '127.0.0.1', port };
      await g.cluster.waitForLeader(10_000);
      await g.cluster.put('a', '1');
      const { leader, put } = await killAfterCommit(g.cluster);
      const failed = await until('the failed decision', async () => noops(events).find((e) => e.result === 'failed'), 4000);
      expect(failed.to).toBe(leader);
      expect(failed.reason).toMatch(/no answer within 400 ms/);
      await sleep(800);
      expect(noops(events).filter((e) => e.result === 'sent')).toHaveLength(1);
      expect((await g.cluster.status(leader)).commit_index).toBeLessThan(put.index);
      // RG010 escalates at once, as a warning, saying the injection failed.
      const rg010 = g.running.monitor.findings().filter((f) => f.code === 'RG010' && f.term === failed.term);
      expect(rg010).toHaveLength(1);
      expect(rg010[0]).toMatchObject({ severity: 'warning', details: { escalated: true, escalation: 'injection-failed', action: { result: 'failed' } } });
      expect(rg010[0]!.message).toMatch(/no answer within 400 ms/);
    } finally {
      hole.closeAllConnections();
      await new Promise<void>((r) => hole.close(() => r()));
    }
  }, 60_000);

  it('the leader killed while the injection is in flight: no crash, one clean `failed`, nothing sent to anyone else, relaying goes on', async () => {
    // The members hold (never answer) Puts of RaftGuard's no-op key: the request stays in flight at the leader.
    const { g, events } = await guarded('active', NOOP, { holdPutPrefix: '__raftguard_noop_' });
    await g.cluster.waitForLeader(10_000);
    await g.cluster.put('a', '1');
    const { old, leader, put } = await killAfterCommit(g.cluster);
    const sent = await until('the injection to be sent', async () => noops(events).find((e) => e.result === 'sent' && e.to === leader), 4000);
    const term = sent.term;
    const key = `__raftguard_noop_${term}`;
    const received = (id: string) => g.cluster.members.get(id)!.events.filter((e) => e.event === 'client_put' && e.key === key);
    // It reached the leader's client API and is held there, unanswered.
    await until('the leader to receive the no-op request', async () => (received(leader).length === 1 ? true : undefined), 2000);
    expect(noops(events).filter((e) => e.to === leader && e.term === term && e.result !== 'sent')).toEqual([]);
    // Bring the first victim back so the cluster keeps a majority, then kill the leader under the request.
    await g.cluster.restart(old);
    await until(`${old} to follow ${leader}`, async () => ((await g.cluster.status(old)).leader === leader ? true : undefined), 5000);
    await g.cluster.kill(leader, 'SIGKILL');
    const next = await g.cluster.waitForLeader(10_000, leader);
    const failed = await until('the failed decision', async () => noops(events).find((e) => e.result === 'failed' && e.to === leader && e.term === term), 4000);
    expect(failed.reason).toMatch(/UNAVAILABLE|cancelled/);
    // RaftGuard keeps relaying: a write through the new leader commits, and with it the stalled entry.
    const w = await g.cluster.put('after', '1');
    expect(w.leader).toBe(next);
    await until('the stalled entry to commit on both survivors', async () => {
      const st = await g.cluster.statuses();
      return st.length === 2 && st.every((s) => s.commit_index >= Math.max(put.index, w.index)) ? st : undefined;
    }, 3000);
    await sleep(500);
    const decisions = noops(events).filter((e) => e.to === leader && e.term === term);
    expect(decisions.map((e) => e.result)).toEqual(['sent', 'failed']);
    // Never retried to another node: no decision for that term names anyone else, and no other member
    // received that term's no-op request (their own logs of client requests).
    expect(noops(events).filter((e) => e.term === term && e.to !== leader)).toEqual([]);
    for (const id of ['n1', 'n2', 'n3'].filter((n) => n !== leader)) expect(received(id)).toEqual([]);
    const snap = g.running.monitor.snapshot();
    expect(snap.leader).toMatchObject({ id: next });
    expect(snap.leader!.term).toBeGreaterThan(term);
    const res = await fetch(`http://${g.running.adminAddress.host}:${g.running.adminAddress.port}/api/cluster`);
    expect(res.status).toBe(200);
    expect(g.running.monitor.findings().filter((f) => f.severity === 'critical')).toEqual([]);
  }, 60_000);
});
