// `raftguard replay` judges what is still pending when the capture ends: checks that wait out
// reorderToleranceMs (RG005 here) or observerSkewMs (RG006) after a suspicious event must report a
// violation in the last milliseconds of a capture, as a live run that kept going would. Run through the built CLI, as
// users run it, and through ReplaySession (the code the pcap replay shares).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CaptureHeader, Finding, RaftEvent } from '../../../src/events/types.js';
import { ReplaySession } from '../../../src/cli/replay.js';
import { app, grant, ok, range, replicate, vote } from '../checks/helpers.js';
import { buildAll } from '../../integration/refcluster/build.js';

const REPO = resolve(__dirname, '../../..');
const BIN = join(REPO, 'bin', 'raftguard.js');
const dir = mkdtempSync(join(tmpdir(), 'rg-replay-tail-'));

beforeAll(async () => {
  // The CLI runs from dist/: build it (npm test builds first; this covers running this file alone).
  await buildAll();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** n1 advertises commit 3 at t=10 while only n1 and n2 hold index 2 (n3 acks 1): RG006, judged after observerSkewMs. */
function commitWithoutQuorumAtEnd(): RaftEvent[] {
  return [
    app(0, 'n1', 'n2', 2, 0, 0, range(1, 3, 2), 1),
    app(0, 'n1', 'n3', 2, 0, 0, range(1, 3, 2), 1),
    ok(1, 'n2', 'n1', 2, 2),
    app(10, 'n1', 'n3', 2, 3, 2, [], 3),
    ok(15, 'n3', 'n1', 2, 1), // the capture ends here, 5 ms after the commit
  ];
}

/**
 * n2, leader of term 3, advances its commit from 3 to 4 (an entry of term 2) in a message that also
 * carries its own entry 5, so 4 is its real commit: RG005, judged after the reorder tolerance. The
 * capture ends 5 ms later.
 */
function oldTermCommitAtEnd(): RaftEvent[] {
  return [
    ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 3, 0),
    app(20, 'n1', 'n2', 2, 3, 2, [[4, 2]], 3),
    ok(21, 'n2', 'n1', 2, 4),
    vote(30, 'n2', 'n3', 3, 4, 2),
    grant(31, 'n3', 'n2', 3),
    app(32, 'n2', 'n3', 3, 3, 2, [[4, 2]], 3),
    ok(33, 'n3', 'n2', 3, 4),
    app(40, 'n2', 'n1', 3, 3, 2, [[4, 2], [5, 3]], 4),
    ok(45, 'n3', 'n2', 3, 4),
  ];
}

function capture(name: string, header: Partial<CaptureHeader>, events: RaftEvent[]): string {
  const h = { raftguard: 'capture', version: 1, cluster: 'tail', nodes: ['n1', 'n2', 'n3'], ...header };
  const p = join(dir, name);
  writeFileSync(p, [h, ...events].map((x) => JSON.stringify(x)).join('\n') + '\n');
  return p;
}

function replayJson(args: string[]): { status: number | null; findings: Finding[]; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'replay', ...args, '--json'], { encoding: 'utf8', timeout: 30_000 });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, findings: lines.filter((l) => typeof l.code === 'string') as unknown as Finding[], stderr: r.stderr };
}

describe('replay judges what is pending at the end of the capture', () => {
  it('reports RG005 when the old-term commit is 5 ms before the end (default tolerance)', () => {
    const r = replayJson([capture('default.jsonl', {}, oldTermCommitAtEnd())]);
    expect(r.stderr).toBe('');
    expect(r.findings.map((f) => f.code)).toEqual(['RG005']);
    expect(r.findings[0]!.details).toMatchObject({ commit: 4, entryTerm: 2, previousCommit: 3 });
    // Judged once the tolerance after the commit had passed, not before.
    expect(r.findings[0]!.t).toBeGreaterThan(40 + 1000);
    expect(r.status).toBe(1);
  });

  it('reports RG006 when the commit without quorum is 5 ms before the end, once observerSkewMs has passed', () => {
    const r = replayJson([capture('skew.jsonl', {}, commitWithoutQuorumAtEnd())]);
    expect(r.findings.map((f) => f.code)).toEqual(['RG006']);
    expect(r.findings[0]!.details).toMatchObject({ commit: 3, holders: 1, quorum: 2 });
    expect(r.findings[0]!.t).toBeGreaterThan(10 + 10);
  });

  it('does not treat the time after the last event as silence: no stall, no-leader or lag is invented', () => {
    // The last leader message is at t=40 and the capture ends at t=45; with noLeaderMs 600 a clock
    // running on to 45 + 1000 would call the cluster leaderless. The end of a capture is not silence.
    const r = replayJson([capture('silence.jsonl', { thresholds: { noLeaderMs: 600, lagMs: 600, stallMs: 600 } }, oldTermCommitAtEnd())]);
    expect(r.findings.map((f) => f.code)).toEqual(['RG005']);
  });

  it("uses the header's reorderToleranceMs (the live run's) for the end of the capture", () => {
    const r = replayJson([capture('header.jsonl', { thresholds: { reorderToleranceMs: 2500 } }, oldTermCommitAtEnd())]);
    expect(r.findings.map((f) => f.code)).toEqual(['RG005']);
    expect(r.findings[0]!.t).toBeGreaterThan(40 + 2500);
  });

  it('uses the --config reorderToleranceMs over the header one', () => {
    const cfg = join(dir, 'thresholds.yaml');
    writeFileSync(cfg, 'thresholds:\n  reorderToleranceMs: 3s\n');
    const r = replayJson([capture('config.jsonl', { thresholds: { reorderToleranceMs: 200 } }, oldTermCommitAtEnd()), '--config', cfg]);
    expect(r.findings.map((f) => f.code)).toEqual(['RG005']);
    expect(r.findings[0]!.t).toBeGreaterThan(40 + 3000);
  });

  it('trap: the ack that completes the quorum right before the end keeps RG006 silent', () => {
    const events = commitWithoutQuorumAtEnd();
    events[events.length - 1] = ok(15, 'n3', 'n1', 2, 3);
    const r = replayJson([capture('quorum.jsonl', {}, events)]);
    expect(r.findings).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('ReplaySession.finish (shared with the pcap replay) judges the tail with the thresholds in force', () => {
    const header: CaptureHeader = { raftguard: 'capture', version: 1, cluster: 'tail', nodes: ['n1', 'n2', 'n3'], thresholds: { reorderToleranceMs: 200 } };
    const s = new ReplaySession(header, { reorderToleranceMs: 4000 });
    for (const e of oldTermCommitAtEnd()) s.add(e);
    const r = s.finish();
    expect(r.findings.map((f) => f.code)).toEqual(['RG005']);
    expect(r.findings[0]!.t).toBeGreaterThan(40 + 4000);
    expect(r.findings[0]!.t).toBeLessThanOrEqual(45 + 4000 + 1);
  });
});
