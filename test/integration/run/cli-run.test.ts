// `raftguard run --config FILE` as users run it: its own process, a YAML config, the reference
// cluster's peers dialling its listeners; `raftguard status` against its admin API; a clean stop on
// SIGTERM that flushes the capture; and start-up errors reported with exit code 2.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ReferenceCluster, freePort } from '../../../src/demo/cluster.js';
import { until } from '../../../src/demo/scenarios.js';
import { statusCommand } from '../../../src/cli/status.js';
import { replayFile } from '../../../src/cli/replay.js';
import { buildAll, buildDemo } from '../refcluster/build.js';

const REPO = resolve(__dirname, '../../..');
const BIN = join(REPO, 'bin', 'raftguard.js');
let cluster: ReferenceCluster | undefined;
let proc: ChildProcess | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  await buildDemo();
  // The CLI runs from dist/: make sure the whole tree is built (npm test builds first; this covers
  // running this file alone).
  await buildAll();
}, 120_000);
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  proc = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('raftguard run (CLI process)', () => {
  it('fronts a cluster from a YAML config, serves status, and stops cleanly on SIGTERM with the capture flushed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-cli-'));
    dirs.push(dir);
    const admin = await freePort();
    const listen: Record<string, number> = { n1: await freePort(), n2: await freePort(), n3: await freePort() };
    const lines: Array<Record<string, unknown>> = [];
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));

    cluster = await ReferenceCluster.start({
      heartbeatMs: 100,
      electionMinMs: 400,
      electionMaxMs: 700,
      noopOnElection: true,
      interpose: async (members) => {
        const yaml = [
          'cluster: cli-test',
          'dialect: grpc',
          'grpc:',
          `  proto: ${join(REPO, 'proto', 'raft.proto')}`,
          'members:',
          ...members.map((m) => `  - { id: ${m.id}, listen: "127.0.0.1:${listen[m.id]}", target: "${m.peerAddress}" }`),
          'capture:',
          `  path: ${join(dir, 'cap.jsonl')}`,
          'admin:',
          `  listen: 127.0.0.1:${admin}`,
        ].join('\n');
        writeFileSync(join(dir, 'rg.yaml'), yaml);
        proc = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'rg.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
        createInterface({ input: proc.stdout! }).on('line', (l) => {
          try {
            const j = JSON.parse(l) as Record<string, unknown>;
            lines.push(j);
            if (j.event === 'started') started();
          } catch {
            /* not a log line */
          }
        });
        await ready;
        return Object.fromEntries(members.map((m) => [m.id, `127.0.0.1:${listen[m.id]}`]));
      },
    });
    const leader = await cluster.waitForLeader(10_000);
    for (let i = 0; i < 3; i++) await cluster.put(`k${i}`, 'v');
    await until('RaftGuard to see the leader', async () => {
      const r = await fetch(`http://127.0.0.1:${admin}/api/cluster`);
      const j = (await r.json()) as { leader?: { id: string; commit: number } };
      return j.leader?.id === leader && j.leader.commit >= 3 ? j : undefined;
    });

    let out = '';
    const code = await statusCommand(['--url', `http://127.0.0.1:${admin}`], { out: (s) => (out += s), err: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`cluster cli-test: term \\d+, leader ${leader}`));
    expect(out).toMatch(new RegExp(`\\n\\s+${leader}\\s+leader\\s+\\d+`));
    expect(out).toContain('findings (0)');

    const exited = new Promise<number | null>((r) => proc!.once('exit', (c) => r(c)));
    proc!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.some((l) => l.event === 'stopped')).toBe(true);
    expect(lines.some((l) => l.event === 'leader_change' && l.leader === leader)).toBe(true);

    const replay = await replayFile(join(dir, 'cap.jsonl'));
    expect(replay.header.cluster).toBe('cli-test');
    expect(replay.summary.terms.some((t) => t.leader === leader)).toBe(true);
    expect(replay.summary.commit.last).toBeGreaterThanOrEqual(3);
  });

  it('reports every config problem at once and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-cli-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'bad.yaml'), 'cluster: x\ndialect: grpc\ngrpc:\n  proto: missing.proto\nmembers:\n  - { id: a, listen: nowhere, target: "127.0.0.1:1" }\n');
    const r = spawnSync(process.execPath, [BIN, 'run', '--config', join(dir, 'bad.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:4: grpc\.proto: no such file/);
    expect(r.stderr).toMatch(/bad\.yaml:6: members\[0\]\.listen: expected host:port/);
  });

  it('rejects a .proto that does not parse, naming the file and line, and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-cli-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'broken.proto'), 'syntax = "proto3";\nmessage A {\n  uint64 term = ;\n}\n');
    writeFileSync(join(dir, 'rg.yaml'), `cluster: x\ndialect: grpc\ngrpc:\n  proto: broken.proto\nmembers:\n  - { id: a, listen: "127.0.0.1:0", target: "127.0.0.1:1" }\nadmin:\n  listen: 127.0.0.1:0\n`);
    const r = spawnSync(process.execPath, [BIN, 'run', '--config', join(dir, 'rg.yaml')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/broken\.proto/);
    expect(r.stderr).toMatch(/line 3|:3/);
  });
});
