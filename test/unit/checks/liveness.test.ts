// Warning/info checks RG010–RG015: each fires on the hazard and stays quiet in a healthy run.
import { describe, expect, it } from 'vitest';
import type { RaftEvent } from '../../../src/events/types.js';
import { createEngine } from '../../../src/engine.js';
import { app, grant, hb, ok, only, replicate, run, stallHandover as handover, vote } from './helpers.js';

const N = { nodes: ['n1', 'n2', 'n3'] };

/** n2 leads term 3 with heartbeats-as-appends and no own entry (no no-op on election). */
function stalled(from: number, to: number): RaftEvent[] {
  const ev: RaftEvent[] = [];
  for (let t = from; t < to; t += 100) {
    ev.push(app(t, 'n2', 'n1', 3, 5, 2, [], 3), app(t, 'n2', 'n3', 3, 5, 2, [], 3));
    ev.push(ok(t + 1, 'n1', 'n2', 3, 5), ok(t + 1, 'n3', 'n2', 3, 5));
  }
  return ev;
}

describe('RG010 previous-term-commit-stall', () => {
  it('raises once with the stalled range, is open for (leader, term), and clears when an own-term entry commits', () => {
    const engine = createEngine({ ...N, thresholds: { stallMs: 2000 } });
    const all: { code: string; details?: Record<string, unknown> }[] = [];
    const feed = (evs: RaftEvent[]) => {
      for (const e of evs) all.push(...engine.apply(e), ...engine.tick(e.t));
    };
    feed(handover());
    feed(stalled(1002, 4500));
    const f = all.filter((x) => x.code === 'RG010');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ leader: 'n2', stalledFrom: 4, stalledIndex: 5, since: 1003 });
    expect(engine.isStallOpen('n2', 3)).toBe(true);
    expect(engine.establishedAt('n2', 3)).toBe(1003);
    expect(engine.snapshot().open?.map((o) => o.code)).toContain('RG010');
    feed([app(4600, 'n2', 'n3', 3, 5, 2, [[6, 3]], 3), ok(4601, 'n3', 'n2', 3, 6), app(4602, 'n2', 'n3', 3, 6, 3, [], 6)]);
    expect(engine.isStallOpen('n2', 3)).toBe(false);
    const cleared = engine.clearedFindings().find((c) => c.finding.code === 'RG010');
    expect(cleared?.clearedAt).toBe(4602);
    expect(engine.stallInfo('n2', 3)).toMatchObject({ open: false, stalledIndex: 5, clearedAt: 4602 });
  });
  it('trap: a leader that appends its no-op on election never stalls', () => {
    const ev = [...handover(), app(1002, 'n2', 'n1', 3, 5, 2, [[6, 3]], 3), app(1002, 'n2', 'n3', 3, 5, 2, [[6, 3]], 3), ok(1003, 'n1', 'n2', 3, 6), ok(1003, 'n3', 'n2', 3, 6)];
    for (let t = 1100; t < 6000; t += 100) ev.push(app(t, 'n2', 'n1', 3, 6, 3, [], 6), app(t, 'n2', 'n3', 3, 6, 3, [], 6), ok(t + 1, 'n1', 'n2', 3, 6), ok(t + 1, 'n3', 'n2', 3, 6));
    const { findings } = run(ev, N, 6000);
    expect(findings).toEqual([]);
  });
});

describe('RG011 transition-commit-lag', () => {
  it('raises when the new leader stays below the cluster commit and records the duration when it catches up', () => {
    const ev = [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 10, 0)];
    for (let t = 1000; t <= 2600; t += 100) ev.push(app(t, 'n2', 'n3', 3, 10, 2, [], 8));
    ev.push(app(2700, 'n2', 'n3', 3, 10, 2, [[11, 3]], 8), ok(2701, 'n3', 'n2', 3, 11), app(2702, 'n2', 'n3', 3, 11, 3, [], 11));
    const r = run(ev);
    const f = only(r.findings, 'RG011');
    expect(f).toHaveLength(1);
    expect(f[0].details).toMatchObject({ leader: 'n2', leaderCommit: 8, clusterCommit: 10 });
    const c = r.engine.clearedFindings().find((x) => x.finding.code === 'RG011');
    expect(c?.finding.details?.durationMs).toBe(1702);
  });
  it('trap: a leader that catches up quickly is fine', () => {
    const ev = [...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 10, 0)];
    ev.push(app(1000, 'n2', 'n3', 3, 10, 2, [[11, 3]], 9), ok(1001, 'n3', 'n2', 3, 11), app(1002, 'n2', 'n3', 3, 11, 3, [], 11));
    for (let t = 1100; t < 4000; t += 100) ev.push(app(t, 'n2', 'n3', 3, 11, 3, [], 11), app(t, 'n2', 'n1', 3, 11, 3, [], 11));
    expect(only(run(ev).findings, 'RG011')).toEqual([]);
  });
});

describe('RG012 stale-leader', () => {
  it('raises when a node keeps leading an old term past the grace', () => {
    const ev: RaftEvent[] = [app(0, 'n1', 'n2', 2, 0, 0, [], 0), vote(1000, 'n2', 'n3', 3, 0, 0), grant(1001, 'n3', 'n2', 3), app(1002, 'n2', 'n3', 3, 0, 0, [], 0)];
    for (let t = 100; t < 4000; t += 100) ev.push(app(t, 'n1', 'n2', 2, 0, 0, [], 0));
    ev.sort((a, b) => a.t - b.t);
    const f = only(run(ev).findings, 'RG012');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n1']);
    expect(f[0].t).toBeGreaterThan(2000);
  });
  it('trap: old-term appends delivered late from a node already seen in the newer term', () => {
    const ev: RaftEvent[] = [app(0, 'n1', 'n2', 2, 0, 0, [], 0), vote(1000, 'n2', 'n3', 3, 0, 0), grant(1001, 'n3', 'n2', 3), grant(1001, 'n1', 'n2', 3), app(1002, 'n2', 'n3', 3, 0, 0, [], 0), app(1050, 'n1', 'n3', 2, 0, 0, [], 0), app(3000, 'n1', 'n3', 2, 0, 0, [], 0)];
    expect(only(run(ev).findings, 'RG012')).toEqual([]);
  });
});

describe('RG013 no-leader / election-storm / livelock', () => {
  it('raises no-leader after silence, and livelock when terms rise without a leader', () => {
    const ev: RaftEvent[] = [hb(0, 'n1', 'n2', 2, 0), hb(500, 'n1', 'n2', 2, 0)];
    for (let k = 0; k < 6; k++) ev.push(vote(2000 + k * 1000, 'n2', 'n3', 3 + k, 0, 0), grant(2001 + k * 1000, 'n3', 'n2', 3 + k, false, false));
    const r = run(ev, N, 9000);
    const kinds = only(r.findings, 'RG013').map((f) => f.details?.kind);
    expect(kinds).toEqual(['no-leader', 'livelock']);
  });
  it('raises a storm when elections exceed the threshold per window', () => {
    const ev: RaftEvent[] = [];
    for (let term = 2; term <= 7; term++) ev.push(app(term * 1000, `n${(term % 3) + 1}`, 'n1', term, 0, 0, [], 0));
    const f = only(run(ev, { ...N, thresholds: { electionStormCount: 4 } }).findings, 'RG013');
    expect(f.map((x) => x.details?.kind)).toEqual(['election-storm']);
  });
  it('trap: a steady leader with heartbeats raises nothing', () => {
    const ev: RaftEvent[] = [];
    for (let t = 0; t < 20_000; t += 100) ev.push(hb(t, 'n1', 'n2', 2, 0), hb(t, 'n1', 'n3', 2, 0));
    expect(run(ev, N, 20_000).findings).toEqual([]);
  });
});

describe('RG014 replication-lag', () => {
  it('raises when a follower trails by more than lagEntries', () => {
    const ev: RaftEvent[] = [];
    for (let i = 1; i <= 60; i++) {
      ev.push(app(i, 'n1', 'n2', 2, i - 1, i === 1 ? 0 : 2, [[i, 2]], i - 1), ok(i, 'n2', 'n1', 2, i));
      ev.push(app(i, 'n1', 'n3', 2, 0, 0, [], 0), ok(i, 'n3', 'n1', 2, 0));
    }
    const f = only(run(ev, { ...N, thresholds: { lagEntries: 50 } }).findings, 'RG014');
    expect(f).toHaveLength(1);
    expect(f[0].nodes).toEqual(['n3', 'n1']);
    expect(f[0].details?.behindEntries).toBe(51);
  });
  it('trap: followers that keep up (pipelined, slightly behind) raise nothing', () => {
    const ev: RaftEvent[] = [];
    for (let i = 1; i <= 3000; i++) {
      ev.push(app(i * 10, 'n1', 'n2', 2, i - 1, i === 1 ? 0 : 2, [[i, 2]], i - 1), app(i * 10, 'n1', 'n3', 2, i - 1, i === 1 ? 0 : 2, [[i, 2]], i - 1));
      if (i > 1) ev.push(ok(i * 10 + 1, 'n2', 'n1', 2, i - 1), ok(i * 10 + 1, 'n3', 'n1', 2, i - 1));
    }
    expect(run(ev, { ...N, thresholds: { lagEntries: 50, lagMs: 1000 } }).findings).toEqual([]);
  });
});

describe('RG015 heartbeat-timing', () => {
  it('reports heartbeat gaps too close to the election timeout with recommended values', () => {
    const ev: RaftEvent[] = [];
    for (let t = 0; t < 300 * 700; t += 700) ev.push(hb(t, 'n1', 'n2', 2, 0), { type: 'heartbeat_resp', t: t + 1, from: 'n2', to: 'n1', term: 2 });
    const f = only(run(ev, { ...N, thresholds: { electionTimeoutMs: 1000, noLeaderMs: 60_000 } }).findings, 'RG015');
    expect(f).toHaveLength(1);
    expect(f[0].severity).toBe('info');
    expect(f[0].details?.p99GapMs as number).toBeGreaterThan(600);
    expect(f[0].details?.recommendedElectionTimeoutMs as number).toBeGreaterThanOrEqual(1400);
  });
  it('trap: a follower that was down (sent nothing) during the gap is an outage, not timing', () => {
    const ev: RaftEvent[] = [];
    for (let t = 0; t < 300 * 700; t += 700) ev.push(hb(t, 'n1', 'n2', 2, 0));
    expect(only(run(ev, { ...N, thresholds: { noLeaderMs: 60_000 } }).findings, 'RG015')).toEqual([]);
  });
  it('trap: 100 ms heartbeats against a 1 s election timeout are fine', () => {
    const ev: RaftEvent[] = [];
    for (let t = 0; t < 20_000; t += 100) ev.push(hb(t, 'n1', 'n2', 2, 0));
    expect(only(run(ev).findings, 'RG015')).toEqual([]);
  });
});
