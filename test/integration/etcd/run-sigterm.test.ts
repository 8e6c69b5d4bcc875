// `raftguard run` in front of a live etcd cluster stops promptly on SIGTERM. etcd members keep
// streaming into connections whose other side has gone (rafthttp's stream writer only notices a
// failed write), so dialed target sockets stay half-open after the relay's FIN; close() must still
// end every socket it owns, or the process never exits while the members run.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../../src/demo/cluster.js';
import { EtcdCluster, etcdAvailability } from './harness.js';
import { buildAll } from '../refcluster/build.js';

const availability = etcdAvailability();
if (!availability.ok && process.env['CI'] === 'true') throw new Error(`etcd tests need etcd under CI=true: ${availability.reason}`);

const REPO = resolve(__dirname, '../../..');
const BIN = join(REPO, 'bin', 'raftguard.js');
let cluster: EtcdCluster | undefined;
let proc: ChildProcess | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  // The CLI runs from dist/ (npm test builds first; this covers running this file alone, and never
  // rewrites dist/ under other workers' spawned processes).
  await buildAll();
}, 120_000);
afterEach(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  proc = undefined;
  await cluster?.stop();
  cluster = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!availability.ok)('raftguard run in front of etcd', () => {
  it('exits with code 0 within 2 s of SIGTERM while the members keep running and streaming', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-etcd-sigterm-'));
    dirs.push(dir);
    const lines: Array<Record<string, unknown>> = [];
    let stderr = '';
    cluster = await EtcdCluster.start({
      interpose: async (members) => {
        const listen: Record<string, number> = {};
        for (const m of members) listen[m.name] = await freePort();
        const yaml = [
          'cluster: sigterm-test',
          'dialect: etcd',
          'members:',
          ...members.map((m) => `  - { id: ${m.name}, listen: "127.0.0.1:${listen[m.name]}", target: "127.0.0.1:${m.peerPort}" }`),
          'admin:',
          '  listen: 127.0.0.1:0',
        ].join('\n');
        writeFileSync(join(dir, 'rg.yaml'), yaml);
        const p = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'rg.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
        proc = p;
        p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        await new Promise<void>((ready, fail) => {
          p.once('exit', (code) => fail(new Error(`raftguard run exited ${code} before starting: ${stderr}`)));
          createInterface({ input: p.stdout! }).on('line', (l) => {
            try {
              const j = JSON.parse(l) as Record<string, unknown>;
              lines.push(j);
              if (j['event'] === 'started') ready();
            } catch {
              /* not a log line */
            }
          });
        });
        return listen;
      },
    });
    // Traffic through raftguard: a leader, a few writes, every member's streams attached.
    for (let i = 0; i < 5; i++) await cluster.etcdctl(['put', `k${i}`, 'v']);
    await new Promise((r) => setTimeout(r, 500));

    const p = proc!;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => p.once('exit', (code, signal) => r({ code, signal })));
    const t0 = Date.now();
    p.kill('SIGTERM');
    const result = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000))]);
    const ms = Date.now() - t0;
    expect(result, `raftguard run still running 5 s after SIGTERM; stderr: ${stderr}`).not.toBe('timeout');
    expect(result).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(2000);
    expect(lines.some((j) => j['event'] === 'stopped')).toBe(true);
    // The members were running (and connected through raftguard) the whole time.
    for (const m of cluster.members) expect(m.proc?.exitCode, m.name).toBeNull();
  }, 90_000);
});
