// Runs one reference Raft node as a process. Prints one JSON line when ready:
//   {"event":"ready","id":"n1","peer":"127.0.0.1:P","client":"127.0.0.1:C","pid":123}
// then one JSON line per role change. SIGTERM/SIGINT stop it cleanly; SIGKILL is the crash test.
//
// node dist/src/demo/node-main.js --id n1 --peer-listen 127.0.0.1:P --client-listen 127.0.0.1:C \
//   --peers n2=127.0.0.1:X,n3=127.0.0.1:Y --data DIR [--election-min 300] [--election-max 600]
//   [--heartbeat 75] [--noop-on-election] [--no-persist-vote] [--commit-old-term-by-counting] [--pre-vote]
//   [--hold-put-prefix P]   (test hook: Puts with keys starting with P are held unanswered)

import { RaftNode, type RaftNodeOptions } from './raft-node.js';

const FLAGS = new Set(['--noop-on-election', '--no-persist-vote', '--commit-old-term-by-counting', '--pre-vote']);
const VALUED = new Set(['--id', '--peer-listen', '--client-listen', '--peers', '--data', '--election-min', '--election-max', '--heartbeat', '--put-timeout', '--hold-put-prefix']);

export function parseNodeArgs(argv: string[]): RaftNodeOptions {
  const v = new Map<string, string>();
  const f = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (FLAGS.has(a)) f.add(a);
    else if (VALUED.has(a)) {
      const val = argv[++i];
      if (val === undefined) throw new Error(`argument ${a} needs a value`);
      v.set(a, val);
    } else throw new Error(`unknown argument ${JSON.stringify(a)} (expected one of ${[...VALUED, ...FLAGS].join(' ')})`);
  }
  for (const req of ['--id', '--peer-listen', '--client-listen', '--data']) {
    if (!v.has(req)) throw new Error(`missing required argument ${req}`);
  }
  const peers: Record<string, string> = {};
  for (const part of (v.get('--peers') ?? '').split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`--peers: expected id=host:port, got ${JSON.stringify(part)}`);
    peers[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const num = (k: string): number | undefined => {
    const s = v.get(k);
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${k}: expected a positive number of milliseconds, got ${JSON.stringify(s)}`);
    return n;
  };
  const opts: RaftNodeOptions = {
    id: v.get('--id')!,
    peerListen: v.get('--peer-listen')!,
    clientListen: v.get('--client-listen')!,
    peers,
    dataDir: v.get('--data')!,
    noopOnElection: f.has('--noop-on-election'),
    persistVote: !f.has('--no-persist-vote'),
    commitOldTermByCounting: f.has('--commit-old-term-by-counting'),
    preVote: f.has('--pre-vote'),
  };
  if (v.has('--hold-put-prefix')) opts.holdPutPrefix = v.get('--hold-put-prefix')!;
  const em = num('--election-min'), ex = num('--election-max'), hb = num('--heartbeat'), pt = num('--put-timeout');
  if (em !== undefined) opts.electionMinMs = em;
  if (ex !== undefined) opts.electionMaxMs = ex;
  else if (em !== undefined) opts.electionMaxMs = em * 2;
  if (hb !== undefined) opts.heartbeatMs = hb;
  if (pt !== undefined) opts.putTimeoutMs = pt;
  return opts;
}

async function main(): Promise<void> {
  let opts: RaftNodeOptions;
  try {
    opts = parseNodeArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`node-main: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
  const node = new RaftNode({ ...opts, onEvent: (e) => out(e) });
  const { peerAddress, clientAddress } = await node.start();
  out({ event: 'ready', id: opts.id, peer: peerAddress, client: clientAddress, pid: process.pid });
  const shutdown = () => {
    void node.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err) => {
  process.stderr.write(`node-main: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
