// Active mode against real etcd (which appends its own empty entry on election): the injector with an
// HTTP template for etcd's v3 JSON gateway never fires on its own; asked by hand, it lands on the
// current leader and shows up on the wire as a new entry of the current term.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdTap } from '../../../src/dialects/etcd/index.js';
import { NoopInjector, parseNoopConfig } from '../../../src/actions/noop-injector.js';
import { Monitor } from '../../../src/runtime/monitor.js';
import { MetricsSink } from '../../../src/sinks/metrics.js';
import { createLogger } from '../../../src/sinks/log.js';
import type { AppendEvent, NoopEvent, RaftEvent } from '../../../src/events/types.js';
import { EtcdCluster, etcdAvailability } from './harness.js';

const availability = etcdAvailability();
if (!availability.ok && process.env['CI'] === 'true') throw new Error(`etcd active-mode test needs etcd under CI=true: ${availability.reason}`);

describe.skipIf(!availability.ok)('active mode on a real etcd cluster', () => {
  const runStart = Date.now();
  const events: RaftEvent[] = [];
  const monitor = new Monitor({ cluster: 'etcd', startedAt: runStart, thresholds: { electionTimeoutMs: 1000 } });
  monitor.addSink({ event: (ev) => void events.push(ev) });
  const metrics = new MetricsSink({ cluster: 'etcd', snapshot: () => monitor.snapshot(), defaultMetrics: false });
  let cluster: EtcdCluster;
  let injector: NoopInjector;

  beforeAll(async () => {
    const tap = createEtcdTap({ runStart, onEvent: (ev) => monitor.ingest(ev) });
    cluster = await EtcdCluster.start({ tapFactory: () => tap });
    const config = parseNoopConfig(
      { http: { method: 'POST', url: 'http://{{client}}/v3/kv/put', headers: { 'content-type': 'application/json' }, body: { key: Buffer.from('__raftguard_noop').toString('base64'), value: '' } } },
      '(test)',
    );
    const members = () =>
      cluster.members.map((m) => {
        const u = new URL(m.clientUrl);
        return { id: m.name, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: m.peerPort }, client: { host: u.hostname, port: Number(u.port) } };
      });
    injector = new NoopInjector({ config, monitor, members, metrics, log: createLogger('silent'), cluster: 'etcd' });
    monitor.addSink(injector);
    injector.start();
  }, 40_000);

  afterAll(async () => {
    injector?.close();
    await cluster?.stop();
  });

  it('never fires on its own across a leader kill (etcd commits its own empty entry)', async () => {
    await cluster.waitFor(async () => (await cluster.status()).every((s) => s.leader !== '0'), 10_000, 'a leader');
    const st = await cluster.status();
    const names = await cluster.memberNames();
    const old = names.get(st[0]!.leader)!;
    await cluster.kill(old);
    await cluster.waitFor(async () => (await cluster.status(cluster.endpointsExcept(old))).every((s) => s.leader !== '0' && s.leader !== st[0]!.leader), 15_000, 'a new leader');
    await new Promise((r) => setTimeout(r, 1500));
    expect(events.filter((e): e is NoopEvent => e.type === 'noop')).toEqual([]);
    cluster.restart(old);
  }, 60_000);

  it('by hand it lands on the current leader as a new entry of the current term', async () => {
    await cluster.waitFor(async () => (await cluster.status()).every((s) => s.leader !== '0'), 15_000, 'a leader');
    const st = await cluster.status();
    const names = await cluster.memberNames();
    const leader = names.get(st[0]!.leader)!;
    const term = st[0]!.raftTerm;
    const before = events.length;
    const r = await injector.manual(leader);
    expect(r).toMatchObject({ result: 'ok' });
    await cluster.waitFor(
      async () => events.slice(before).some((e) => e.type === 'append' && e.from === leader && (e as AppendEvent).entries.some((x) => x.term === term && x.kind === 'data')),
      5000,
      'the new entry on the wire',
    );
    const other = [...names.values()].find((n) => n !== leader)!;
    expect(await injector.manual(other)).toMatchObject({ result: 'skipped' });
    expect(events.filter((e): e is NoopEvent => e.type === 'noop' && e.result === 'sent').map((e) => e.to)).toEqual([leader]);
  }, 60_000);
});
