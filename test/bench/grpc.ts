// Benchmark: AppendEntries-shaped unary gRPC calls (8 entries x 1 KiB, raw Buffers with identity
// serializers) direct to a @grpc/grpc-js server in its own process vs through the relay, also in its own process,
// with the HTTP/2 reader on (and, for reference, without it). Variants alternate round by round so
// machine noise hits all of them alike.
// Usage (after `npm run build`): node dist/test/bench/grpc.js [--rounds 5] [--seconds 3] [--concurrency 1,16]
// Prints a table and one JSON line per concurrency:
//   {"name":"grpc-proxy","concurrency":16,"throughputRatio":…,"addedP50Ms":…,"addedP99Ms":…}
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { arg, pct, stopChildren } from './support.js';

const ROUNDS = Number(arg('rounds', '5'));
const SECONDS = Number(arg('seconds', '3'));
const CONCURRENCY = arg('concurrency', '1,16').split(',').map(Number);
const WARMUP_MS = 300;

const id = (b: Buffer): Buffer => b;
const service = {
  AppendEntries: {
    path: '/raft.Raft/AppendEntries',
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
} as unknown as grpc.ServiceDefinition;

/** 8 entries of 1 KiB each, with a small header, like a batched AppendEntries. */
function appendEntriesPayload(seq: number): Buffer {
  const b = Buffer.alloc(64 + 8 * 1024, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}
const RESPONSE = Buffer.alloc(24, 1);

async function serve(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(service, {
    AppendEntries: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, RESPONSE),
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { server, port };
}

/**
 * The gRPC server runs in its own process, like a real Raft member: direct = client process →
 * server process; through RaftGuard = client → relay process → server process.
 */
async function startServer(): Promise<{ server: { tryShutdown(cb: () => void): void }; port: number }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    rl.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`server child exited early with code ${code}`)));
  });
  return {
    port,
    server: {
      tryShutdown(cb) {
        child.once('exit', () => cb());
        child.kill('SIGTERM');
      },
    },
  };
}

if (process.argv.includes('--serve')) {
  const { port } = await serve();
  process.stdout.write(JSON.stringify({ port }) + '\n');
  process.on('SIGTERM', () => process.exit(0));
  await new Promise(() => {});
}

async function startRelayChild(targetPort: number, reader: boolean): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./relay-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(targetPort), ...(reader ? [] : ['--no-reader'])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    rl.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`relay-child exited early with code ${code}`)));
  });
  return { child, port };
}

interface RoundResult {
  calls: number;
  seconds: number;
  latenciesMs: number[];
}

async function runRound(client: grpc.Client, concurrency: number): Promise<RoundResult> {
  const latencies: number[] = [];
  let calls = 0;
  let measuring = false;
  let stop = false;
  let seq = 0;
  const call = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      (client as unknown as Record<string, Function>).AppendEntries(appendEntriesPayload(seq++), (err: Error | null) => {
        if (err) return reject(err);
        if (measuring) {
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
          calls++;
        }
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (!stop) await call();
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  stop = true;
  await Promise.all(workers);
  return { calls, seconds, latenciesMs: latencies };
}

interface Summary {
  callsPerSec: number;
  p50: number;
  p99: number;
}
function summarize(rounds: RoundResult[]): Summary {
  const calls = rounds.reduce((a, r) => a + r.calls, 0);
  const secs = rounds.reduce((a, r) => a + r.seconds, 0);
  const lat = rounds.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  return { callsPerSec: calls / secs, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

const children: ChildProcess[] = [];
const killChildren = (): void => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.on('exit', killChildren);

const { server, port: serverPort } = await startServer();
const withReader = await startRelayChild(serverPort, true);
const relayOnly = await startRelayChild(serverPort, false);
children.push(withReader.child, relayOnly.child);

const variants = [
  { name: 'direct', port: serverPort },
  { name: 'relay+reader', port: withReader.port },
  { name: 'relay only', port: relayOnly.port },
];
const clients = variants.map((v) => new grpc.Client(`127.0.0.1:${v.port}`, grpc.credentials.createInsecure()));
const Ctor = grpc.makeGenericClientConstructor(service, 'Raft');
const stubs = variants.map((v) => new Ctor(`127.0.0.1:${v.port}`, grpc.credentials.createInsecure()));
for (const c of clients) c.close();

const lines: string[] = [];
for (const concurrency of CONCURRENCY) {
  const results: RoundResult[][] = variants.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    // rotate the order each round so no variant always runs first
    for (let k = 0; k < variants.length; k++) {
      const v = (round + k) % variants.length;
      results[v]!.push(await runRound(stubs[v]!, concurrency));
    }
  }
  const s = results.map(summarize);
  const direct = s[0]!;
  console.log(`\nconcurrency ${concurrency}: ${ROUNDS} rounds x ${SECONDS}s per variant, payload ${64 + 8 * 1024} B`);
  console.log('variant        calls/s    ratio   p50 ms   p99 ms   +p50 ms  +p99 ms');
  s.forEach((x, i) => {
    console.log(
      `${variants[i]!.name.padEnd(13)} ${x.callsPerSec.toFixed(0).padStart(8)} ${(x.callsPerSec / direct.callsPerSec).toFixed(3).padStart(7)} ${x.p50.toFixed(3).padStart(8)} ${x.p99.toFixed(3).padStart(8)} ${(x.p50 - direct.p50).toFixed(3).padStart(9)} ${(x.p99 - direct.p99).toFixed(3).padStart(8)}`,
    );
  });
  const r = s[1]!;
  const ro = s[2]!;
  lines.push(
    JSON.stringify({
      name: 'grpc-proxy',
      concurrency,
      throughputRatio: +(r.callsPerSec / direct.callsPerSec).toFixed(3),
      addedP50Ms: +(r.p50 - direct.p50).toFixed(3),
      addedP99Ms: +(r.p99 - direct.p99).toFixed(3),
      relayOnlyThroughputRatio: +(ro.callsPerSec / direct.callsPerSec).toFixed(3),
      relayOnlyAddedP50Ms: +(ro.p50 - direct.p50).toFixed(3),
      directCallsPerSec: Math.round(direct.callsPerSec),
    }),
  );
}
for (const s of stubs) s.close();
await stopChildren(children);
await new Promise<void>((r) => server.tryShutdown(() => r()));
console.log('');
for (const l of lines) console.log(l);
