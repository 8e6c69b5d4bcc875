// The admin API: bearer token when configured (always required off loopback), JSON endpoints, SSE.
import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../src/api/admin.js';
import { Monitor } from '../../../src/runtime/monitor.js';
import { MetricsSink } from '../../../src/sinks/metrics.js';

let admin: AdminServer | undefined;
afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

function setup(token?: string) {
  const monitor = new Monitor({ cluster: 'c', nodes: ['a', 'b', 'c'], startedAt: 0, now: () => 0 });
  const metrics = new MetricsSink({ cluster: 'c', snapshot: () => monitor.snapshot(), defaultMetrics: false });
  monitor.addSink(metrics);
  admin = new AdminServer({ host: '127.0.0.1', port: 0, token, monitor, metrics });
  monitor.addSink(admin);
  return { monitor, admin };
}

describe('admin API', () => {
  it('refuses to listen off loopback without a token', () => {
    const monitor = new Monitor({ cluster: 'c', startedAt: 0 });
    const metrics = new MetricsSink({ cluster: 'c', snapshot: () => monitor.snapshot(), defaultMetrics: false });
    expect(() => new AdminServer({ host: '0.0.0.0', port: 0, monitor, metrics })).toThrow(/not loopback.*token/);
  });

  it('requires the bearer token when one is set (health stays open), and serves the view and metrics', async () => {
    const { monitor, admin: a } = setup('s3cret');
    const { port } = await a.start();
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/api/cluster`)).status).toBe(401);
    expect((await fetch(`${base}/api/cluster`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    monitor.ingest({ type: 'append', t: 1, from: 'a', to: 'b', term: 3, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });
    const auth = { headers: { authorization: 'Bearer s3cret' } };
    const c = (await (await fetch(`${base}/api/cluster`, auth)).json()) as { cluster: string; leader?: { id: string; term: number } };
    expect(c.cluster).toBe('c');
    expect(c.leader).toMatchObject({ id: 'a', term: 3 });
    const m = await (await fetch(`${base}/metrics`, auth)).text();
    expect(m).toMatch(/raftguard_messages_total\{cluster="c",type="append"\} 1/);
    expect(m).toMatch(/raftguard_node_is_leader\{cluster="c",node="a"\} 1/);
    expect((await fetch(`${base}/nope`, auth)).status).toBe(404);
  });

  it('a client that falls behind loses events, and is told how many as soon as it catches up', async () => {
    const { monitor, admin: a } = setup();
    const { port } = await a.start();
    const res = await fetch(`http://127.0.0.1:${port}/api/events`);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = dec.decode((await reader.read()).value);
    // A burst far larger than the socket buffers while the client reads nothing.
    const big = Array.from({ length: 64 }, (_, i) => ({ index: i + 1, term: 2, kind: 'data' as const, digest: 'x'.repeat(64) }));
    for (let i = 0; i < 20_000; i++) monitor.ingest({ type: 'append', t: 10 + i, from: 'a', to: 'b', term: 2, prevIndex: 0, prevTerm: 0, entries: big, commit: 0 });
    // No further event is sent: the notice must come by itself once the client drains.
    while (!text.includes('event: dropped')) text += dec.decode((await reader.read()).value);
    const m = /event: dropped\ndata: \{"count":(\d+)\}/.exec(text)!;
    const delivered = (text.match(/event: event\n/g) ?? []).length;
    expect(Number(m[1])).toBeGreaterThan(0);
    expect(delivered).toBeGreaterThan(0);
    // Every frame (events and the findings they raised) either delivered or counted as dropped.
    expect(delivered + (text.match(/event: finding\n/g) ?? []).length + Number(m[1])).toBe(20_000 + monitor.findings().length);
    await reader.cancel();
  });

  it('streams decoded events as Server-Sent Events', async () => {
    const { monitor, admin: a } = setup();
    const { port } = await a.start();
    const res = await fetch(`http://127.0.0.1:${port}/api/events`);
    const reader = res.body!.getReader();
    let text = '';
    const dec = new TextDecoder();
    text += dec.decode((await reader.read()).value);
    expect(text).toContain('event: hello');
    monitor.ingest({ type: 'heartbeat', t: 2, from: 'a', to: 'c', term: 4, commit: 0 });
    while (!text.includes('event: event')) text += dec.decode((await reader.read()).value);
    expect(text).toMatch(/event: event\ndata: \{"type":"heartbeat","t":2,"from":"a","to":"c","term":4/);
    await reader.cancel();
  });
});
