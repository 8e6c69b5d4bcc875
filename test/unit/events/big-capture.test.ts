// A 2 GiB capture whose second "line" is 2 GiB of NUL bytes with no newline (a truncated or corrupt
// file, the worst case for a line reader): read in bounded memory, the monster line reported once
// with its number and skipped, the events around it kept. The file is sparse, so it costs no disk.
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCapture, type CaptureProblem } from '../../../src/events/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-big-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a 2 GiB capture', () => {
  it('streams in bounded memory, skips the 2 GiB line with its number, keeps the events around it', async () => {
    const file = join(dir, 'big.jsonl');
    const fd = openSync(file, 'w');
    const header = JSON.stringify({ raftguard: 'capture', version: 1, cluster: 'big', nodes: ['n1', 'n2'] }) + '\n';
    const ev = (t: number) => JSON.stringify({ type: 'heartbeat', t, from: 'n1', to: 'n2', term: 1, commit: 0 }) + '\n';
    writeSync(fd, header + ev(1));
    const start = fstatSync(fd).size;
    const GiB2 = 2 * 1024 ** 3;
    ftruncateSync(fd, start + GiB2); // a hole: reads as NUL bytes, no newline in it
    writeSync(fd, '\n' + ev(2), start + GiB2);
    closeSync(fd);
    expect(fstatSync(openSync(file, 'r')).size).toBeGreaterThan(GiB2);

    const problems: CaptureProblem[] = [];
    const events: number[] = [];
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const timer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
    const r = await readCapture(file, { onEvent: (e) => events.push(e.t), onProblem: (p) => problems.push(p) });
    clearInterval(timer);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);

    expect(events).toEqual([1, 2]);
    expect(r.skippedLines).toBe(1);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.line).toBe(3);
    expect(problems[0]!.message).toMatch(/line longer than \d+ bytes: skipped/);
    // The reader holds at most one read buffer and the 16 MiB line cap, never the line.
    expect((rssMax - rss0) / 1024 ** 2).toBeLessThan(200);
  }, 120_000);
});
