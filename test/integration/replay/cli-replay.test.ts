// `raftguard replay FILE` as users run it: its own process, captures written by the simulator, the
// human report and --json, exit codes 0 / 1 / 2, --fail-on, and bad input named by file, line and field.
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeSimCapture } from '../../../src/sim/index.js';
import type { Finding } from '../../../src/events/types.js';
import { buildAll } from '../refcluster/build.js';

const REPO = resolve(__dirname, '../../..');
const BIN = join(REPO, 'bin', 'raftguard.js');
let dir = '';

function replay(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, 'replay', ...args], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function jsonLines(out: string): { findings: Finding[]; summary: Record<string, unknown> } {
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.pop()!;
  expect(last).toHaveProperty('summary');
  for (const f of lines) expect(f).toHaveProperty('code');
  return { findings: lines as unknown as Finding[], summary: last.summary as Record<string, unknown> };
}

// Seeds chosen from the property test's table: a correct 5-member run with crashes and partitions,
// and the Figure 8 bug manifesting (ground truth says so).
const CORRECT = { seed: 11, nodes: 5, noopOnElection: false, preVote: true } as const;
const FIGURE8 = { seed: 7, nodes: 5, bug: 'commitOldTermByCounting', noopOnElection: false, preVote: true } as const;

beforeAll(async () => {
  // The CLI runs from dist/: make sure the whole tree is built (npm test builds first; this covers
  // running this file alone).
  await buildAll();
  dir = mkdtempSync(join(tmpdir(), 'rg-replay-'));
  await writeSimCapture(CORRECT, join(dir, 'correct.jsonl'));
  await writeSimCapture(FIGURE8, join(dir, 'figure8.jsonl'));
}, 120_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('raftguard replay', () => {
  it('a correct execution: exit 0, the summary (leaders, election → own-term commit, commit propagation) and no critical finding', () => {
    const r = replay(join(dir, 'correct.jsonl'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^RaftGuard replay — cluster "sim", members n1, n2, n3, n4, n5/);
    expect(r.out).toMatch(/\nLeaders\n  term\s+leader\s+from\s+led for\s+commit\s+election → own-term commit\n/);
    expect(r.out).toMatch(/Election → first own-term commit: p50 [\d.]+ m?s, p99 /);
    expect(r.out).toMatch(/Commit propagation \(leader advertises commit → follower told\)\n  follower\s+commits\s+p50\s+p99\s+max\n  n\d\s+\d+/);
    expect(r.out).toMatch(/Findings: 0 critical, \d+ warning, \d+ info/);
  });

  it('the Figure 8 bug: exit 1, RG005 in the CRITICAL group with its rule, recommendation and evidence', () => {
    const r = replay(join(dir, 'figure8.jsonl'));
    expect(r.code).toBe(1);
    const crit = r.out.slice(r.out.indexOf('\nCRITICAL\n'));
    expect(r.out).toContain('\nCRITICAL\n');
    expect(crit).toMatch(/ {2}RG005 previous-term-commit at [\d.]+ m?s, term \d+, nodes n\d/);
    expect(crit).toMatch(/→ The implementation counts replicas of old-term entries/);
    expect(crit).toMatch(/· .*advances commit to \d+; its log holds entry \d+ with term \d+ < \d+ {2}\[append n\d→n\d term \d+ at /);
  });

  it('--json: one finding per line and a summary object last; the exit code follows --fail-on', () => {
    const crit = replay(join(dir, 'figure8.jsonl'), '--json');
    expect(crit.code).toBe(1);
    const a = jsonLines(crit.out);
    const rg5 = a.findings.find((f) => f.code === 'RG005')!;
    expect(rg5.severity).toBe('critical');
    expect(rg5.evidence.some((e) => e.event?.type === 'append')).toBe(true);
    expect(a.summary).toMatchObject({ cluster: 'sim', skippedLines: 0 });

    const ok = replay(join(dir, 'correct.jsonl'), '--json');
    const b = jsonLines(ok.out);
    expect(b.findings.filter((f) => f.severity === 'critical')).toEqual([]);
    const warnings = b.findings.filter((f) => f.severity === 'warning').length;
    expect(replay(join(dir, 'correct.jsonl'), '--json', '--fail-on', 'warning').code).toBe(warnings > 0 ? 1 : 0);
    expect(replay(join(dir, 'correct.jsonl'), '--json', '--fail-on', 'info').code).toBe(b.findings.length > 0 ? 1 : 0);
  });

  it('bad lines are named by file, line and field, skipped and counted; the rest is judged', () => {
    const f = join(dir, 'bad.jsonl');
    const lines = readFileSync(join(dir, 'correct.jsonl'), 'utf8').trim().split('\n');
    const events = lines.length - 1;
    lines.splice(10, 0, '{"type":"append","t":5,"from":"n1"'); // line 11: truncated JSON
    lines.splice(20, 0, '{"type":"append","t":6,"from":"n1","to":"n2","term":"two","prevIndex":0,"prevTerm":0,"entries":[],"commit":0}'); // line 21
    lines.splice(30, 0, '{"type":"bogus","t":7,"from":"n1","to":"n2","term":1}'); // line 31
    writeFileSync(f, lines.join('\n') + '\n');
    const r = replay(f, '--json');
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${f}:11: `);
    expect(r.err).toMatch(new RegExp(`${f}:21: .*"term"`));
    expect(r.err).toMatch(new RegExp(`${f}:31: .*"type"`));
    expect(r.err).toContain('skipped 3 bad line(s)');
    const { summary } = jsonLines(r.out);
    expect(summary.skippedLines).toBe(3);
    expect(summary.events).toBe(events); // every good event line judged, the 3 bad ones skipped
  });

  it('events for a node missing from the header, and timestamps going backwards, are reported and still judged', () => {
    const f = join(dir, 'odd.jsonl');
    const lines = readFileSync(join(dir, 'correct.jsonl'), 'utf8').trim().split('\n').slice(0, 501);
    writeFileSync(f, lines.join('\n') + '\n');
    appendFileSync(f, JSON.stringify({ type: 'vote', t: 1, from: 'n9', to: 'n1', term: 99, lastIndex: 0, lastTerm: 0, pre: true }) + '\n');
    const r = replay(f, '--json');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/n9/);
    expect(r.err).toMatch(/1 event\(s\) earlier than an event before them \(up to \d+ ms back\)/);
    const { summary } = jsonLines(r.out);
    expect(summary.events).toBe(501);
    expect(summary.outOfOrder).toBe(1);
  });

  it('unusable input or arguments exit 2 with a message that says what was expected', () => {
    const missing = replay(join(dir, 'nope.jsonl'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.jsonl/);
    const noHeader = join(dir, 'noheader.jsonl');
    writeFileSync(noHeader, '{"type":"append","t":0}\n');
    const h = replay(noHeader);
    expect(h.code).toBe(2);
    expect(h.err).toMatch(/noheader\.jsonl:1: .*header/);
    const v2 = join(dir, 'v2.jsonl');
    writeFileSync(v2, '{"raftguard":"capture","version":2,"cluster":"x","nodes":["a"]}\n');
    expect(replay(v2).code).toBe(2);
    const bad = replay(join(dir, 'correct.jsonl'), '--fail-on', 'sometimes');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--fail-on: expected critical, warning or info/);
    expect(replay().code).toBe(2);
  });
});
