// A real 3-node HashiCorp raft 1.1.2 cluster (test/fixtures/hraft, built here from Debian's Go
// packages, GOPATH mode, offline) behind an in-process `raftguard run` (startRun, dialect hashicorp).
// Each node's raft transport binds its own port but advertises its RaftGuard listener, so every
// peer byte goes node → RaftGuard → node: the peer-address rewrite of DESIGN.md §1. Tears down only
// what it started (its children by handle, its RaftGuard, its temp dir).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunConfig } from '../../../src/config/run-config.js';
import { freePort } from '../../../src/demo/cluster.js';
import type { Finding, RaftEvent } from '../../../src/events/types.js';
import { startRun, type RunningInstance } from '../../../src/runtime/runner.js';
import { createLogger } from '../../../src/sinks/log.js';
import { waitFor } from '../support.js';

const HOST = '127.0.0.1';
const GOPATH = '/usr/share/gocode';
const FIXTURE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../fixtures/hraft');
const NEEDED = ['github.com/hashicorp/raft', 'github.com/hashicorp/raft-boltdb', 'github.com/hashicorp/go-hclog'];

/** Whether Go and the hashicorp raft packages are installed; under CI=true their absence is a failure. */
export function hraftAvailability(): { ok: true } | { ok: false; reason: string } {
  const install = 'install with: apt-get install -y golang-go golang-github-hashicorp-raft-dev golang-github-hashicorp-raft-boltdb-dev';
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, reason: `go not runnable (${r.error?.message ?? `exit ${r.status}`}); ${install}` };
  for (const p of NEEDED) if (!existsSync(join(GOPATH, 'src', p))) return { ok: false, reason: `${GOPATH}/src/${p} missing; ${install}` };
  return { ok: true };
}

let built: string | undefined;
/** Builds the node binary once per test process into a temp dir (about 3 s, no network). */
export function buildHraft(): string {
  if (built && existsSync(built)) return built;
  const dir = mkdtempSync(join(tmpdir(), 'raftguard-hraft-bin-'));
  const out = join(dir, 'hraft');
  const cache = join(tmpdir(), 'raftguard-hraft-gocache');
  mkdirSync(cache, { recursive: true });
  const r = spawnSync('go', ['build', '-o', out, '.'], {
    cwd: FIXTURE,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: cache, GOFLAGS: '', GOPROXY: 'off', CGO_ENABLED: '0' },
  });
  if (r.status !== 0) throw new Error(`go build of ${FIXTURE} failed (exit ${r.status}): ${r.stderr}`);
  built = out;
  return out;
}

export interface HraftNode {
  id: string;
  /** The raft transport's real listener. */
  bindPort: number;
  /** The RaftGuard listener in front of it: what the node advertises and peers dial. */
  advPort: number;
  httpPort: number;
  dataDir: string;
  logFile: string;
  proc?: ChildProcess;
}

export interface HraftStatus {
  id: string;
  state: string;
  term: number;
  commit: number;
  last_index: number;
  applied: number;
  snapshot_index: number;
  leader: string;
  fsm_applied: number;
}

export interface HraftClusterOptions {
  trailing?: number;
  hbMs?: number;
}

export class HraftCluster {
  readonly nodes: HraftNode[] = [];
  readonly events: RaftEvent[] = [];
  readonly findings: Finding[] = [];
  run!: RunningInstance;
  private readonly baseDir: string;
  private stopped = false;
  private peers = '';

  private constructor(
    private readonly bin: string,
    private readonly opts: HraftClusterOptions,
  ) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'raftguard-hraft-'));
  }

  static async start(opts: HraftClusterOptions = {}): Promise<HraftCluster> {
    const c = new HraftCluster(buildHraft(), opts);
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private async boot(): Promise<void> {
    for (let k = 1; k <= 3; k++) {
      const id = `n${k}`;
      this.nodes.push({
        id,
        bindPort: await freePort(),
        advPort: await freePort(),
        httpPort: await freePort(),
        dataDir: join(this.baseDir, id),
        logFile: join(this.baseDir, `${id}.log`),
      });
    }
    const cfg: RunConfig = {
      file: join(this.baseDir, 'raftguard.yaml'),
      cluster: 'hraft-test',
      dialect: 'hashicorp',
      members: this.nodes.map((n) => ({ id: n.id, listen: { host: HOST, port: n.advPort }, target: { host: HOST, port: n.bindPort } })),
      thresholds: { electionTimeoutMs: this.opts.hbMs ?? 500 },
      mode: 'passive',
      admin: { listen: { host: HOST, port: 0 } },
      log: { level: 'silent' },
    };
    this.run = await startRun(cfg, {
      log: createLogger('silent'),
      sinks: [{ event: (ev) => void this.events.push(ev), finding: (f) => void this.findings.push(f) }],
    });
    // n1 alone bootstraps: it wins the first election and sends the configuration entry over the wire.
    this.peers = this.nodes.map((n) => `${n.id}=${HOST}:${n.advPort}`).join(',');
    for (const n of this.nodes) this.spawnNode(n);
    await this.waitFor(async () => {
      const st = await this.statuses();
      return st.length === 3 && st.every((s) => s.leader !== '' && s.leader === st[0]!.leader);
    }, 20_000, 'a leader known to every node');
  }

  private spawnNode(n: HraftNode): void {
    const log = openSync(n.logFile, 'a');
    n.proc = spawn(
      this.bin,
      [
        '-id', n.id,
        '-bind', `${HOST}:${n.bindPort}`,
        '-adv', `${HOST}:${n.advPort}`,
        '-http', `${HOST}:${n.httpPort}`,
        '-data', n.dataDir,
        '-hb', `${this.opts.hbMs ?? 500}ms`,
        '-trailing', String(this.opts.trailing ?? 10240),
        ...(n.id === 'n1' ? ['-peers', this.peers] : []),
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
  }

  node(id: string): HraftNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Node id of the member behind an advertised address. */
  idOfAddress(addr: string): string | undefined {
    return this.nodes.find((n) => `${HOST}:${n.advPort}` === addr)?.id;
  }

  private running(n: HraftNode): boolean {
    return !!n.proc && n.proc.exitCode === null && n.proc.signalCode === null;
  }

  async http(id: string, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://${HOST}:${this.node(id).httpPort}${path}`, { method, body, signal: AbortSignal.timeout(8000) });
    return { status: res.status, text: await res.text() };
  }

  async status(id: string): Promise<HraftStatus> {
    const r = await this.http(id, 'GET', '/status');
    if (r.status !== 200) throw new Error(`${id} /status: ${r.status} ${r.text}`);
    return JSON.parse(r.text) as HraftStatus;
  }

  /** Status of every running node. */
  async statuses(): Promise<HraftStatus[]> {
    return Promise.all(this.nodes.filter((n) => this.running(n)).map((n) => this.status(n.id)));
  }

  async leader(): Promise<string> {
    let id: string | undefined;
    await this.waitFor(async () => {
      const st = await this.statuses();
      id = st.find((s) => s.state === 'Leader')?.id;
      return id !== undefined;
    }, 20_000, 'a leader');
    return id!;
  }

  /** Applies a command on the current leader; returns its log index. */
  async apply(cmd: string): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = await this.http(await this.leader(), 'POST', '/apply', cmd);
      if (r.status === 200) return (JSON.parse(r.text) as { index: number }).index;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`apply ${cmd}: no leader accepted it`);
  }

  /** SIGKILLs one node (our own child, by its handle) and waits for it to exit. */
  async kill(id: string): Promise<void> {
    const p = this.node(id).proc;
    if (!p || !this.running(this.node(id))) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Starts a killed node again on its data dir. */
  restart(id: string): void {
    const n = this.node(id);
    if (this.running(n)) throw new Error(`${id} is still running`);
    this.spawnNode(n);
  }

  async decodeErrors(): Promise<string[]> {
    const text = await this.run.metrics.text();
    return text.split('\n').filter((l) => l.startsWith('raftguard_decode_errors_total{'));
  }

  waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    return waitFor(cond, timeoutMs, what, this.baseDir);
  }

  /** Stops the nodes and the RaftGuard this harness started, then removes its temp dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    await this.run?.stop();
    if (!process.env['RAFTGUARD_KEEP_HRAFT']) rmSync(this.baseDir, { recursive: true, force: true });
  }
}
