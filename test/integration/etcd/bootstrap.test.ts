// Real etcd 3.4 behind RaftGuard relays: what the etcd dialect decodes from the wire must agree with
// what etcd itself reports (`etcdctl endpoint status -w json`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendEvent, RaftEvent } from '../../../src/events/types.js';
import { createEtcdTapWithState, type EtcdDecodeError } from '../../../src/dialects/etcd/index.js';
import { EtcdCluster, etcdAvailability } from './harness.js';

const availability = etcdAvailability();
if (!availability.ok && process.env['CI'] === 'true') {
  throw new Error(`etcd integration tests need etcd under CI=true: ${availability.reason}`);
}
if (!availability.ok) console.warn(`skipping etcd integration tests: ${availability.reason}`);

describe.skipIf(!availability.ok)('etcd 3.4 cluster behind RaftGuard relays', () => {
  const runStart = Date.now();
  const events: RaftEvent[] = [];
  const errors: EtcdDecodeError[] = [];
  const tap = createEtcdTapWithState({
    runStart,
    onEvent: (ev) => events.push(ev),
    onDecodeError: (e) => errors.push(e),
    reportEveryError: true,
  });
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await EtcdCluster.start({ tapFactory: () => tap.factory });
  }, 40_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('decodes leader, term, the election no-op and every put, matching etcdctl', async () => {
    // Let the post-election writes (member attributes, cluster version) settle so the put range is exact.
    let before = 0;
    await cluster.waitFor(
      async () => {
        const s = await cluster.status();
        const idx = s[0]!.raftIndex;
        const stable = s.every((x) => x.raftIndex === idx && x.raftAppliedIndex === idx) && idx === before;
        before = idx;
        return stable;
      },
      10_000,
      'a stable commit index on all members',
    );

    for (let k = 0; k < 50; k++) await cluster.etcdctl(['put', `key-${k}`, `value-${k}`]);

    const status = await cluster.status();
    const leaderHex = status[0]!.leader;
    const term = status[0]!.raftTerm;
    const after = status[0]!.raftIndex;
    expect(status.every((s) => s.leader === leaderHex && s.raftTerm === term)).toBe(true);
    expect(after - before).toBe(50);

    // Names on the wire came from the /members exchanges at bootstrap; they must match etcd's own.
    const names = await cluster.memberNames();
    const leaderName = names.get(leaderHex);
    expect(leaderName).toMatch(/^m[123]$/);
    expect(tap.names.name(leaderHex)).toBe(leaderName);

    // The leader's commit reaches the final index on the wire (heartbeat-driven commit updates).
    await cluster.waitFor(
      async () => events.some((e) => e.type === 'append' && e.from === leaderName && e.commit >= after),
      3000,
      `an append from ${leaderName} with commit >= ${after}`,
    );

    expect(errors).toEqual([]);
    expect(tap.stats.decodeErrors).toBe(0);

    // Leader and term as decoded: the highest term in which anyone acted as leader, and who did.
    const leaderActs = events.filter((e) => e.type === 'append' || e.type === 'heartbeat');
    const wireTerm = Math.max(...leaderActs.map((e) => e.term));
    const wireLeaders = new Set(leaderActs.filter((e) => e.term === wireTerm).map((e) => e.from));
    expect(wireTerm).toBe(term);
    expect([...wireLeaders]).toEqual([leaderName]);

    const appends = events.filter((e): e is AppendEvent => e.type === 'append' && e.from === leaderName && e.term === term);
    const entries = new Map<number, AppendEvent['entries'][number]>();
    for (const a of appends) for (const e of a.entries) entries.set(e.index, e);

    // The new leader's empty entry, right after the 3 bootstrap ConfChange entries that never cross the wire.
    const noops = [...entries.values()].filter((e) => e.kind === 'noop');
    expect(noops.length).toBe(1);
    expect(noops[0]).toMatchObject({ term, kind: 'noop', size: 0 });
    expect(noops[0]!.index).toBeLessThanOrEqual(before);

    // Every put: indices before+1 .. after, each a data entry of the leader's term, all payloads different.
    const puts = [...entries.values()].filter((e) => e.index > before && e.index <= after);
    expect(puts.map((e) => e.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, k) => before + 1 + k));
    expect(puts.every((e) => e.kind === 'data' && e.term === term && (e.size ?? 0) > 0)).toBe(true);
    expect(new Set(puts.map((e) => e.digest)).size).toBe(50);

    // Both followers acknowledged the last put.
    const acks = events.filter((e) => e.type === 'append_resp' && e.to === leaderName && e.success && (e.match ?? 0) >= after);
    expect(new Set(acks.map((e) => e.from)).size).toBe(2);

    if (process.env['RAFTGUARD_DEBUG']) console.log(JSON.stringify({ before, after, term, leaderName, noop: noops[0], stats: tap.stats }, null, 1));

    // Every kind of channel was seen and decoded: both stream types carried messages.
    expect(tap.stats.messages['MsgApp']).toBeGreaterThan(0);
    expect(tap.stats.messages['MsgHeartbeat']).toBeGreaterThan(0);
    expect(tap.stats.messages['MsgVote']).toBeGreaterThan(0);
  }, 40_000);

  it('follows a leader kill: new term and leader, its no-op, pipeline/stream recovery and the restarted member catching up', async () => {
    const names = await cluster.memberNames();
    const s0 = await cluster.status();
    const oldLeader = names.get(s0[0]!.leader)!;
    const oldTerm = s0[0]!.raftTerm;
    const from = events.length;

    await cluster.kill(oldLeader);
    const others = cluster.endpointsExcept(oldLeader);
    let s1: Awaited<ReturnType<typeof cluster.status>> = [];
    await cluster.waitFor(
      async () => {
        s1 = await cluster.status(others);
        return s1.every((s) => s.leader !== '0' && s.leader === s1[0]!.leader && s.raftTerm > oldTerm && names.get(s.leader) !== oldLeader);
      },
      15_000,
      'a new leader after the kill',
    );
    for (let k = 0; k < 5; k++) await cluster.etcdctl(['put', `after-${k}`, `v${k}`], others);
    const s2 = await cluster.status(others);
    const newLeader = names.get(s2[0]!.leader)!;
    const term = s2[0]!.raftTerm;
    const last = s2[0]!.raftIndex;

    cluster.restart(oldLeader);
    await cluster.waitFor(
      async () => (await cluster.status()).every((s) => s.raftIndex >= last && s.raftTerm === term),
      15_000,
      `${oldLeader} caught up to ${last}`,
    );
    await cluster.waitFor(
      async () => events.slice(from).some((e) => e.type === 'append_resp' && e.from === oldLeader && e.to === newLeader && e.success && (e.match ?? 0) >= last),
      5000,
      `${oldLeader} acknowledging ${last} on the wire`,
    );

    expect(errors).toEqual([]);
    const recent = events.slice(from);
    const acts = recent.filter((e) => e.type === 'append' || e.type === 'heartbeat');
    const wireTerm = Math.max(...acts.map((e) => e.term));
    expect(wireTerm).toBe(term);
    expect([...new Set(acts.filter((e) => e.term === term).map((e) => e.from))]).toEqual([newLeader]);
    // The election that made it: votes of that term granted to the new leader.
    expect(recent.some((e) => e.type === 'vote_resp' && e.to === newLeader && e.term === term && e.granted)).toBe(true);
    // Its empty entry of the new term, sent to the surviving follower and later to the restarted member.
    const noopTo = new Set(
      recent
        .filter((e): e is AppendEvent => e.type === 'append' && e.from === newLeader && e.term === term)
        .filter((e) => e.entries.some((x) => x.kind === 'noop' && x.term === term))
        .map((e) => e.to),
    );
    expect(noopTo.size).toBe(2);
    expect(noopTo.has(oldLeader)).toBe(true);
  }, 40_000);
});
