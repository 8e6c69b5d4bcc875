import { describe, expect, it } from 'vitest';
import { SummaryBuilder } from '../../../src/report/summary.js';
import { Reservoir } from '../../../src/report/reservoir.js';
import type { Entry, RaftEvent } from '../../../src/events/types.js';

const app = (t: number, from: string, to: string, term: number, prevIndex: number, commit: number, entries: Entry[] = []): RaftEvent => ({
  type: 'append', t, from, to, term, prevIndex, prevTerm: term, commit, entries,
});

describe('SummaryBuilder', () => {
  it('measures leadership, election → first own-term commit, and per-follower commit propagation', () => {
    const s = new SummaryBuilder('c', ['n1', 'n2', 'n3']);
    s.addEvent({ type: 'vote', t: 90, from: 'n1', to: 'n2', term: 2, lastIndex: 4, lastTerm: 1, pre: false });
    s.addEvent({ type: 'vote', t: 90, from: 'n1', to: 'n3', term: 2, lastIndex: 4, lastTerm: 1, pre: false });
    // n1 leads term 2 from t=100 with commit 3; its first own-term entry is index 5.
    s.addEvent(app(100, 'n1', 'n2', 2, 4, 3, [{ index: 5, term: 2, kind: 'noop' }]));
    s.addEvent(app(101, 'n1', 'n3', 2, 4, 3, [{ index: 5, term: 2, kind: 'noop' }]));
    // Commit 5 first advertised to n2 at t=120, n3 learns it at t=150 (30 ms later).
    s.addEvent(app(120, 'n1', 'n2', 2, 5, 5));
    s.addEvent(app(150, 'n1', 'n3', 2, 5, 5));
    // Commit 6 to n3 first at 200; n2 learns it via an etcd-style heartbeat at 210.
    s.addEvent(app(200, 'n1', 'n3', 2, 6, 6));
    s.addEvent({ type: 'heartbeat', t: 210, from: 'n1', to: 'n2', term: 2, commit: 6 });
    // Term 3: n2 takes over.
    s.addEvent(app(500, 'n2', 'n1', 3, 6, 6));
    const r = s.build();
    expect(r.campaigns).toBe(1);
    expect(r.leaderTerms).toBe(2);
    expect(r.leaderChanges).toBe(1);
    expect(r.terms[0]).toMatchObject({ term: 2, leader: 'n1', since: 100, ledMs: 110, firstOwnIndex: 5, firstOwnCommitMs: 20, commitAtStart: 3, commitAtEnd: 6 });
    expect(r.terms[1]).toMatchObject({ term: 3, leader: 'n2', since: 500 });
    expect(r.commit).toEqual({ first: 3, last: 6, entriesCommitted: 3 });
    expect(r.commitLearnMs.n2).toMatchObject({ count: 2, min: 0, max: 10 });
    expect(r.commitLearnMs.n3).toMatchObject({ count: 2, min: 0, max: 30 });
    expect(r.electionToFirstOwnCommitMs).toMatchObject({ count: 1, p50: 20 });
  });

  it('keeps memory bounded on a long run: terms beyond the cap are counted, not kept', () => {
    const s = new SummaryBuilder('c', ['a', 'b'], 10);
    for (let term = 1; term <= 1000; term++) {
      s.addEvent(app(term * 10, term % 2 ? 'a' : 'b', term % 2 ? 'b' : 'a', term, term, term));
    }
    const r = s.build();
    expect(r.terms).toHaveLength(10);
    expect(r.termsOmitted).toBe(990);
    expect(r.leaderTerms).toBe(1000);
    expect(r.terms[0]!.term).toBe(991);
  });
});

describe('Reservoir', () => {
  it('gives exact percentiles below capacity and stays within capacity above it', () => {
    const r = new Reservoir(100);
    for (let i = 1; i <= 100; i++) r.add(i);
    expect(r.quantile(0.5)).toBe(50);
    expect(r.quantile(0.99)).toBe(99);
    for (let i = 101; i <= 100_000; i++) r.add(i);
    const st = r.stats();
    expect(st.count).toBe(100_000);
    expect(st.max).toBe(100_000);
    // A uniform stream: the sampled median lands near the true one.
    expect(Math.abs(st.p50! - 50_000)).toBeLessThan(15_000);
  });

  it('orders samples as numbers (not as text), fractions and negatives included', () => {
    const r = new Reservoir(100);
    for (const v of [100, 9, 10, -5, 2.5, 1000, 0.25, 30, 20, 3]) r.add(v);
    // Sorted: -5, 0.25, 2.5, 3, 9, 10, 20, 30, 100, 1000
    expect(r.quantile(0.1)).toBe(-5);
    expect(r.quantile(0.3)).toBe(2.5);
    expect(r.quantile(0.5)).toBe(9);
    expect(r.stats()).toMatchObject({ count: 10, min: -5, p50: 9, p99: 1000, max: 1000 });
  });
});
