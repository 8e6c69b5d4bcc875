// End to end on real traffic: the reference cluster behind RaftGuard relays (the peer-address
// rewrite), the passive HTTP/2 reader on a copy of the bytes, and the gRPC dialect turning it into
// events (createGrpcTap, as `raftguard run` uses it). What the wire says must agree with what the
// members report about themselves.
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceCluster, type ReferenceClusterOptions } from '../../../src/demo/cluster.js';
import { createGrpcTap, type GrpcTapError, type GrpcTapFactory } from '../../../src/dialects/grpc/index.js';
import type { AppendEvent, AppendRespEvent, RaftEvent, VoteEvent, VoteRespEvent } from '../../../src/events/types.js';
import { Relay } from '../../../proxy/relay.js';
import { buildDemo } from './build.js';
import { killAfterCommit, sleep } from './helpers.js';

const REPO = resolve(__dirname, '../../..');

interface Observed {
  cluster: ReferenceCluster;
  events: RaftEvent[];
  decodeErrors: GrpcTapError[];
  tap: GrpcTapFactory;
  runStart: number;
}

const relays: Relay[] = [];
let cluster: ReferenceCluster | undefined;

beforeAll(buildDemo, 60_000);

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await Promise.all(relays.splice(0).map((r) => r.close()));
});

const hostPort = (a: string) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) });

/** A reference cluster whose members dial each other through relays tapped by the gRPC dialect. */
async function startObserved(opts: ReferenceClusterOptions = {}): Promise<Observed> {
  const events: RaftEvent[] = [];
  const decodeErrors: GrpcTapError[] = [];
  const runStart = Date.now();
  const tap = createGrpcTap({
    protoFiles: [join(REPO, 'proto/raft.proto')],
    methods: { appendEntries: '/raft.v1.Raft/AppendEntries', requestVote: '/raft.v1.Raft/RequestVote' },
    runStart,
    onEvent: (ev) => events.push(ev),
    onDecodeError: (e) => decodeErrors.push(e),
  });
  cluster = await ReferenceCluster.start({
    ...opts,
    interpose: async (members) => {
      const out: Record<string, string> = {};
      for (const m of members) {
        const relay = new Relay({ member: m.id, listen: { host: '127.0.0.1', port: 0 }, target: hostPort(m.peerAddress), tapFactory: tap });
        relays.push(relay);
        const a = await relay.start();
        out[m.id] = `${a.host}:${a.port}`;
      }
      return out;
    },
  });
  return { cluster, events, decodeErrors, tap, runStart };
}

describe('reference cluster through relays, decoded by the gRPC dialect', () => {
  it('the decoded stream shows the elections, entries, matches and commits the members report', async () => {
    const { cluster: c, events, decodeErrors, tap, runStart } = await startObserved();
    const dialect = tap.dialect;
    const l1 = await c.waitForLeader(5000);
    const puts = [];
    for (let i = 0; i < 3; i++) puts.push(await c.put(`k${i}`, `value-${i}`));
    await c.kill(l1, 'SIGKILL');
    const l2 = await c.waitForLeader(5000, l1);
    const last = await c.put('after', 'crash');
    await sleep(400); // a few heartbeats carry the new commit to the follower
    const st = await c.status(l2);
    expect(st.commit_index).toBe(last.index);

    expect(decodeErrors).toEqual([]);
    expect(dialect.stats.errors).toBe(0);
    expect(events.length).toBeGreaterThan(10);
    expect(tap.stats.connectionErrors).toBe(0);
    // Times are ms since runStart, within the test's span.
    const span = Date.now() - runStart;
    expect(events.every((e) => e.t >= 0 && e.t <= span)).toBe(true);

    // Elections: the winner of each term asked for votes, and a majority (itself + one) granted.
    for (const [leader, term] of [
      [l1, puts[0]!.term],
      [l2, last.term],
    ] as const) {
      const asks = events.filter((e): e is VoteEvent => e.type === 'vote' && e.from === leader && e.term === term && !e.pre);
      expect(asks.length).toBeGreaterThan(0);
      const grants = events.filter((e): e is VoteRespEvent => e.type === 'vote_resp' && e.to === leader && e.granted && asks.some((a) => a.id === e.id));
      expect(grants.length).toBeGreaterThan(0);
    }

    // Entries: every put appears in an append of its leader with its index, term and payload digest.
    const appends = events.filter((e): e is AppendEvent => e.type === 'append');
    for (const [p, key, value] of [
      [puts[0]!, 'k0', 'value-0'],
      [puts[2]!, 'k2', 'value-2'],
      [last, 'after', 'crash'],
    ] as const) {
      const payload = Buffer.from(JSON.stringify({ k: key, v: Buffer.from(value).toString('base64') }));
      const digest = createHash('sha1').update(payload).digest('hex').slice(0, 16);
      const carried = appends.filter((a) => a.from === p.leader && a.entries.some((e) => e.index === p.index));
      expect(carried.length).toBeGreaterThan(0);
      for (const a of carried) {
        expect(a.entries.find((e) => e.index === p.index)).toEqual({ index: p.index, term: p.term, kind: 'data', digest, size: payload.length });
      }
    }

    // Matches: the surviving follower acknowledged the last entry to the new leader.
    const follower = [...c.members.keys()].find((id) => id !== l1 && id !== l2)!;
    const acks = events.filter((e): e is AppendRespEvent => e.type === 'append_resp' && e.from === follower && e.to === l2 && e.success);
    expect(Math.max(...acks.map((a) => a.match ?? 0))).toBe(last.index);

    // Commit: the new leader's latest append carries the commit index it reports.
    const fromL2 = appends.filter((a) => a.from === l2 && a.term === last.term);
    expect(fromL2.at(-1)!.commit).toBe(st.commit_index);
    // No one but the elected leaders ever sent appends, one leader per term.
    const leaderOfTerm = new Map<number, string>();
    for (const a of appends) {
      expect(leaderOfTerm.get(a.term) ?? a.from).toBe(a.from);
      leaderOfTerm.set(a.term, a.from);
    }
    expect(leaderOfTerm.get(last.term)).toBe(l2);
  });

  it('the previous-term commit stall is visible on the wire (PreVote on, noopOnElection off)', async () => {
    const { cluster: c, events, decodeErrors } = await startObserved({ heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100, preVote: true });
    const { leader, put } = await killAfterCommit(c);
    const newTerm = (await c.status(leader)).term;
    await sleep(1000); // four heartbeat intervals of stall
    const stalledUntil = events.length;
    const fix = await c.put('unstick', 'y');
    await sleep(600);
    expect(decodeErrors).toEqual([]);

    // PreVote then vote: the new leader's pre-vote for newTerm precedes its real vote request.
    const votes = events.filter((e): e is VoteEvent => e.type === 'vote' && e.from === leader && e.term === newTerm);
    expect(votes.some((v) => v.pre)).toBe(true);
    expect(votes.findIndex((v) => v.pre)).toBeLessThan(votes.findIndex((v) => !v.pre));
    const preGrant = events.find((e): e is VoteRespEvent => e.type === 'vote_resp' && e.to === leader && e.pre && e.granted);
    expect(preGrant).toBeDefined();

    // During the stall: heartbeats of the new term sit on the earlier-term entry, commit below it,
    // and the follower confirms it holds that entry (a majority with the leader).
    const stall = events.slice(0, stalledUntil).filter((e): e is AppendEvent => e.type === 'append' && e.from === leader && e.term === newTerm);
    expect(stall.length).toBeGreaterThanOrEqual(3);
    for (const a of stall) {
      expect(a.entries).toEqual([]);
      expect(a.prevIndex).toBe(put.index);
      expect(a.prevTerm).toBe(put.term);
      expect(a.prevTerm).toBeLessThan(newTerm);
      expect(a.commit).toBeLessThan(put.index);
    }
    const held = events.slice(0, stalledUntil).filter((e): e is AppendRespEvent => e.type === 'append_resp' && e.to === leader && e.term === newTerm && e.success);
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((r) => r.match === put.index)).toBe(true);

    // The client write carries an own-term entry; afterwards commit passes the stalled index.
    const after = events.slice(stalledUntil).filter((e): e is AppendEvent => e.type === 'append' && e.from === leader);
    expect(after.some((a) => a.entries.some((e) => e.index === fix.index && e.term === newTerm && e.kind === 'data'))).toBe(true);
    expect(Math.max(...after.map((a) => a.commit))).toBe(fix.index);
  });
});
