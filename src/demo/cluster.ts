// ReferenceCluster: starts reference Raft nodes (node-main.js) as child processes on free loopback
// ports, and drives them for tests and the demo: kill/restart members, find the leader, read each
// member's own Status, and Put with leader redirect. stop() kills only the processes it started and
// removes the temp data directories it created.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { findRepoRoot, loadDemoRoot, serviceDefinition } from './protos.js';
import type { RaftNodeOptions } from './raft-node.js';

export interface MemberStatus {
  id: string;
  term: number;
  role: 'leader' | 'candidate' | 'follower';
  leader: string;
  last_index: number;
  last_term: number;
  commit_index: number;
  applied_index: number;
  voted_for: string;
}

/** The node's timing and bug switches, passed to every member. */
type MemberSwitches = Pick<RaftNodeOptions, 'electionMinMs' | 'electionMaxMs' | 'heartbeatMs' | 'noopOnElection' | 'persistVote' | 'commitOldTermByCounting' | 'preVote' | 'holdPutPrefix'>;

export interface ReferenceClusterOptions extends MemberSwitches {
  ids?: string[];
  /**
   * The peer-address rewrite: called once, after the members' ports are chosen and before any of them
   * starts, with each member's real peer address; returns the address the others dial to reach each
   * member (e.g. a RaftGuard listener forwarding to the real one). Members left out are dialled directly.
   */
  interpose?: (members: ReadonlyArray<{ id: string; peerAddress: string }>) => Promise<Record<string, string>> | Record<string, string>;
  /** Path of the compiled node-main.js; default <repo>/dist/src/demo/node-main.js. */
  nodeScript?: string;
  /** How long to wait for a process to print its ready line. */
  startTimeoutMs?: number;
}

export interface Member {
  id: string;
  peerAddress: string;
  clientAddress: string;
  dataDir: string;
  process?: ChildProcess;
  /** stdout lines after "ready" (role changes, client requests received), bounded; since the last (re)start. */
  events: Record<string, unknown>[];
}

const MAX_EVENTS = 200;

export class ReferenceCluster {
  readonly members = new Map<string, Member>();
  private readonly kvDef = serviceDefinition(loadDemoRoot(), 'raft.v1.KV');
  private readonly clients = new Map<string, grpc.Client>();
  private readonly baseDir: string;
  private lastLeader: string | undefined;
  private dialAddresses: Record<string, string> = {};

  private constructor(private readonly opts: ReferenceClusterOptions) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'raftguard-refcluster-'));
  }

  static async start(opts: ReferenceClusterOptions = {}): Promise<ReferenceCluster> {
    const c = new ReferenceCluster(opts);
    try {
      const ids = opts.ids ?? ['n1', 'n2', 'n3'];
      for (const id of ids) {
        const [pp, cp] = [await freePort(), await freePort()];
        c.members.set(id, {
          id,
          peerAddress: `127.0.0.1:${pp}`,
          clientAddress: `127.0.0.1:${cp}`,
          dataDir: join(c.baseDir, id),
          events: [],
        });
      }
      if (opts.interpose) {
        c.dialAddresses = await opts.interpose([...c.members.values()].map((m) => ({ id: m.id, peerAddress: m.peerAddress })));
      }
      await Promise.all(ids.map((id) => c.spawnMember(id)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${JSON.stringify(id)} (members: ${[...this.members.keys()].join(', ')})`);
    return m;
  }

  private spawnMember(id: string): Promise<void> {
    const m = this.member(id);
    const o = this.opts;
    const script = o.nodeScript ?? join(findRepoRoot(), 'dist', 'src', 'demo', 'node-main.js');
    if (!existsSync(script)) throw new Error(`${script} not found: build first (npx tsc -p tsconfig.json)`);
    const peers = [...this.members.values()]
      .filter((p) => p.id !== id)
      .map((p) => `${p.id}=${this.dialAddresses[p.id] ?? p.peerAddress}`)
      .join(',');
    const args = [script, '--id', id, '--peer-listen', m.peerAddress, '--client-listen', m.clientAddress, '--peers', peers, '--data', m.dataDir];
    if (o.electionMinMs) args.push('--election-min', String(o.electionMinMs));
    if (o.electionMaxMs) args.push('--election-max', String(o.electionMaxMs));
    if (o.heartbeatMs) args.push('--heartbeat', String(o.heartbeatMs));
    if (o.noopOnElection) args.push('--noop-on-election');
    if (o.persistVote === false) args.push('--no-persist-vote');
    if (o.commitOldTermByCounting) args.push('--commit-old-term-by-counting');
    if (o.preVote) args.push('--pre-vote');
    if (o.holdPutPrefix) args.push('--hold-put-prefix', o.holdPutPrefix);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    m.process = child;
    m.events = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`member ${id} did not print its ready line within ${o.startTimeoutMs ?? 10_000} ms; stderr: ${stderr}`));
      }, o.startTimeoutMs ?? 10_000);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`member ${id} exited before ready (code ${code}, signal ${sig}); stderr: ${stderr}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        if (ev.event === 'ready') {
          clearTimeout(timer);
          resolve();
        } else {
          if (m.events.length >= MAX_EVENTS) m.events.shift();
          m.events.push(ev);
        }
      });
    });
  }

  isRunning(id: string): boolean {
    const p = this.member(id).process;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Sends `signal` to the member's process and waits until it has exited. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.member(id);
    const p = m.process;
    this.dropClient(id);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
    m.process = undefined;
  }

  /** Starts the member again on the same ports and data directory. */
  async restart(id: string): Promise<void> {
    if (this.isRunning(id)) await this.kill(id, 'SIGTERM');
    await this.spawnMember(id);
  }

  private client(id: string): grpc.Client {
    let c = this.clients.get(id);
    if (!c) {
      c = new grpc.Client(this.member(id).clientAddress, grpc.credentials.createInsecure(), {
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 300,
      });
      this.clients.set(id, c);
    }
    return c;
  }

  private dropClient(id: string): void {
    this.clients.get(id)?.close();
    this.clients.delete(id);
  }

  private unary<T>(id: string, method: string, req: object, timeoutMs: number): Promise<T> {
    const def = (this.kvDef as unknown as Record<string, grpc.MethodDefinition<object, T>>)[method]!;
    return new Promise((resolve, reject) =>
      this.client(id).makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err || res === undefined ? reject(err ?? new Error('empty response')) : resolve(res),
      ),
    );
  }

  /** The member's own view (KV Status). */
  status(id: string, timeoutMs = 1000): Promise<MemberStatus> {
    return this.unary<MemberStatus>(id, 'Status', {}, timeoutMs);
  }

  /** Statuses of all running members that answer. */
  async statuses(): Promise<MemberStatus[]> {
    const ids = [...this.members.keys()].filter((id) => this.isRunning(id));
    const res = await Promise.all(ids.map((id) => this.status(id, 500).catch(() => undefined)));
    return res.filter((s): s is MemberStatus => !!s);
  }

  /** The running member that says it is leader in the highest term, if any. */
  async leader(): Promise<string | undefined> {
    let best: MemberStatus | undefined;
    for (const s of await this.statuses()) if (s.role === 'leader' && (!best || s.term > best.term)) best = s;
    return best?.id;
  }

  async waitForLeader(timeoutMs = 10_000, exclude?: string): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const l = await this.leader();
      if (l && l !== exclude) return l;
      await sleep(50);
    }
    throw new Error(`no leader${exclude ? ` other than ${exclude}` : ''} within ${timeoutMs} ms`);
  }

  /** Put through the leader, following NOT_LEADER redirects; resolves once committed. */
  async put(key: string, value: string | Buffer, timeoutMs = 10_000): Promise<{ index: number; term: number; leader: string }> {
    const until = Date.now() + timeoutMs;
    let target = this.lastLeader;
    let lastErr: unknown;
    let rr = 0;
    while (Date.now() < until) {
      const ids = [...this.members.keys()].filter((id) => this.isRunning(id));
      if (!target || !this.isRunning(target)) target = ids[rr++ % Math.max(1, ids.length)];
      if (!target) throw new Error('no running members');
      try {
        const res = await this.unary<{ index: number; term: number }>(target, 'Put', { key, value: Buffer.from(value) }, Math.max(100, until - Date.now()));
        this.lastLeader = target;
        return { ...res, leader: target };
      } catch (err) {
        lastErr = err;
        const e = err as grpc.ServiceError;
        const hint = e.metadata?.get('x-raft-leader')[0];
        target = e.code === grpc.status.FAILED_PRECONDITION && hint && String(hint) !== target ? String(hint) : undefined;
        if (!target) await sleep(50);
      }
    }
    throw new Error(`put ${key} did not commit within ${timeoutMs} ms: ${(lastErr as Error)?.message}`);
  }

  async get(id: string, key: string): Promise<Buffer | undefined> {
    const r = await this.unary<{ found: boolean; value: Buffer }>(id, 'Get', { key }, 1000);
    return r.found ? r.value : undefined;
  }

  /** Kills every process this cluster started and removes its data directories. */
  async stop(): Promise<void> {
    for (const id of [...this.clients.keys()]) this.dropClient(id);
    await Promise.all([...this.members.keys()].map((id) => this.kill(id, 'SIGKILL')));
    rmSync(this.baseDir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A port that was free a moment ago, for a process that will bind it a little later. Chosen below the
 * kernel's ephemeral range (ip_local_port_range starts at 32768), so the outgoing connections of
 * everything else running meanwhile cannot take it first; a random pick, checked by binding it.
 */
// Ports come from 20000-31999, below the kernel's ephemeral range, so outgoing connections never take
// one between the check and its use. A port is only checked free, then bound later by someone else
// (an etcd member, a listener): parallel test workers picking at random could hand out the same
// port in that window, so each vitest worker (VITEST_POOL_ID) draws from its own slice of the range,
// and a process never hands out the same port twice.
const PORT_LO = 20000;
const PORT_SPAN = 12000;
const PORT_SLICES = 8;
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  const pool = Number(process.env['VITEST_POOL_ID']);
  const sliced = Number.isInteger(pool) && pool > 0;
  const span = sliced ? PORT_SPAN / PORT_SLICES : PORT_SPAN;
  const lo = sliced ? PORT_LO + ((pool - 1) % PORT_SLICES) * span : PORT_LO;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lo + Math.floor(Math.random() * span);
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) {
      if (handedOut.size > span / 2) handedOut.clear();
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${lo}-${lo + span - 1} after 200 tries`);
}
