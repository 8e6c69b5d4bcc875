// `raftguard replay` keeps V8's old generation near its live heap (src/runtime/heap.ts), so a replay's
// peak RSS does not depend on how long the capture is. Checked by its effect, in fresh processes: after
// the built CLI's replay command has run, a workload with a small flat live set that promotes garbage
// steadily (what a replay does) peaks far lower in old space than the same workload in a process that
// did not replay, and a --heap-growing-percent the user gave node is left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { limitHeapGrowth } from '../../../src/runtime/heap.js';
import { buildAll } from '../../integration/refcluster/build.js';

const REPO = resolve(__dirname, '../../..');
const REPLAY_JS = pathToFileURL(join(REPO, 'dist', 'src', 'cli', 'replay.js')).href;
const dir = mkdtempSync(join(tmpdir(), 'rg-replay-heap-'));
const capture = join(dir, 'tiny.jsonl');

beforeAll(async () => {
  // The child processes load the CLI from dist/ (npm test builds first; this covers running this file alone).
  await buildAll();
  writeFileSync(
    capture,
    [
      { raftguard: 'capture', version: 1, cluster: 'heap', nodes: ['n1', 'n2', 'n3'] },
      { type: 'vote', t: 0, from: 'n1', to: 'n2', term: 2, lastIndex: 0, lastTerm: 0 },
      { type: 'vote_resp', t: 1, from: 'n2', to: 'n1', term: 2, granted: true },
    ]
      .map((x) => JSON.stringify(x))
      .join('\n') + '\n',
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs in a fresh node: optionally `raftguard replay --json` of the tiny capture first, then 4M
 * iterations that each replace one of 150k small objects (each lives through a few scavenges, is
 * promoted, then dies in old space) with some arithmetic between allocations, as a replay's mutator
 * does. Prints the largest old-space use sampled.
 */
const CHURN = `
import v8 from 'node:v8';
if (process.env.REPLAY_FIRST) {
  const { replayCommand } = await import(process.env.REPLAY_JS);
  const code = await replayCommand(['--json', process.env.CAPTURE], { out() {}, err(s) { process.stderr.write(s); } });
  if (code !== 0) throw new Error('replay exited ' + code);
}
const ring = new Array(150000);
let peak = 0, acc = 0;
for (let i = 0; i < 4000000; i++) {
  ring[i % ring.length] = { i, j: i + 1 };
  for (let k = 0; k < 20; k++) acc = (acc * 31 + k + i) | 0;
  if ((i & 8191) === 0) for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'old_space' && s.space_used_size > peak) peak = s.space_used_size;
}
console.log(JSON.stringify({ oldPeakMB: peak / 1048576, acc: acc & 1 }));
`;

async function oldSpacePeakMB(replayFirst: boolean, nodeFlags: string[] = []): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--input-type=module', '-e', CHURN], {
    env: { ...process.env, REPLAY_JS, CAPTURE: capture, REPLAY_FIRST: replayFirst ? '1' : '' },
  });
  return (JSON.parse(stdout.trim()) as { oldPeakMB: number }).oldPeakMB;
}

describe('replay limits heap growth', () => {
  it('keeps old space near the live set after a replay, and leaves a user-given --heap-growing-percent alone', async () => {
    const [plain, afterReplay, userFlag] = await Promise.all([
      oldSpacePeakMB(false),
      oldSpacePeakMB(true),
      oldSpacePeakMB(true, ['--heap-growing-percent=300']),
    ]);
    // Measured under Node 20 and 26: ~50-55 MB by default, ~28-35 MB with factor 2.
    expect(afterReplay).toBeLessThan(plain * 0.8);
    // Factor 4 (the user's) lets old space grow as far as V8's default does here.
    expect(userFlag).toBeGreaterThan(afterReplay * 1.25);
  }, 60_000);

  it('keeps a --heap-growing-percent given to node, and rejects a percent that is not a positive integer', () => {
    expect(limitHeapGrowth(100, ['--heap-growing-percent=40'])).toBeUndefined();
    expect(limitHeapGrowth(100, ['--heap_growing_percent', '40'])).toBeUndefined();
    expect(() => limitHeapGrowth(0, [])).toThrow(/expected a positive integer, got 0/);
    expect(() => limitHeapGrowth(2.5, [])).toThrow(/positive integer/);
  });
});
