// A real 3-member etcd 3.4 cluster on loopback with a RaftGuard Relay in front of every member's
// peer port: the peer-address rewrite of DESIGN.md §1. Each member listens for peers on its own port
// but advertises the relay's address (--initial-advertise-peer-urls / --initial-cluster), so every
// peer byte goes member → relay → member, and the relay hands a copy to the tap under test.
// Flags follow shared/research/etcd34-cluster.sh. Tears down only what it started.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Relay } from '../../../proxy/relay.js';
import { freePort } from '../../../src/demo/cluster.js';
import type { TapFactory } from '../../../proxy/tap.js';
import { waitFor } from '../support.js';

const HOST = '127.0.0.1';

/** Whether etcd and etcdctl are installed; under CI=true their absence is a failure, not a skip. */
export function etcdAvailability(): { ok: true } | { ok: false; reason: string } {
  for (const [bin, arg] of [['etcd', '--version'], ['etcdctl', 'version']] as const) {
    const r = spawnSync(bin, [arg], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      return { ok: false, reason: `${bin} not runnable (${r.error?.message ?? `exit ${r.status}`}); install with: apt-get install -y etcd-server etcd-client` };
    }
  }
  return { ok: true };
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** Where etcd really listens for peers. */
  peerPort: number;
  /** The harness's relay in front of it (absent when `interpose` put something else there). */
  relay?: Relay;
  /** The advertised peer port: the relay's, or the one `interpose` returned. */
  relayPort: number;
  dataDir: string;
  logFile: string;
  proc?: ChildProcess;
}

export interface EndpointStatus {
  endpoint: string;
  /** Hex IDs, exact (parsed from the raw JSON digits, never through a JS number). */
  memberId: string;
  leader: string;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
}

export interface EtcdClusterOptions {
  size?: number;
  /** Tap factory per member name (one shared factory is fine). */
  tapFactory?: (member: string) => TapFactory | undefined;
  extraArgs?: string[];
  token?: string;
  /**
   * Something else fronts the peer ports (e.g. `raftguard run` in its own process): given each
   * member's real peer port, resolves with the port it must advertise. No harness relays then.
   */
  interpose?: (members: { name: string; peerPort: number }[]) => Promise<Record<string, number>>;
}

/** Quotes the decimal uint64 values of the named JSON keys so JSON.parse keeps them exact. */
export function quoteJsonIds(text: string, keys: string[]): string {
  const re = new RegExp(`("(?:${keys.join('|')})"\\s*:\\s*)([0-9]+)`, 'g');
  return text.replace(re, '$1"$2"');
}

const hexOf = (decimal: unknown): string => BigInt(String(decimal)).toString(16);

export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly baseDir: string;
  private stopped = false;

  private constructor(private readonly opts: EtcdClusterOptions) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'raftguard-etcd-'));
  }

  static async start(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster(opts);
    try {
      await c.boot();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  get endpoints(): string {
    return this.members.map((m) => m.clientUrl).join(',');
  }

  /** Client URLs of every member but the named ones. */
  endpointsExcept(...names: string[]): string {
    return this.members.filter((m) => !names.includes(m.name)).map((m) => m.clientUrl).join(',');
  }

  private async boot(): Promise<void> {
    const size = this.opts.size ?? 3;
    for (let k = 1; k <= size; k++) {
      const name = `m${k}`;
      const peerPort = await freePort();
      const clientPort = await freePort();
      let relay: Relay | undefined;
      let relayPort = 0;
      if (!this.opts.interpose) {
        relay = new Relay({ member: name, listen: { host: HOST, port: 0 }, target: { host: HOST, port: peerPort }, tapFactory: this.opts.tapFactory?.(name), closeGraceMs: 200 });
        relayPort = (await relay.start()).port;
      }
      this.members.push({
        name,
        clientUrl: `http://${HOST}:${clientPort}`,
        peerPort,
        relay,
        relayPort,
        dataDir: join(this.baseDir, `${name}.etcd`),
        logFile: join(this.baseDir, `${name}.log`),
      });
    }
    if (this.opts.interpose) {
      const ports = await this.opts.interpose(this.members.map((m) => ({ name: m.name, peerPort: m.peerPort })));
      for (const m of this.members) {
        const port = ports[m.name];
        if (!port) throw new Error(`interpose returned no port for ${m.name}`);
        m.relayPort = port;
      }
    }
    const token = this.opts.token ?? `raftguard-${process.pid}-${Date.now()}`; // one token: it feeds the member and cluster IDs
    this.initialCluster = this.members.map((m) => `${m.name}=http://${HOST}:${m.relayPort}`).join(',');
    this.token = token;
    for (const m of this.members) this.spawnMember(m);
    await this.waitFor(async () => (await this.status()).every((s) => s.leader !== '0'), 15_000, 'a leader known to every member');
  }

  private initialCluster = '';
  private token = '';

  private spawnMember(m: EtcdMember): void {
    const env = { ...process.env };
    for (const v of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy']) delete env[v];
    const log = openSync(m.logFile, 'a');
    m.proc = spawn(
      'etcd',
      [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', `http://${HOST}:${m.peerPort}`,
        '--initial-advertise-peer-urls', `http://${HOST}:${m.relayPort}`,
        '--initial-cluster', this.initialCluster,
        '--initial-cluster-token', this.token,
        '--initial-cluster-state', 'new', // ignored once the data dir exists (restart)
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        ...(this.opts.extraArgs ?? []),
      ],
      { env, stdio: ['ignore', log, log] },
    );
    closeSync(log);
  }

  /**
   * Cuts every connection made to a member's peer port, as a partition would: its relay stops
   * forwarding in both directions and holds the sockets open (Relay.cut()), so the member and its
   * peers see silence, never a close or a reset. In rafthttp terms (fact sheet §1) that silences the
   * member's outgoing streams (peers dial it to receive them) and the pipeline POSTs sent to it; since
   * its streams stay attached, it keeps writing into them instead of falling back to the pipeline,
   * and a leader cut this way loses its followers: check-quorum steps it down and the others elect.
   * The connections the member dials itself (to receive its peers' streams) are not cut.
   * `heal` resumes forwarding: held bytes flow on, connections made during the cut reach the member.
   */
  async cutInbound(name: string): Promise<void> {
    this.relayOf(name).cut();
  }

  async heal(name: string): Promise<void> {
    this.relayOf(name).heal();
  }

  relayOf(name: string): Relay {
    const r = this.member(name).relay;
    if (!r) throw new Error(`${name} has no harness relay (the cluster was started with interpose)`);
    return r;
  }

  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** SIGKILLs one member (our own child, by its handle) and waits for it to exit. */
  async kill(name: string): Promise<void> {
    const p = this.member(name).proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Starts a killed member again on its existing data dir. */
  restart(name: string): void {
    const m = this.member(name);
    if (m.proc && m.proc.exitCode === null && m.proc.signalCode === null) throw new Error(`${name} is still running`);
    this.spawnMember(m);
  }

  /** Runs etcdctl against the cluster's client URLs; resolves with stdout. */
  etcdctl(args: string[], endpoints = this.endpoints): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn('etcdctl', ['--endpoints', endpoints, '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`etcdctl ${args.join(' ')} exited ${code}: ${err.trim()}`))));
    });
  }

  /** `etcdctl endpoint status -w json`, IDs kept exact. */
  async status(endpoints = this.endpoints): Promise<EndpointStatus[]> {
    const raw = await this.etcdctl(['endpoint', 'status', '-w', 'json'], endpoints);
    const doc = JSON.parse(quoteJsonIds(raw, ['cluster_id', 'member_id', 'leader'])) as {
      Endpoint: string;
      Status: { header: { member_id: string }; leader: string; raftTerm: number; raftIndex: number; raftAppliedIndex: number };
    }[];
    return doc.map((d) => ({
      endpoint: d.Endpoint,
      memberId: hexOf(d.Status.header.member_id),
      leader: hexOf(d.Status.leader),
      raftTerm: d.Status.raftTerm,
      raftIndex: d.Status.raftIndex,
      raftAppliedIndex: d.Status.raftAppliedIndex,
    }));
  }

  /** hex member ID → name, from `etcdctl member list -w json` (IDs kept exact). */
  async memberNames(): Promise<Map<string, string>> {
    const raw = await this.etcdctl(['member', 'list', '-w', 'json']);
    const doc = JSON.parse(quoteJsonIds(raw, ['cluster_id', 'member_id', 'ID'])) as { members: { ID: string; name: string }[] };
    return new Map(doc.members.map((m) => [hexOf(m.ID), m.name]));
  }

  waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    return waitFor(cond, timeoutMs, what, this.baseDir);
  }

  /** Stops the members and relays this harness started, then removes its temp dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      this.members.map(async (m) => {
        const p = m.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGKILL'); // our own child, by its handle; a clean stop would only start leader transfers
        await exited;
      }),
    );
    await Promise.all(this.members.map((m) => m.relay?.close()));
    if (!process.env['RAFTGUARD_KEEP_ETCD']) rmSync(this.baseDir, { recursive: true, force: true });
  }
}
