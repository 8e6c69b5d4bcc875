// The README's first command: `npm start` runs `raftguard demo`. As a user would run it: its own
// process, from dist/, to completion; it must show the stall (RG010), its recommendation, the clearing
// write, and stop everything it started.
import { describe, expect, it, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { buildAll } from '../refcluster/build.js';

const REPO = resolve(__dirname, '../../..');

beforeAll(async () => {
  await buildAll();
}, 120_000);

describe('raftguard demo', () => {
  it('plays the stall scenario end to end and exits 0', async () => {
    const child = spawn(process.execPath, [join(REPO, 'bin', 'raftguard.js'), 'demo', '--admin-port', '0'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, out).toBe(0);
    expect(out).toMatch(/WARNING RG010 previous-term-commit-stall/);
    expect(out).toMatch(/append a no-op entry on election/);
    expect(out).toMatch(/the stall cleared/);
    expect(out).toMatch(/raised 0 critical, [1-9]\d* warning/);
  }, 90_000);
});
