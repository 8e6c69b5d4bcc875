// Property tests: the seeded simulator proves the checks in both directions.
// 1. Correct Raft (every bug switch off) on a hostile network raises nothing critical, over 1,000+
//    seeded executions across 3, 5 and 7 members, no-op on and off, pre-vote on and off.
// 2. Each bug switch: every execution where the simulator's ground truth says the bug manifested on
//    the wire must raise the expected code. A failing seed is printed so it can be replayed with
//    `runSim({ seed, nodes, bug, noopOnElection, preVote })`.
import { describe, expect, it } from 'vitest';
import { createEngine, DEFAULT_THRESHOLDS, type Thresholds } from '../../src/engine.js';
import type { Finding } from '../../src/events/types.js';
import { step } from '../../src/runtime/step.js';
import { EXPECTED_CODE, runSim, simulate, type BugSwitch, type SimOptions } from '../../src/sim/index.js';

function judge(opts: SimOptions): { findings: Finding[]; events: number; manifested: boolean; what?: string } {
  const r = runSim(opts);
  const engine = createEngine({ nodes: r.header.nodes, thresholds: r.header.thresholds as Partial<Thresholds> });
  const findings: Finding[] = [];
  for (const ev of r.events) for (const f of step(engine, ev)) findings.push(f);
  // Like replay: time-based checks at the last event, then what waits on the reorder tolerance settled.
  const last = r.events.length ? r.events[r.events.length - 1]!.t : 0;
  for (const f of engine.tick(last)) findings.push(f);
  for (const f of engine.settle(last + (r.header.thresholds?.reorderToleranceMs ?? DEFAULT_THRESHOLDS.reorderToleranceMs) + 1)) findings.push(f);
  return { findings, events: r.events.length, manifested: r.truth.manifestations.length > 0, what: r.truth.manifestations[0]?.what };
}

const SIZES = [3, 5, 7] as const;
const variant = (seed: number): Pick<SimOptions, 'nodes' | 'noopOnElection' | 'preVote'> => ({
  nodes: SIZES[seed % 3]!,
  noopOnElection: seed % 2 === 0,
  preVote: Math.floor(seed / 3) % 2 === 0,
});

describe('simulator: correct executions raise nothing critical', () => {
  it('1,080 seeded executions (3/5/7 members, no-op on/off, pre-vote on/off, crashes, partitions, loss, duplication, reordering, transfers)', () => {
    let events = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= 1080; seed++) {
      const opts = { seed, ...variant(seed) };
      const r = judge(opts);
      events += r.events;
      const c = r.findings.find((f) => f.severity === 'critical');
      if (c && failures.length < 5) failures.push(`seed ${JSON.stringify(opts)}: ${c.code} ${c.message}`);
    }
    console.log(`correct executions: 1080 seeds, ${events} events, ${failures.length} with a critical finding`);
    expect(failures).toEqual([]);
    expect(events).toBeGreaterThan(1_000_000);
  }, 120_000);
});

// Bug classes the checks catch every time the bug reaches the wire; for the others the detection
// rate has a measured floor and the gap is a known limitation (README, "Known gaps").
const FULL: BugSwitch[] = [
  'noNoopOnElection',
  'noTermCheck',
  'votedForNotPersisted',
  'termNotPersisted',
  'noUpToDateCheck',
  'commitWithoutMajority',
  'truncateCommitted',
  'divergentSameIndexTerm',
];
// Floors sit just under the measured rates (deterministic seeds: they move only when the checks
// or the simulator change). RG005 misses a commit carried by a message that ends at it (it could be a
// clamp of a higher own-term commit) when the acks for an own-term entry were observed between the
// message's send and its observation: 296/299 over seeds 1-800, 40/40 over 1-120.
const FLOOR: Partial<Record<BugSwitch, number>> = {
  commitOldTermByCounting: 0.95,
};
const SEEDS = 120;
// truncateCommitted reaches the wire rarely (a member must lose committed entries, win an election and
// overwrite them after the loss was advertised): more seeds so it manifests often enough to mean something.
const SEEDS_FOR: Partial<Record<BugSwitch, number>> = { truncateCommitted: 600 };

describe('simulator: each bug class is caught with the right code', () => {
  const table: string[] = [];
  for (const bug of Object.keys(EXPECTED_CODE) as BugSwitch[]) {
    it(`${bug} → ${EXPECTED_CODE[bug]}`, () => {
      let manifested = 0;
      let caught = 0;
      const missed: string[] = [];
      const seeds = SEEDS_FOR[bug] ?? SEEDS;
      for (let seed = 1; seed <= seeds; seed++) {
        const opts = { seed, bug, ...variant(seed) };
        const r = judge(opts);
        if (!r.manifested) continue;
        manifested++;
        if (r.findings.some((f) => f.code === EXPECTED_CODE[bug])) caught++;
        else if (missed.length < 3) missed.push(`${JSON.stringify(opts)} (${r.what})`);
      }
      const line = `${bug.padEnd(24)} ${EXPECTED_CODE[bug]}  manifested in ${String(manifested).padStart(3)}/${seeds} seeds, caught ${caught}`;
      table.push(line);
      console.log(line + (missed.length ? `\n  missed e.g. ${missed.join('\n  missed e.g. ')}` : ''));
      expect(manifested).toBeGreaterThan(0);
      if (FULL.includes(bug)) expect(missed).toEqual([]);
      else expect(caught / manifested).toBeGreaterThanOrEqual(FLOOR[bug]!);
    }, 60_000);
  }
});

describe('simulator: determinism', () => {
  it('the same seed and options give the same events, byte for byte; another seed differs', () => {
    const a = JSON.stringify([...simulate({ seed: 7, nodes: 5, bug: 'commitOldTermByCounting' }).events]);
    const b = JSON.stringify([...simulate({ seed: 7, nodes: 5, bug: 'commitOldTermByCounting' }).events]);
    const c = JSON.stringify([...simulate({ seed: 8, nodes: 5, bug: 'commitOldTermByCounting' }).events]);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a.length).toBeGreaterThan(10_000);
  });

  it('maxEvents bounds a run exactly (benchmark captures)', () => {
    expect([...simulate({ seed: 1, nodes: 3, maxEvents: 5000, durationMs: 1e9 }).events]).toHaveLength(5000);
  });
});
