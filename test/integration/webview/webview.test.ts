// The live web view in real headless Chromium (Debian's chromium, driven by playwright-core):
// against `raftguard run` in front of the reference cluster it shows the leader, term and matchIndex
// RaftGuard reconstructed and follows a leader kill and the stall that follows without a reload; it
// reads the API with the bearer token from the URL fragment; hostile text from the wire stays text.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startGuardedCluster, type GuardedCluster } from '../../../src/demo/guarded.js';
import { converged, killAfterCommit, until } from '../../../src/demo/scenarios.js';
import { createLogger } from '../../../src/sinks/log.js';
import { AdminServer } from '../../../src/api/admin.js';
import { Monitor } from '../../../src/runtime/monitor.js';
import { MetricsSink } from '../../../src/sinks/metrics.js';
import { buildDemo } from '../refcluster/build.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env['CI'] === 'true') throw new Error(`the web view test needs Debian's chromium (${CHROMIUM}) under CI=true`);

// Flags for a closed network, as root (see the machine notes): no sandbox, no background traffic.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIMING = { heartbeatMs: 250, electionMinMs: 700, electionMaxMs: 1100 };

let browser: Browser | undefined;
let g: GuardedCluster | undefined;
let admin: AdminServer | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  await buildDemo();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}, 60_000);
afterEach(async () => {
  await g?.stop();
  g = undefined;
  await admin?.close();
  admin = undefined;
});
afterAll(async () => {
  await browser?.close();
});

async function text(page: Page, sel: string): Promise<string> {
  return (await page.locator(sel).first().textContent()) ?? '';
}

describe.skipIf(!haveChromium)('web view (headless Chromium)', () => {
  it('shows what RaftGuard reconstructed and follows a leader kill and the stall after it, live', async () => {
    g = await startGuardedCluster({ cluster: { ...TIMING, noopOnElection: false }, thresholds: { stallMs: 1000, electionTimeoutMs: 700 }, log: createLogger('silent') });
    const c = g.cluster;
    const l1 = await c.waitForLeader(10_000);
    for (let i = 0; i < 3; i++) await c.put(`k${i}`, `v${i}`);
    await until('convergence', () => converged(c, 3), 5000);
    const base = `http://${g.running.adminAddress.host}:${g.running.adminAddress.port}`;
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/`);

    await page.waitForFunction(() => document.getElementById('status')?.dataset['state'] === 'live', null, { timeout: 5000 });
    const snap = g.running.monitor.snapshot();
    await page.waitForFunction((want) => document.getElementById('leader')?.textContent === want, `${l1} (term ${snap.term})`, { timeout: 5000 });
    expect(await text(page, '#cluster')).toBe('demo');
    expect(await page.locator('#members tbody tr').count()).toBe(3);
    expect(await page.locator(`#members tr[data-node="${l1}"]`).getAttribute('data-role')).toBe('leader');
    // matchIndex per follower as the engine has it (steady state after convergence).
    await page.waitForFunction(
      (m) => Object.entries(m).every(([id, v]) => document.querySelector(`#members tr[data-node="${id}"] td[data-col="match"]`)?.textContent === String(v)),
      g.running.monitor.snapshot().leader!.match,
      { timeout: 5000 },
    );
    // Decoded events stream in over SSE.
    await page.waitForFunction(() => document.querySelectorAll('#events li[data-type="append"]').length > 0, null, { timeout: 5000 });

    // Kill the leader right after a commit: the page moves to the new leader and, with no no-op on
    // election and no writes, shows the RG010 stall as an open condition and a finding — without a reload.
    const { leader: l2 } = await killAfterCommit(c); // the leader killed right after a put committed on it alone
    await page.waitForFunction((id) => (document.getElementById('leader')?.textContent ?? '').startsWith(id + ' '), l2, { timeout: 8000 });
    await page.waitForSelector('#findings li[data-code="RG010"]', { timeout: 8000 });
    await page.waitForSelector('#open li[data-code="RG010"]', { timeout: 5000 });
    // The stall of the leader the page moved to. On a slow machine another election can follow and
    // raise a second RG010 (the page lists the newest first), so the page's item is found by the
    // engine's message, not by position.
    const rg010 = g.running.monitor.findings().find((f) => f.code === 'RG010' && f.nodes.includes(l2))!;
    expect(rg010).toBeDefined();
    const index = await page.waitForFunction(
      (want) => {
        const msgs = [...document.querySelectorAll('#findings li[data-code="RG010"] .msg')].map((m) => m.textContent);
        const i = msgs.indexOf(want);
        return i < 0 ? false : { i }; // an object: index 0 would read as "not yet"
      },
      rg010.message,
      { timeout: 5000 },
    );
    const item = page.locator('#findings li[data-code="RG010"]').nth(((await index.jsonValue()) as { i: number }).i);
    await item.locator('summary').click();
    expect((await item.locator('.msg').textContent()) ?? '').toBe(rg010.message);
    expect((await item.locator('.rec').textContent()) ?? '').toBe(`→ ${rg010.recommendation}`);
    expect(await item.locator('.msg').isVisible()).toBe(true);
    expect(await text(page, '#counts')).toMatch(/^0 critical, [1-9]\d* warning/);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('reads the API with the bearer token from the URL fragment; without it, says the stream is down', async () => {
    const monitor = new Monitor({ cluster: 'tok', nodes: ['a', 'b', 'c'], startedAt: 0, now: () => 0 });
    const metrics = new MetricsSink({ cluster: 'tok', snapshot: () => monitor.snapshot(), defaultMetrics: false });
    admin = new AdminServer({ host: '127.0.0.1', port: 0, token: 's3cret', monitor, metrics });
    monitor.addSink(admin);
    const { port } = await admin.start();
    monitor.ingest({ type: 'append', t: 1, from: 'b', to: 'a', term: 7, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });

    const ctx = await browser!.newContext();
    const page = await ctx.newPage();
    await page.goto(`http://127.0.0.1:${port}/#token=s3cret`);
    await page.waitForFunction(() => document.getElementById('leader')?.textContent === 'b (term 7)', null, { timeout: 5000 });
    expect(page.url()).not.toContain('s3cret'); // the fragment is dropped from the address bar
    await page.waitForFunction(() => document.getElementById('status')?.dataset['state'] === 'live', null, { timeout: 5000 });
    monitor.ingest({ type: 'heartbeat', t: 2, from: 'b', to: 'c', term: 7, commit: 0 });
    await page.waitForSelector('#events li[data-type="heartbeat"]', { timeout: 5000 });
    await ctx.close();

    const anon = await browser!.newPage();
    await anon.goto(`http://127.0.0.1:${port}/`);
    await anon.waitForFunction(() => document.getElementById('status')?.dataset['state'] === 'down', null, { timeout: 5000 });
    expect(await text(anon, '#status')).toMatch(/401/);
    expect(await text(anon, '#leader')).toBe('…');
    await anon.close();
  }, 30_000);

  it('shows hostile text from the wire as text, never as markup', async () => {
    const evil = '<img src=x onerror="window.__pwned=1">';
    const monitor = new Monitor({ cluster: 'x<b>y</b>', startedAt: 0, now: () => 0 });
    const metrics = new MetricsSink({ cluster: 'x', snapshot: () => monitor.snapshot(), defaultMetrics: false });
    admin = new AdminServer({ host: '127.0.0.1', port: 0, monitor, metrics });
    monitor.addSink(admin);
    const { port } = await admin.start();
    monitor.ingest({ type: 'append', t: 1, from: evil, to: 'n2', term: 2, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });
    const page = await browser!.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction((want) => document.getElementById('leader')?.textContent === want, `${evil} (term 2)`, { timeout: 5000 });
    expect(await text(page, '#cluster')).toBe('x<b>y</b>');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#members img, #events img, header img').count()).toBe(0);
    await page.close();
  }, 30_000);
});
