// Scripted moments on the reference cluster, shared by `raftguard demo` and the tests.
import type { MemberStatus, ReferenceCluster } from './cluster.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await fn().catch(() => undefined);
    if (last !== undefined) return last;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** All running members agree on term, leader, last entry and commit; returns their statuses. */
export async function converged(c: ReferenceCluster, expectMembers: number): Promise<MemberStatus[] | undefined> {
  const st = await c.statuses();
  if (st.length !== expectMembers) return undefined;
  const [a] = st;
  const same = st.every(
    (s) => s.term === a!.term && s.leader === a!.leader && s.leader !== '' && s.last_index === a!.last_index && s.last_term === a!.last_term && s.commit_index === a!.last_index,
  );
  return same ? st : undefined;
}

/**
 * Leaves the new leader holding an earlier-term entry above its commit: a put commits on the
 * leader, which is SIGKILLed before its next heartbeat tells the followers. Returns the new
 * leader's id (once elected), the killed leader's id and the put that is left uncommitted.
 * The race (a heartbeat slipping out between commit and kill) is retried up to 3 times.
 */
export async function killAfterCommit(c: ReferenceCluster): Promise<{ old: string; leader: string; put: { index: number; term: number } }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const l = await c.waitForLeader(5000);
    const put = await c.put(`stall${attempt}`, 'x');
    await c.kill(l, 'SIGKILL');
    const survivors = await until('both survivors to answer', async () => ((await c.statuses()).length === 2 ? c.statuses() : undefined));
    if (survivors.every((s) => s.commit_index < put.index && s.last_index >= put.index)) {
      const leader = await c.waitForLeader(5000, l);
      return { old: l, leader, put };
    }
    // The commit reached the followers before the kill: no stall to see. Heal and retry.
    await c.restart(l);
    await until('the cluster to converge before retrying', () => converged(c, 3), 5000).catch(() => c.put('heal', 'x'));
  }
  throw new Error('could not kill the leader between commit and heartbeat in 3 attempts');
}

