// Benchmark: what the relay hop costs by itself, against the floor of any relay written on Node.
// Clients ping-pong fixed-size messages (330 bytes by default: roughly an etcd MsgApp carrying one
// 256-byte value, an estimate, not a measured size) over loopback to an echo server, on N connections at once: direct; through the
// smallest relay Node allows (`bare-relay-child`: socket.pipe both ways, its own process); and through
// RaftGuard's Relay without a reader (`relay-child --no-reader`, its own process: what `decode: false`
// runs). Rounds alternate the three so machine noise hits all alike. Every message crosses each relay
// twice (there and back); CPU is the relay process's user + system time from /proc around each round.
// The echo server and the clients share this process (one core's worth); each relay has the other core.
// Usage (after `npm run build`): node dist/test/bench/relay.js [--rounds 5] [--seconds 3] [--connections 1,32] [--bytes 330]
// Prints a table and one JSON line per connection count:
//   {"name":"relay","connections":32,"messageBytes":330,"throughputRatio":…,"floorThroughputRatio":…,"addedP50Ms":…,"addedP99Ms":…,
//    "floorAddedP50Ms":…,"floorAddedP99Ms":…,"cpuUsPerMessage":…,"floorCpuUsPerMessage":…,"cpuRatioToFloor":…,"sysShare":…}
// throughputRatio and added latency are RaftGuard's relay against direct; floor* the bare relay's.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { arg, cpuTimes, pct, stopChildren } from './support.js';

const ROUNDS = Number(arg('rounds', '5'));
const SECONDS = Number(arg('seconds', '3'));
const CONNECTIONS = arg('connections', '1,32').split(',').map(Number);
const BYTES = Number(arg('bytes', '330'));
const WARMUP_MS = 300;
const HOST = '127.0.0.1';

const echo = net.createServer({ noDelay: true }, (s) => {
  s.on('data', (b: Buffer) => s.write(b));
  s.on('error', () => s.destroy());
});
await new Promise<void>((r) => echo.listen(0, HOST, r));
const echoPort = (echo.address() as net.AddressInfo).port;

const children: ChildProcess[] = [];
/** Starts a relay child (`bare-relay-child.js`, or `relay-child.js --no-reader`) in front of the echo server. */
async function startRelay(script: string, ...flags: string[]): Promise<{ port: number; pid: number }> {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const child = spawn(process.execPath, [path, String(echoPort), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${script} exited early with code ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, pid: child.pid! };
}

interface RoundResult {
  trips: number;
  secs: number;
  /** Round-trip latency of each message, ms. */
  lat: number[];
  cpuUser: number;
  cpuSys: number;
}

/** `conns` connections, each sending one message and waiting for its echo before the next, for SECONDS (after a warm-up). */
async function round(port: number, pid: number | undefined, conns: number): Promise<RoundResult> {
  const msg = Buffer.alloc(BYTES, 0x61);
  const lat: number[] = [];
  let measuring = false;
  let stopping = false;
  let trips = 0;
  let cpu0 = { user: 0, sys: 0 };
  let t0 = 0;
  const sockets = await Promise.all(
    Array.from({ length: conns }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: HOST, port, noDelay: true }, () => resolve(s));
      s.once('error', reject);
    })),
  );
  const done = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        let got = 0;
        let sent = performance.now();
        s.on('data', (b: Buffer) => {
          got += b.length;
          while (got >= BYTES) {
            got -= BYTES;
            const now = performance.now();
            if (measuring) {
              trips++;
              lat.push(now - sent);
            }
            if (stopping) {
              resolve();
              return;
            }
            sent = now;
            s.write(msg);
          }
        });
        s.write(msg);
      }),
  );
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  cpu0 = cpuTimes(pid);
  t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuTimes(pid);
  stopping = true;
  await Promise.all(done);
  for (const s of sockets) s.destroy();
  return { trips, secs, lat, cpuUser: cpu1.user - cpu0.user, cpuSys: cpu1.sys - cpu0.sys };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const lines: string[] = [];
try {
  const bare = await startRelay('bare-relay-child.js');
  const relay = await startRelay('relay-child.js', '--no-reader');
  const variants = [
    { name: 'direct', port: echoPort, pid: undefined as number | undefined },
    { name: 'bare Node relay', port: bare.port, pid: bare.pid },
    { name: 'RaftGuard relay', port: relay.port, pid: relay.pid },
  ];
  console.log(`relay hop: ${BYTES}-byte messages ping-ponged to an echo server, ${ROUNDS} alternating rounds × ${SECONDS} s`);
  console.log('connections  variant           round trips/s  p50 ms   p99 ms   relay CPU µs/message  (kernel share)');
  for (const conns of CONNECTIONS) {
    const acc = variants.map(() => ({ trips: 0, secs: 0, lat: [] as number[], cpuUser: 0, cpuSys: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[k]!;
        const res = await round(v.port, v.pid, conns);
        const a = acc[k]!;
        a.trips += res.trips;
        a.secs += res.secs;
        for (const x of res.lat) a.lat.push(x);
        a.cpuUser += res.cpuUser;
        a.cpuSys += res.cpuSys;
      }
    }
    const rows = acc.map((a, k) => {
      const sorted = Float64Array.from(a.lat).sort();
      // Each round trip crosses the relay twice: two messages relayed.
      const cpuUs = a.trips > 0 ? ((a.cpuUser + a.cpuSys) * 1e6) / (2 * a.trips) : NaN;
      return { name: variants[k]!.name, tps: a.trips / a.secs, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), cpuUs, sysShare: a.cpuSys / (a.cpuUser + a.cpuSys) };
    });
    for (const row of rows) {
      console.log(
        `${String(conns).padEnd(12)} ${row.name.padEnd(17)} ${row.tps.toFixed(0).padEnd(14)} ${row.p50.toFixed(3).padEnd(8)} ${row.p99.toFixed(3).padEnd(8)} ${Number.isNaN(row.cpuUs) || row.name === 'direct' ? '—'.padEnd(21) : row.cpuUs.toFixed(2).padEnd(21)} ${row.name === 'direct' ? '' : `(${(row.sysShare * 100).toFixed(0)} %)`}`,
      );
    }
    const [direct, floor, ours] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    lines.push(
      JSON.stringify({
        name: 'relay',
        connections: conns,
        messageBytes: BYTES,
        throughputRatio: r3(ours.tps / direct.tps),
        floorThroughputRatio: r3(floor.tps / direct.tps),
        addedP50Ms: r3(ours.p50 - direct.p50),
        addedP99Ms: r3(ours.p99 - direct.p99),
        floorAddedP50Ms: r3(floor.p50 - direct.p50),
        floorAddedP99Ms: r3(floor.p99 - direct.p99),
        cpuUsPerMessage: r3(ours.cpuUs),
        floorCpuUsPerMessage: r3(floor.cpuUs),
        cpuRatioToFloor: r3(ours.cpuUs / floor.cpuUs),
        sysShare: r3(ours.sysShare),
      }),
    );
  }
} finally {
  await stopChildren(children);
  echo.close();
}
for (const l of lines) console.log(l);
