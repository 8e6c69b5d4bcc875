// Benchmark: the demo's stall scenario (reference cluster with no no-op on election, behind RaftGuard;
// the leader SIGKILLed right after a commit, so the new leader holds an earlier-term entry it cannot
// commit) over N leader kills, on a passive and an active cluster, alternating kill by kill in one
// process run so machine noise hits both alike. No client writes while a stall is observed.
// Per kill, from the wire (RaftGuard's own events): election = the new leader's first append of its
// term; cleared = its first append whose commit passes the stalled index. Passive never clears on its
// own (counted within the observation window); active is reported as p50/p99 (nearest rank).
// injectionsPerTerm counts the injector's `sent` decisions per stalled (leader, term): must be 1.
// Usage (after `npm run build`): node dist/test/bench/noop.js [--kills 20] [--window 3000]
// Prints a table and a final JSON line:
//   {"name":"noop","kills":20,"clearedP50Ms":…,"clearedP99Ms":…,"injectionsPerTerm":…}
import { startGuardedCluster, type GuardedCluster } from '../../src/demo/guarded.js';
import { converged, killAfterCommit, sleep, until } from '../../src/demo/scenarios.js';
import { DEMO_THRESHOLDS, DEMO_TIMING, demoNoopConfig } from '../../src/cli/demo.js';
import { createLogger } from '../../src/sinks/log.js';
import type { AppendEvent, NoopEvent, RaftEvent } from '../../src/events/types.js';
import { arg, pct } from './support.js';

const KILLS = Number(arg('kills', '20'));
const WINDOW_MS = Number(arg('window', '3000'));

type Mode = 'passive' | 'active';

interface Side {
  mode: Mode;
  g: GuardedCluster;
  /** Appends and noop decisions only (all this needs), in arrival order. */
  events: RaftEvent[];
}

interface Kill {
  mode: Mode;
  leader: string;
  term: number;
  stalledIndex: number;
  /** ms from election to cleared, as seen on the wire; undefined = not within the window. */
  clearedMs?: number;
  /** ms from election to the injection being sent (active). */
  sentMs?: number;
}

async function start(mode: Mode): Promise<Side> {
  const events: RaftEvent[] = [];
  const g = await startGuardedCluster({
    cluster: { ...DEMO_TIMING, noopOnElection: false },
    thresholds: DEMO_THRESHOLDS,
    mode,
    ...(mode === 'active' ? { noop: demoNoopConfig() } : {}),
    log: createLogger('silent'),
    sinks: [{ event: (ev) => void (ev.type === 'append' || ev.type === 'noop' ? events.push(ev) : undefined) }],
  });
  return { mode, g, events };
}

async function oneKill(s: Side): Promise<Kill> {
  const c = s.g.cluster;
  await until('the cluster to converge', () => converged(c, 3), 10_000);
  const { old, leader, put } = await killAfterCommit(c);
  // The new leader's first append of a term above the stalled entry's: the election, on the wire.
  const elected = await until(
    'the new leader on the wire',
    async () => s.events.find((e): e is AppendEvent => e.type === 'append' && e.from === leader && e.term > put.term),
    5000,
  );
  const term = elected.term;
  const clearedEv = () => s.events.find((e): e is AppendEvent => e.type === 'append' && e.from === leader && e.term === term && e.commit >= put.index);
  const deadline = Date.now() + WINDOW_MS - (s.g.running.monitor.t() - elected.t);
  let cleared: AppendEvent | undefined;
  while (!(cleared = clearedEv()) && Date.now() < deadline) await sleep(10);
  const sent = s.events.find((e): e is NoopEvent => e.type === 'noop' && e.result === 'sent' && e.to === leader && e.term === term);
  const k: Kill = { mode: s.mode, leader, term, stalledIndex: put.index };
  if (cleared && cleared.t - elected.t <= WINDOW_MS) k.clearedMs = cleared.t - elected.t;
  if (sent) k.sentMs = sent.t - elected.t;
  // Heal (passive needs the client write the no-op stands for), bring the victim back, converge.
  if (!cleared) await c.put('heal', 'x');
  await c.restart(old);
  return k;
}

/** The p-th percentile (nearest rank) of unsorted samples; undefined when there are none. */
function percentile(xs: number[], p: number): number | undefined {
  return xs.length === 0 ? undefined : pct([...xs].sort((a, b) => a - b), p / 100);
}
const fmt = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(0));

async function main(): Promise<void> {
  const t0 = Date.now();
  const sides: Side[] = [];
  try {
    sides.push(await start('passive'), await start('active'));
    for (const s of sides) await s.g.cluster.waitForLeader(10_000);
    const kills: Kill[] = [];
    for (let i = 0; i < KILLS; i++) {
      for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
        const k = await oneKill(s);
        kills.push(k);
        process.stderr.write(`kill ${i + 1}/${KILLS} ${k.mode.padEnd(7)} ${k.leader} term ${k.term}: ${k.clearedMs === undefined ? `not cleared within ${WINDOW_MS} ms` : `cleared in ${k.clearedMs.toFixed(0)} ms`}\n`);
      }
    }
    await sleep(500); // late noop decisions (a second injection would show here)
    const active = kills.filter((k) => k.mode === 'active');
    const passive = kills.filter((k) => k.mode === 'passive');
    const activeSide = sides.find((s) => s.mode === 'active')!;
    const perTerm = active.map((k) => activeSide.events.filter((e) => e.type === 'noop' && e.result === 'sent' && e.term === k.term).length);
    const passiveSent = sides.find((s) => s.mode === 'passive')!.events.filter((e) => e.type === 'noop').length;
    const activeMs = active.flatMap((k) => (k.clearedMs === undefined ? [] : [k.clearedMs]));
    const sentMs = active.flatMap((k) => (k.sentMs === undefined ? [] : [k.sentMs]));
    const passiveMs = passive.flatMap((k) => (k.clearedMs === undefined ? [] : [k.clearedMs]));

    console.log(`\nbench:noop — demo stall scenario, ${KILLS} leader kills per mode, alternating; window ${WINDOW_MS} ms; total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    console.log('mode     cleared   p50 ms  p99 ms  max ms  injection sent p50 ms  injections/stalled term');
    console.log(`passive  ${`${passiveMs.length}/${passive.length}`.padEnd(8)}  ${fmt(percentile(passiveMs, 50)).padStart(6)}  ${fmt(percentile(passiveMs, 99)).padStart(6)}  ${fmt(percentile(passiveMs, 100)).padStart(6)}  ${'—'.padStart(21)}  ${passiveSent} noop decisions`);
    console.log(
      `active   ${`${activeMs.length}/${active.length}`.padEnd(8)}  ${fmt(percentile(activeMs, 50)).padStart(6)}  ${fmt(percentile(activeMs, 99)).padStart(6)}  ${fmt(percentile(activeMs, 100)).padStart(6)}  ${fmt(percentile(sentMs, 50)).padStart(21)}  ${[...new Set(perTerm)].join(',')} (per term: ${perTerm.join(' ')})`,
    );
    const injectionsPerTerm = perTerm.length ? perTerm.reduce((a, b) => a + b, 0) / perTerm.length : 0;
    const exact = perTerm.every((n) => n === 1) && passiveSent === 0;
    if (!exact) console.log('NOT EXACT: some stalled term got other than one injection (or passive decided something)');
    console.log(
      JSON.stringify({
        name: 'noop',
        kills: KILLS,
        clearedP50Ms: percentile(activeMs, 50) ?? null,
        clearedP99Ms: percentile(activeMs, 99) ?? null,
        injectionsPerTerm,
        activeCleared: activeMs.length,
        passiveCleared: passiveMs.length,
        windowMs: WINDOW_MS,
      }),
    );
    process.exitCode = exact && activeMs.length === active.length ? 0 : 1;
  } finally {
    for (const s of sides) await s.g.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
