// Benchmark: etcd puts (256-byte values) from 1 and 32 concurrent clients, on a 3-member etcd cluster
// whose peers talk directly vs a second 3-member cluster whose peers talk through RaftGuard
// (`raftguard run`, its own process, etcd dialect decoding every message). Rounds alternate between
// the two clusters so machine noise hits both alike. Clients use etcd's v3 JSON gateway
// (POST /v3/kv/put) on the leader with keep-alive connections; latency is measured per put.
// Usage (after `npm run build`): node dist/test/bench/etcd.js [--rounds 3] [--seconds 4] [--clients 1,32]
// Prints a table and one JSON line per client count:
//   {"name":"etcd-proxy","clients":32,"throughputRatio":…,"addedP50Ms":…,"addedP99Ms":…}
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/demo/cluster.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const ROUNDS = Number(arg('rounds', '3'));
const SECONDS = Number(arg('seconds', '4'));
const CLIENTS = arg('clients', '1,32').split(',').map(Number);
const HOST = '127.0.0.1';
const BIN = fileURLToPath(new URL('../../../bin/raftguard.js', import.meta.url));

if (spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench:etcd needs etcd: apt-get install -y etcd-server etcd-client');
  process.exit(2);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const procs: ChildProcess[] = [];
const dirs: string[] = [];

interface Cluster {
  name: string;
  clientUrls: string[];
  leaderUrl: string;
}

function post(url: string, body: string, agent?: http.Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startCluster(name: string, viaRaftGuard: boolean): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `rg-bench-etcd-${name}-`));
  dirs.push(dir);
  const members: Array<{ name: string; peer: number; client: number; advertised: number }> = [];
  for (let k = 1; k <= 3; k++) {
    members.push({ name: `${name}${k}`, peer: await freePort(), client: await freePort(), advertised: viaRaftGuard ? await freePort() : 0 });
  }
  if (viaRaftGuard) {
    const admin = await freePort();
    const yaml = [
      `cluster: ${name}`,
      'dialect: etcd',
      'members:',
      ...members.map((m) => `  - { id: ${m.name}, listen: "${HOST}:${m.advertised}", target: "${HOST}:${m.peer}" }`),
      'admin:',
      `  listen: ${HOST}:${admin}`,
      'log:',
      '  level: warn',
    ].join('\n');
    writeFileSync(join(dir, 'raftguard.yaml'), yaml);
    const rg = spawn(process.execPath, [BIN, 'run', '--config', join(dir, 'raftguard.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push(rg);
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) => http.get(`http://${HOST}:${admin}/healthz`, (res) => r(res.statusCode === 200)).on('error', () => r(false)));
      if (ok) break;
      await sleep(100);
    }
  }
  const peerUrl = (m: (typeof members)[number]): string => `http://${HOST}:${viaRaftGuard ? m.advertised : m.peer}`;
  const initial = members.map((m) => `${m.name}=${peerUrl(m)}`).join(',');
  for (const m of members) {
    const env = { ...process.env };
    for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete env[v];
    procs.push(
      spawn(
        'etcd',
        [
          '--name', m.name,
          '--data-dir', join(dir, m.name),
          '--listen-client-urls', `http://${HOST}:${m.client}`,
          '--advertise-client-urls', `http://${HOST}:${m.client}`,
          '--listen-peer-urls', `http://${HOST}:${m.peer}`,
          '--initial-advertise-peer-urls', peerUrl(m),
          '--initial-cluster', initial,
          '--initial-cluster-token', `bench-${name}-${process.pid}`,
          '--initial-cluster-state', 'new',
          '--log-level', 'error',
        ],
        { env, stdio: 'ignore' },
      ),
    );
  }
  const clientUrls = members.map((m) => `http://${HOST}:${m.client}`);
  for (let i = 0; i < 150; i++) {
    for (const u of clientUrls) {
      try {
        const r = await post(`${u}/v3/maintenance/status`, '{}');
        const j = JSON.parse(r.text) as { leader?: string; header?: { member_id?: string } };
        if (j.leader && j.leader !== '0' && j.header?.member_id === j.leader) return { name, clientUrls, leaderUrl: u };
      } catch {
        /* not up yet */
      }
    }
    await sleep(100);
  }
  throw new Error(`etcd cluster ${name} elected no leader in 15 s`);
}

const VALUE = Buffer.alloc(256, 7).toString('base64');

async function round(c: Cluster, clients: number, seconds: number): Promise<{ calls: number; secs: number; lat: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const lat: number[] = [];
  let calls = 0;
  let measuring = false;
  let stop = false;
  let seq = 0;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const key = Buffer.from(`bench-${seq++ % 10000}`).toString('base64');
      const t0 = process.hrtime.bigint();
      const r = await post(`${c.leaderUrl}/v3/kv/put`, `{"key":"${key}","value":"${VALUE}"}`, agent);
      if (r.status !== 200) throw new Error(`put answered ${r.status}: ${r.text}`);
      if (measuring) {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        calls++;
      }
    }
  };
  const workers = Array.from({ length: clients }, worker);
  await sleep(500); // warm-up
  measuring = true;
  const start = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const secs = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  return { calls, secs, lat };
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

try {
  const direct = await startCluster('direct', false);
  const guarded = await startCluster('guarded', true);
  const results: string[] = [];
  console.log(`etcd puts, 256-byte values, ${ROUNDS} alternating rounds × ${SECONDS} s per variant`);
  for (const clients of CLIENTS) {
    const agg = { direct: { calls: 0, secs: 0, lat: [] as number[] }, guarded: { calls: 0, secs: 0, lat: [] as number[] } };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [k, c] of [['direct', direct], ['guarded', guarded]] as const) {
        const x = await round(c, clients, SECONDS);
        agg[k].calls += x.calls;
        agg[k].secs += x.secs;
        for (const v of x.lat) agg[k].lat.push(v);
      }
    }
    const d = agg.direct;
    const g = agg.guarded;
    d.lat.sort((a, b) => a - b);
    g.lat.sort((a, b) => a - b);
    const dTp = d.calls / d.secs;
    const gTp = g.calls / g.secs;
    console.log(`\nclients ${clients}`);
    console.log('variant             puts/s   p50 ms   p99 ms');
    console.log(`direct           ${dTp.toFixed(0).padStart(9)} ${pct(d.lat, 0.5).toFixed(3).padStart(8)} ${pct(d.lat, 0.99).toFixed(3).padStart(8)}`);
    console.log(`through RaftGuard${gTp.toFixed(0).padStart(9)} ${pct(g.lat, 0.5).toFixed(3).padStart(8)} ${pct(g.lat, 0.99).toFixed(3).padStart(8)}`);
    results.push(
      JSON.stringify({
        name: 'etcd-proxy',
        clients,
        throughputRatio: Math.round((gTp / dTp) * 1000) / 1000,
        addedP50Ms: Math.round((pct(g.lat, 0.5) - pct(d.lat, 0.5)) * 1000) / 1000,
        addedP99Ms: Math.round((pct(g.lat, 0.99) - pct(d.lat, 0.99)) * 1000) / 1000,
        directPutsPerSec: Math.round(dTp),
      }),
    );
  }
  console.log('');
  for (const r of results) console.log(r);
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await sleep(200);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
