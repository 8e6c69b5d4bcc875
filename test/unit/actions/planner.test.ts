// The no-op planner's guards, on hand-made snapshots (pure: no I/O, no clock).
import { describe, expect, it } from 'vitest';
import { NoopPlanner } from '../../../src/actions/noop-planner.js';
import { fillTemplate } from '../../../src/actions/noop-injector.js';
import type { ClusterSnapshot, StallInfo } from '../../../src/engine.js';

function snap(over: Partial<ClusterSnapshot> & { stall?: Partial<StallInfo> } = {}): ClusterSnapshot {
  const stall: StallInfo = { leader: 'n2', term: 5, open: false, establishedAt: 1000, hazardSince: 1000, stalledIndex: 9, ...over.stall };
  return {
    t: 0,
    term: 5,
    leader: { id: 'n2', term: 5, since: 990, match: {}, lastIndex: 9, commit: 8 },
    nodes: [],
    voters: ['n1', 'n2', 'n3'],
    complete: true,
    maxCommit: 8,
    stalls: [stall],
    ...over,
  };
}

describe('NoopPlanner', () => {
  it('waits out the grace after leadership is established, then fires once per (leader, term)', () => {
    const p = new NoopPlanner();
    expect(p.decide(snap(), 1100, 250)).toEqual([]);
    const d = p.decide(snap(), 1250, 250);
    expect(d).toMatchObject([{ kind: 'fire', leader: 'n2', term: 5, stalledIndex: 9 }]);
    expect(p.decide(snap(), 2000, 250)).toEqual([]);
  });

  it('does nothing when a client write cleared the hazard within the grace', () => {
    const p = new NoopPlanner();
    expect(p.decide(snap({ stall: { hazardSince: undefined } }), 5000, 250)).toEqual([]);
    expect(p.decide(snap({ stall: { clearedAt: 1100 } }), 5000, 250)).toEqual([]);
  });

  it('skips, never redirects, when leadership moved on during the grace', () => {
    const p = new NoopPlanner();
    const moved = snap({ term: 6, leader: { id: 'n3', term: 6, since: 1200, match: {}, lastIndex: 9, commit: 8 } });
    expect(p.decide(moved, 1300, 250)).toMatchObject([{ kind: 'skip', leader: 'n2', term: 5 }]);
    expect(p.decide(moved, 1400, 250)).toEqual([]);
  });

  it('skips a leader that is not a voting member, and waits while leadership is not established', () => {
    expect(new NoopPlanner().decide(snap({ voters: ['n1', 'n3', 'n4'] }), 2000, 0)).toMatchObject([{ kind: 'skip', reason: expect.stringMatching(/not a voting member/) }]);
    expect(new NoopPlanner().decide(snap({ stall: { establishedAt: undefined } }), 9999, 0)).toEqual([]);
  });

  it('manual requests keep the guards: only the current leader, once per term', () => {
    const p = new NoopPlanner();
    expect(p.manual(snap(), 'n1')).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/not acting as leader/) });
    expect(p.manual(snap(), 'n2')).toMatchObject({ kind: 'fire', leader: 'n2', term: 5 });
    expect(p.manual(snap(), 'n2')).toMatchObject({ kind: 'skip', reason: expect.stringMatching(/already decided/) });
  });
});

describe('fillTemplate', () => {
  it('fills term, leader and timestamp in nested strings and leaves the rest', () => {
    expect(fillTemplate({ key: 'noop-{{term}}-{{leader}}', n: 3, list: ['{{timestamp}}', '{{other}}'] }, { term: '7', leader: 'n2', timestamp: '123' })).toEqual({
      key: 'noop-7-n2',
      n: 3,
      list: ['123', '{{other}}'],
    });
  });
});

describe('parseNoopConfig', () => {
  it('reports every problem at once', async () => {
    const { parseNoopConfig } = await import('../../../src/actions/noop-injector.js');
    expect(() => parseNoopConfig({ grpc: { method: 'Put' }, http: { url: 'ftp://x' }, timeoutMs: -1 }, 'rg.yaml')).toThrow(
      /rg\.yaml: noop\.grpc\.proto: .*noop\.grpc\.method: .*noop\.grpc\.request: .*noop\.http\.url: .*noop: expected exactly one of .*noop\.timeoutMs/,
    );
    expect(parseNoopConfig({ http: { url: 'http://{{client}}/v3/kv/put' } }, 'x')).toMatchObject({ dryRun: false, timeoutMs: 2000, http: { method: 'POST' } });
  });
});
