// `raftguard replay` keeps V8's old generation near its live heap, so a replay's peak RSS does not
// depend on how long the capture is, and grows the young generation to its maximum in one step
// (src/runtime/heap.ts). Checked by their effect, in fresh processes: after the built CLI's replay
// command has run, a workload with a small flat live set that promotes garbage steadily (what a replay
// does) peaks far lower in old space than in a process that did not replay, each setting has an effect
// of its own, and flags the user gave node are left alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { REPLAY_V8_FLAGS, replayFlagsToSet } from '../../../src/runtime/heap.js';
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
 * iterations that each replace one of 150k small objects (in a young generation still growing from
 * 1 MB, each lives through a few scavenges, is promoted, then dies in old space), with some arithmetic
 * between allocations as a replay's mutator has. Prints the largest old-space use sampled.
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

/** The workload's largest old-space use, MB. */
async function oldSpacePeakMB(replayFirst: boolean, nodeFlags: string[] = []): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--input-type=module', '-e', CHURN], {
    env: { ...process.env, REPLAY_JS, CAPTURE: capture, REPLAY_FIRST: replayFirst ? '1' : '' },
  });
  return (JSON.parse(stdout.trim()) as { oldPeakMB: number }).oldPeakMB;
}

describe('replay heap settings', () => {
  it('keep old space near the live set after a replay, each flag on its own, and flags given to node win', async () => {
    const [plain, growingOnly, youngOnly, userBoth] = await Promise.all([
      oldSpacePeakMB(false),
      // The user keeps V8's young-generation growth: replay sets only the old generation's growing factor.
      oldSpacePeakMB(true, ['--semi-space-growth-factor=2']),
      // The user keeps V8's old-generation growing factor: replay sets only the young generation's growth.
      oldSpacePeakMB(true, ['--heap-growing-percent=0']),
      // The user gives both V8 defaults: replay sets nothing.
      oldSpacePeakMB(true, ['--heap-growing-percent=0', '--semi-space-growth-factor=2']),
    ]);
    // Measured under Node 20 / 26: plain ~55 / ~52 MB; growing factor 2 ~38 / ~36 MB; young generation at
    // full size at once ~12 / ~10 MB (this workload's objects then die young instead of being promoted).
    expect(growingOnly).toBeLessThan(plain * 0.8);
    expect(youngOnly).toBeLessThan(plain * 0.5);
    expect(userBoth).toBeGreaterThan(plain * 0.8);
  }, 60_000);

  it('sets every replay flag the user did not give node, in either spelling', () => {
    const all = REPLAY_V8_FLAGS.map(([name, value]) => `--${name}=${value}`);
    expect(replayFlagsToSet([])).toEqual(all);
    expect(replayFlagsToSet(['--heap-growing-percent=40'])).toEqual(['--semi-space-growth-factor=16']);
    expect(replayFlagsToSet(['--heap_growing_percent', '40', '--semi_space_growth_factor=4'])).toEqual([]);
    // A longer flag that merely starts with the same words is not the user's choice of this one.
    expect(replayFlagsToSet(['--heap-growing-percentage=40', '--expose-gc'])).toEqual(all);
  });
});
