// The reference Raft node behind `raftguard demo`: a small, readable Raft (leader election, log
// replication, commit, optional PreVote and TimeoutNow) speaking proto/raft.proto over gRPC, with a
// KV client API (proto/kv.proto). It is a test target: small and correct, not fast.
//
// Switches for classic bugs (so RaftGuard has something real to find):
// - noopOnElection (default OFF): a correct Raft appends a no-op when elected. Without it a new leader
//   cannot commit entries left from earlier terms (Raft §5.4.2) until a client write arrives: the stall.
// - persistVote (default on): off = votedFor is not written to disk, so a restarted node may vote twice.
// - commitOldTermByCounting (default off): on = the leader commits earlier-term entries once a majority
//   holds them (the Figure 8 bug).
//
// Persistence: <data>/state.json {term, votedFor} and <data>/log.json, each written to a temp file and
// renamed into place (atomic on POSIX, deliberately no fsync). Followers learn a new commit index on
// the next AppendEntries (heartbeat), like most implementations.

import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadDemoRoot, serviceDefinition } from './protos.js';

export type EntryTypeName = 'NORMAL' | 'NOOP' | 'CONFIG';

export interface LogEntry {
  index: number;
  term: number;
  type: EntryTypeName;
  data: Buffer;
}

export type Role = 'follower' | 'candidate' | 'leader';

export interface RaftNodeOptions {
  id: string;
  /** host:port the peer (Raft) server listens on; port 0 = pick one. */
  peerListen: string;
  /** host:port the KV client API listens on; port 0 = pick one. */
  clientListen: string;
  /** Peer id -> address to dial (may be a RaftGuard listener in front of that peer). */
  peers: Record<string, string>;
  dataDir: string;
  electionMinMs?: number;
  electionMaxMs?: number;
  heartbeatMs?: number;
  noopOnElection?: boolean;
  persistVote?: boolean;
  commitOldTermByCounting?: boolean;
  preVote?: boolean;
  /** How long Put waits for its entry to commit. */
  putTimeoutMs?: number;
  /** Most entries per AppendEntries. */
  maxBatch?: number;
  /**
   * Test hook: a Put whose key starts with this is accepted and then held, never answered nor
   * appended, so a client request stays in flight (to kill the node under it). Empty = off.
   */
  holdPutPrefix?: string;
  /** Called on role/term changes (node-main prints these as JSON lines). */
  onEvent?: (e: Record<string, unknown>) => void;
}

interface PendingPut {
  term: number;
  done: (err: Error | null, res?: { index: number; term: number }) => void;
  timer: NodeJS.Timeout;
}

interface Wire {
  [k: string]: unknown;
}

const SENTINEL: LogEntry = { index: 0, term: 0, type: 'NOOP', data: Buffer.alloc(0) };

export class RaftNode {
  readonly id: string;
  private readonly opt: Required<Omit<RaftNodeOptions, 'onEvent'>> & Pick<RaftNodeOptions, 'onEvent'>;
  private readonly peerIds: string[];
  private readonly clients = new Map<string, grpc.Client>();
  private readonly raftDef = serviceDefinition(loadDemoRoot(), 'raft.v1.Raft');
  private readonly kvDef = serviceDefinition(loadDemoRoot(), 'raft.v1.KV');
  private peerServer?: grpc.Server;
  private clientServer?: grpc.Server;

  // Persistent state.
  private term = 0;
  private votedFor: string | null = null;
  private log: LogEntry[] = [SENTINEL];
  // Volatile state.
  private role: Role = 'follower';
  private leader: string | undefined;
  private commit = 0;
  private applied = 0;
  private readonly kv = new Map<string, Buffer>();
  private lastLeaderContact = 0;
  private electionTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private readonly nextIndex = new Map<string, number>();
  private readonly matchIndex = new Map<string, number>();
  private readonly inflight = new Set<string>();
  private readonly pending = new Map<number, PendingPut>();
  private stopped = false;

  constructor(options: RaftNodeOptions) {
    this.id = options.id;
    this.opt = {
      electionMinMs: 300,
      electionMaxMs: 600,
      heartbeatMs: 75,
      noopOnElection: false,
      persistVote: true,
      commitOldTermByCounting: false,
      preVote: false,
      putTimeoutMs: 5000,
      maxBatch: 64,
      holdPutPrefix: '',
      ...options,
    };
    if (this.opt.heartbeatMs >= this.opt.electionMinMs) {
      throw new Error(`heartbeat (${this.opt.heartbeatMs} ms) must be below the election timeout (${this.opt.electionMinMs} ms)`);
    }
    this.peerIds = Object.keys(options.peers).filter((p) => p !== this.id);
  }

  /** Loads persistent state, binds both servers, starts the election timer. */
  async start(): Promise<{ peerAddress: string; clientAddress: string }> {
    this.loadState();
    const channelOptions = {
      // Reconnect quickly after a peer restarts (grpc-js defaults back off up to 120 s).
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 300,
      'grpc.min_reconnect_backoff_ms': 50,
    };
    for (const p of this.peerIds) {
      this.clients.set(p, new grpc.Client(this.opt.peers[p]!, grpc.credentials.createInsecure(), channelOptions));
    }
    this.peerServer = new grpc.Server();
    this.peerServer.addService(this.raftDef, {
      AppendEntries: this.unaryHandler((req) => this.handleAppend(req)),
      RequestVote: this.unaryHandler((req) => this.handleVote(req)),
      InstallSnapshot: this.unaryHandler(() => ({ term: this.term })),
      TimeoutNow: this.unaryHandler((req) => this.handleTimeoutNow(req)),
    });
    this.clientServer = new grpc.Server();
    this.clientServer.addService(this.kvDef, {
      Put: (call: grpc.ServerUnaryCall<Wire, Wire>, cb: grpc.sendUnaryData<Wire>) => this.handlePut(call.request, cb),
      Get: this.unaryHandler((req) => {
        const v = this.kv.get(String(req.key));
        return { found: v !== undefined, value: v ?? Buffer.alloc(0), applied_index: this.applied };
      }),
      Status: this.unaryHandler(() => this.status()),
    });
    const peerPort = await bind(this.peerServer, this.opt.peerListen);
    const clientPort = await bind(this.clientServer, this.opt.clientListen);
    this.resetElectionTimer();
    return {
      peerAddress: `${hostOf(this.opt.peerListen)}:${peerPort}`,
      clientAddress: `${hostOf(this.opt.clientListen)}:${clientPort}`,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.electionTimer);
    clearInterval(this.heartbeatTimer);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const c of this.clients.values()) c.close();
    await Promise.all([this.peerServer, this.clientServer].map((s) => (s ? new Promise<void>((r) => s.tryShutdown(() => r())) : undefined)));
  }

  status(): Record<string, unknown> {
    return {
      id: this.id,
      term: this.term,
      role: this.role,
      leader: this.leader ?? '',
      last_index: this.lastIndex(),
      last_term: this.lastTerm(),
      commit_index: this.commit,
      applied_index: this.applied,
      voted_for: this.votedFor ?? '',
    };
  }

  // ---- persistence -------------------------------------------------------------------------------

  private loadState(): void {
    mkdirSync(this.opt.dataDir, { recursive: true });
    const statePath = join(this.opt.dataDir, 'state.json');
    if (existsSync(statePath)) {
      const s = JSON.parse(readFileSync(statePath, 'utf8')) as { term: number; votedFor: string | null };
      this.term = s.term;
      this.votedFor = s.votedFor;
    }
    const logPath = join(this.opt.dataDir, 'log.json');
    if (existsSync(logPath)) {
      const rows = JSON.parse(readFileSync(logPath, 'utf8')) as [number, EntryTypeName, string][];
      this.log = [SENTINEL, ...rows.map(([term, type, data], i) => ({ index: i + 1, term, type, data: Buffer.from(data, 'base64') }))];
    }
  }

  private persistState(): void {
    atomicWrite(join(this.opt.dataDir, 'state.json'), JSON.stringify({ term: this.term, votedFor: this.opt.persistVote ? this.votedFor : null }));
  }

  private persistLog(): void {
    const rows = this.log.slice(1).map((e) => [e.term, e.type, e.data.toString('base64')]);
    atomicWrite(join(this.opt.dataDir, 'log.json'), JSON.stringify(rows));
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private lastIndex(): number {
    return this.log.length - 1;
  }
  private lastTerm(): number {
    return this.log[this.log.length - 1]!.term;
  }
  private majority(): number {
    return Math.floor((this.peerIds.length + 1) / 2) + 1;
  }
  private emit(e: Record<string, unknown>): void {
    this.opt.onEvent?.({ id: this.id, term: this.term, ...e });
  }

  private unaryHandler(fn: (req: Wire) => Wire) {
    return (call: grpc.ServerUnaryCall<Wire, Wire>, cb: grpc.sendUnaryData<Wire>) => {
      try {
        cb(null, fn(call.request));
      } catch (err) {
        cb({ code: grpc.status.INTERNAL, details: (err as Error).message });
      }
    };
  }

  private call(peer: string, method: string, req: Wire): Promise<Wire> {
    const client = this.clients.get(peer)!;
    const def = (this.raftDef as unknown as Record<string, grpc.MethodDefinition<Wire, Wire>>)[method]!;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + this.opt.electionMinMs },
        (err, res) => (err || !res ? reject(err ?? new Error('empty response')) : resolve(res)),
      );
    });
  }

  private resetElectionTimer(): void {
    clearTimeout(this.electionTimer);
    if (this.stopped) return;
    const span = this.opt.electionMaxMs - this.opt.electionMinMs;
    this.electionTimer = setTimeout(() => this.onElectionTimeout(), this.opt.electionMinMs + Math.random() * span);
  }

  /** Adopts a higher term (or a leader of the current one) and becomes follower. */
  private becomeFollower(term: number, leader?: string): void {
    const wasLeader = this.role === 'leader';
    if (term > this.term) {
      this.term = term;
      this.votedFor = null;
      this.persistState();
    }
    if (this.role !== 'follower' || this.leader !== leader) {
      this.role = 'follower';
      this.leader = leader;
      this.emit({ event: 'follower', leader: leader ?? '' });
    }
    if (wasLeader) clearInterval(this.heartbeatTimer);
    this.resetElectionTimer();
  }

  // ---- elections ---------------------------------------------------------------------------------

  private onElectionTimeout(): void {
    if (this.stopped || this.role === 'leader') return;
    if (this.opt.preVote) void this.campaign(true);
    else void this.campaign(false);
  }

  private async campaign(pre: boolean): Promise<void> {
    this.resetElectionTimer(); // a failed round times out into the next one
    let term: number;
    if (pre) {
      term = this.term + 1;
    } else {
      this.term += 1;
      term = this.term;
      this.votedFor = this.id;
      this.role = 'candidate';
      this.leader = undefined;
      this.persistState();
      this.emit({ event: 'candidate' });
    }
    const startTerm = this.term;
    let votes = 1;
    let won = false;
    const req = { term, candidate_id: this.id, last_log_index: this.lastIndex(), last_log_term: this.lastTerm(), pre_vote: pre };
    const onWin = () => {
      if (won) return;
      won = true;
      if (pre) void this.campaign(false);
      else this.becomeLeader();
    };
    if (votes >= this.majority()) return onWin();
    await Promise.all(
      this.peerIds.map(async (p) => {
        let res: Wire;
        try {
          res = await this.call(p, 'RequestVote', req);
        } catch {
          return;
        }
        const resTerm = Number(res.term);
        if (resTerm > this.term) return this.becomeFollower(resTerm);
        if (this.term !== startTerm || (!pre && this.role !== 'candidate') || this.role === 'leader') return;
        if (res.vote_granted) {
          votes += 1;
          if (votes >= this.majority()) onWin();
        }
      }),
    );
  }

  private logUpToDate(lastTerm: number, lastIndex: number): boolean {
    return lastTerm > this.lastTerm() || (lastTerm === this.lastTerm() && lastIndex >= this.lastIndex());
  }

  private handleVote(req: Wire): Wire {
    const term = Number(req.term);
    const cand = String(req.candidate_id);
    const upToDate = this.logUpToDate(Number(req.last_log_term), Number(req.last_log_index));
    if (req.pre_vote) {
      // PreVote: no state change. Refuse while a leader is heard from (leader stickiness).
      const leaderRecent = this.role === 'leader' || Date.now() - this.lastLeaderContact < this.opt.electionMinMs;
      return { term: this.term, vote_granted: term > this.term && upToDate && !leaderRecent };
    }
    if (term < this.term) return { term: this.term, vote_granted: false };
    if (term > this.term) this.becomeFollower(term);
    let granted = false;
    if ((this.votedFor === null || this.votedFor === cand) && upToDate) {
      granted = true;
      if (this.votedFor !== cand) {
        this.votedFor = cand;
        this.persistState();
      }
      this.resetElectionTimer();
    }
    return { term: this.term, vote_granted: granted };
  }

  private handleTimeoutNow(req: Wire): Wire {
    if (Number(req.term) >= this.term && this.role !== 'leader') {
      setImmediate(() => void this.campaign(false));
    }
    return { term: this.term };
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.leader = this.id;
    clearTimeout(this.electionTimer);
    for (const p of this.peerIds) {
      this.nextIndex.set(p, this.lastIndex() + 1);
      this.matchIndex.set(p, 0);
    }
    this.emit({ event: 'leader' });
    if (this.opt.noopOnElection) this.appendLocal('NOOP', Buffer.alloc(0));
    this.broadcast();
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.broadcast(), this.opt.heartbeatMs);
  }

  // ---- replication -------------------------------------------------------------------------------

  private appendLocal(type: EntryTypeName, data: Buffer): LogEntry {
    const e: LogEntry = { index: this.lastIndex() + 1, term: this.term, type, data };
    this.log.push(e);
    this.persistLog();
    this.advanceCommit(); // a single-node cluster commits at once
    return e;
  }

  private broadcast(): void {
    for (const p of this.peerIds) void this.replicate(p);
  }

  private async replicate(peer: string): Promise<void> {
    if (this.role !== 'leader' || this.inflight.has(peer) || this.stopped) return;
    this.inflight.add(peer);
    const term = this.term;
    const next = Math.min(this.nextIndex.get(peer) ?? 1, this.lastIndex() + 1);
    const prev = next - 1;
    const entries = this.log.slice(next, next + this.opt.maxBatch);
    const req = {
      term,
      leader_id: this.id,
      prev_log_index: prev,
      prev_log_term: this.log[prev]!.term,
      entries: entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
      leader_commit: this.commit,
    };
    let res: Wire;
    try {
      res = await this.call(peer, 'AppendEntries', req);
    } catch {
      this.inflight.delete(peer);
      return;
    }
    this.inflight.delete(peer);
    const resTerm = Number(res.term);
    if (resTerm > this.term) return this.becomeFollower(resTerm);
    if (this.role !== 'leader' || this.term !== term) return;
    if (res.success) {
      const match = prev + entries.length;
      if (match > (this.matchIndex.get(peer) ?? 0)) this.matchIndex.set(peer, match);
      this.nextIndex.set(peer, match + 1);
      this.advanceCommit();
    } else {
      const hint = Number(res.conflict_index);
      this.nextIndex.set(peer, Math.max(1, hint > 0 ? Math.min(hint, prev) : prev));
    }
    if ((this.nextIndex.get(peer) ?? 1) <= this.lastIndex()) void this.replicate(peer);
  }

  private advanceCommit(): void {
    if (this.role !== 'leader') return;
    for (let n = this.lastIndex(); n > this.commit; n--) {
      // Raft §5.4.2: only entries of the leader's own term are committed by counting replicas.
      if (!this.opt.commitOldTermByCounting && this.log[n]!.term !== this.term) continue;
      let count = 1;
      for (const p of this.peerIds) if ((this.matchIndex.get(p) ?? 0) >= n) count++;
      if (count >= this.majority()) {
        this.commit = n;
        this.apply();
        return;
      }
    }
  }

  private handleAppend(req: Wire): Wire {
    const term = Number(req.term);
    if (term < this.term) return { term: this.term, success: false };
    this.becomeFollower(term, String(req.leader_id));
    this.lastLeaderContact = Date.now();
    const prev = Number(req.prev_log_index);
    const prevTerm = Number(req.prev_log_term);
    if (prev > this.lastIndex()) return { term: this.term, success: false, conflict_index: this.lastIndex() + 1 };
    if (this.log[prev]!.term !== prevTerm) {
      const badTerm = this.log[prev]!.term;
      let first = prev;
      while (first > 1 && this.log[first - 1]!.term === badTerm) first--;
      return { term: this.term, success: false, conflict_index: first };
    }
    const entries = (req.entries as Wire[]) ?? [];
    let changed = false;
    for (const w of entries) {
      const e: LogEntry = { index: Number(w.index), term: Number(w.term), type: w.type as EntryTypeName, data: Buffer.from(w.data as Buffer) };
      if (e.index <= this.lastIndex()) {
        if (this.log[e.index]!.term === e.term) continue;
        if (e.index <= this.commit) throw new Error(`refusing to overwrite committed entry ${e.index}`);
        this.truncateFrom(e.index);
      }
      if (e.index !== this.lastIndex() + 1) throw new Error(`entry ${e.index} does not follow ${this.lastIndex()}`);
      this.log.push(e);
      changed = true;
    }
    if (changed) this.persistLog();
    const match = prev + entries.length;
    const leaderCommit = Number(req.leader_commit);
    const newCommit = Math.min(leaderCommit, match);
    if (newCommit > this.commit) {
      this.commit = newCommit;
      this.apply();
    }
    return { term: this.term, success: true, match_index: match };
  }

  private truncateFrom(index: number): void {
    this.log.length = index;
    for (const [i, p] of this.pending) {
      if (i >= index) {
        clearTimeout(p.timer);
        this.pending.delete(i);
        p.done(Object.assign(new Error('entry lost in a leader change'), { code: grpc.status.UNAVAILABLE }));
      }
    }
  }

  private apply(): void {
    while (this.applied < this.commit) {
      this.applied += 1;
      const e = this.log[this.applied]!;
      if (e.type === 'NORMAL' && e.data.length > 0) {
        const cmd = JSON.parse(e.data.toString('utf8')) as { k: string; v: string };
        this.kv.set(cmd.k, Buffer.from(cmd.v, 'base64'));
      }
      const p = this.pending.get(e.index);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(e.index);
        if (p.term === e.term) p.done(null, { index: e.index, term: e.term });
        else p.done(Object.assign(new Error('entry lost in a leader change'), { code: grpc.status.UNAVAILABLE }));
      }
    }
  }

  // ---- client API --------------------------------------------------------------------------------

  private handlePut(req: Wire, cb: grpc.sendUnaryData<Wire>): void {
    // Every client request this node received, in its own log (what tests check "who got what" on).
    this.emit({ event: 'client_put', key: String(req.key), role: this.role });
    if (this.opt.holdPutPrefix && String(req.key).startsWith(this.opt.holdPutPrefix)) return;
    if (this.role !== 'leader') {
      const md = new grpc.Metadata();
      if (this.leader) md.set('x-raft-leader', this.leader);
      cb({ code: grpc.status.FAILED_PRECONDITION, details: this.leader ? `NOT_LEADER leader=${this.leader}` : 'NOT_LEADER', metadata: md });
      return;
    }
    const data = Buffer.from(JSON.stringify({ k: String(req.key), v: Buffer.from(req.value as Buffer).toString('base64') }));
    const e = this.appendLocal('NORMAL', data);
    if (this.applied >= e.index) {
      cb(null, { index: e.index, term: e.term });
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(e.index);
      cb({ code: grpc.status.DEADLINE_EXCEEDED, details: `entry ${e.index} not committed within ${this.opt.putTimeoutMs} ms` });
    }, this.opt.putTimeoutMs);
    this.pending.set(e.index, {
      term: e.term,
      timer,
      done: (err, res) => (err ? cb(err as grpc.ServiceError) : cb(null, res as unknown as Wire)),
    });
    this.broadcast();
  }
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function hostOf(addr: string): string {
  const i = addr.lastIndexOf(':');
  return i < 0 ? addr : addr.slice(0, i);
}

function bind(server: grpc.Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(new Error(`cannot listen on ${addr}: ${err.message}`)) : resolve(port))),
  );
}
