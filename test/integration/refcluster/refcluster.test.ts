// The reference cluster as real processes on loopback: election, replication, crash and catch-up,
// and the previous-term commit stall with noopOnElection off (and cleared with it on).
// Builds src/demo into dist/ first (only those files: tsconfig.build.json), then spawns
// dist/src/demo/node-main.js per member.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from './build.js';
import { ReferenceCluster, type ReferenceClusterOptions } from '../../../src/demo/cluster.js';
import { converged, killAfterCommit, sleep, until } from './helpers.js';

const REPO = resolve(__dirname, '../../..');

let cluster: ReferenceCluster | undefined;

beforeAll(buildDemo, 60_000);

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe('reference cluster', () => {
  it('elects a leader, commits puts on all, survives a leader SIGKILL, and catches up the restarted member', async () => {
    cluster = await ReferenceCluster.start();
    const c = cluster;
    const l1 = await c.waitForLeader(5000);
    let last = 0;
    for (let i = 0; i < 5; i++) {
      const r = await c.put(`k${i}`, `v${i}`);
      expect(r.leader).toBe(l1);
      expect(r.index).toBeGreaterThan(last);
      last = r.index;
    }
    const st1 = await until('all three to commit the puts', () => converged(c, 3));
    expect(st1.map((s) => s.commit_index)).toEqual([last, last, last]);
    expect(st1.filter((s) => s.role === 'leader').map((s) => s.id)).toEqual([l1]);
    for (const id of ['n1', 'n2', 'n3']) expect((await c.get(id, 'k4'))?.toString()).toBe('v4');

    await c.kill(l1, 'SIGKILL');
    const l2 = await c.waitForLeader(5000, l1);
    const after = await c.put('after', 'crash');
    expect(after.leader).toBe(l2);
    expect(after.term).toBeGreaterThan(st1[0]!.term);
    expect(after.index).toBe(last + 1);

    await c.restart(l1);
    const st2 = await until('the restarted member to catch up', () => converged(c, 3));
    const back = st2.find((s) => s.id === l1)!;
    expect(back).toMatchObject({ role: 'follower', leader: l2, term: after.term, last_index: after.index, commit_index: after.index });
    expect((await c.get(l1, 'after'))?.toString()).toBe('crash');
  });

  const stallOptions: ReferenceClusterOptions = { heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100 };

  it('noopOnElection off: the new leader cannot commit the earlier-term entry until a put arrives', async () => {
    cluster = await ReferenceCluster.start(stallOptions);
    const c = cluster;
    const { leader, put } = await killAfterCommit(c);
    // Several heartbeat intervals with a majority holding the entry: commit must not move.
    for (let i = 0; i < 6; i++) {
      const s = await c.status(leader);
      expect(s.role).toBe('leader');
      expect(s.last_index).toBe(put.index);
      expect(s.last_term).toBeLessThan(s.term);
      expect(s.commit_index).toBeLessThan(s.last_index);
      await sleep(250);
    }
    const fix = await c.put('unstick', 'y');
    expect(fix).toMatchObject({ leader, index: put.index + 1 });
    const s = await c.status(leader);
    expect(s.commit_index).toBe(s.last_index);
    expect(s.applied_index).toBe(put.index + 1);
  });

  it('noopOnElection on: the new leader commits the earlier-term entry by itself', async () => {
    cluster = await ReferenceCluster.start({ ...stallOptions, noopOnElection: true });
    const c = cluster;
    const { leader, put } = await killAfterCommit(c);
    const s = await until('the no-op to commit', async () => {
      const st = await c.status(leader);
      return st.commit_index === st.last_index && st.last_index > put.index ? st : undefined;
    }, 3000);
    expect(s.last_term).toBe(s.term);
    expect(s.commit_index).toBeGreaterThan(put.index);
  });

  it('commitOldTermByCounting on: the new leader commits the earlier-term entry without an own-term entry (the Figure 8 bug)', async () => {
    cluster = await ReferenceCluster.start({ ...stallOptions, commitOldTermByCounting: true });
    const c = cluster;
    const { leader, put } = await killAfterCommit(c);
    const s = await until('the old-term entry to be committed by counting', async () => {
      const st = await c.status(leader);
      return st.commit_index === put.index ? st : undefined;
    }, 3000);
    expect(s.last_index).toBe(put.index);
    expect(s.last_term).toBeLessThan(s.term);
  });

  it('persistVote off: votedFor is kept in memory but never written to disk', async () => {
    cluster = await ReferenceCluster.start({ persistVote: false });
    const c = cluster;
    const l = await c.waitForLeader(5000);
    const follower = [...c.members.keys()].find((id) => id !== l)!;
    const st = await until('the follower to know its leader', async () => {
      const s = await c.status(follower);
      return s.leader === l ? s : undefined;
    });
    expect(st.voted_for).not.toBe('');
    const onDisk = JSON.parse(readFileSync(join(c.members.get(follower)!.dataDir, 'state.json'), 'utf8')) as { term: number; votedFor: unknown };
    expect(onDisk).toEqual({ term: st.term, votedFor: null });
  });
});
