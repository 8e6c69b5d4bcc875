// RG010 in active mode: the injector's `noop` events are read by the stall detector like any other
// event, so the finding carries what was done, escalates when the injection failed or landed without
// clearing the stall, and a replay of the capture judges it exactly as the live run did.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Finding, NoopEvent, NoopResult, RaftEvent } from '../../../src/events/types.js';
import { createEngine, type Thresholds } from '../../../src/engine.js';
import { CaptureWriter } from '../../../src/events/capture.js';
import { Monitor } from '../../../src/runtime/monitor.js';
import { replayFile } from '../../../src/cli/replay.js';
import { app, grant, ok, only, stallHandover as handover, vote } from './helpers.js';

const N = ['n1', 'n2', 'n3'];
const TH: Partial<Thresholds> = { stallMs: 2000, noopVerifyMs: 500 };

/** n2 leads term 3 with heartbeats-as-appends and no own entry (no no-op on election); commit stays 3. */
function stalled(from: number, to: number, last = 5, lastTerm = 2, commit = 3): RaftEvent[] {
  const ev: RaftEvent[] = [];
  for (let t = from; t < to; t += 100) {
    ev.push(app(t, 'n2', 'n1', 3, last, lastTerm, [], commit), app(t, 'n2', 'n3', 3, last, lastTerm, [], commit));
    ev.push(ok(t + 1, 'n1', 'n2', 3, last), ok(t + 1, 'n3', 'n2', 3, last));
  }
  return ev;
}

/** n2 appends its first entry of term 3 (index 6, what the no-op request makes it do) and commits it. */
function ownEntryCommits(t: number): RaftEvent[] {
  return [
    app(t, 'n2', 'n1', 3, 5, 2, [[6, 3]], 3),
    app(t, 'n2', 'n3', 3, 5, 2, [[6, 3]], 3),
    ok(t + 1, 'n1', 'n2', 3, 6),
    ok(t + 1, 'n3', 'n2', 3, 6),
    app(t + 50, 'n2', 'n1', 3, 6, 3, [], 6),
    app(t + 50, 'n2', 'n3', 3, 6, 3, [], 6),
  ];
}

function noop(t: number, result: NoopResult, reason: string, to = 'n2', term = 3): NoopEvent {
  return { type: 'noop', t, from: 'raftguard', to, term, result, reason };
}

/** Feeds events in time order (ticking at each, like replay), then ticks to `endT`. */
function run(events: RaftEvent[], thresholds: Partial<Thresholds> = TH, endT?: number) {
  const engine = createEngine({ nodes: N, thresholds });
  const findings: Finding[] = [];
  const sorted = [...events].sort((a, b) => a.t - b.t);
  for (const e of sorted) findings.push(...engine.apply(e), ...engine.tick(e.t));
  if (endT !== undefined) findings.push(...engine.tick(endT));
  return { engine, findings, rg010: only(findings, 'RG010') };
}

describe('RG010 with the no-op injector (noop events in, findings out)', () => {
  it('a stall cleared by the injection before the warning threshold: no finding, no escalation, the action and its effect recorded', () => {
    const { engine, findings } = run([...handover(), ...stalled(1002, 1310), noop(1300, 'sent', 'KV/Put to n2'), noop(1330, 'ok', 'n2 accepted the request'), ...ownEntryCommits(1310), ...stalled(1400, 5000, 6, 3, 6)], TH, 5000);
    expect(findings).toEqual([]);
    expect(engine.stallInfo('n2', 3)).toMatchObject({
      open: false,
      clearedAt: 1360,
      clearedBy: 'noop',
      firstHazardAt: 1003,
      stalledIndex: 5,
      action: { kind: 'noop', result: 'ok', dryRun: false, sentAt: 1300, okAt: 1330 },
    });
    expect(engine.stallInfo('n2', 3)?.escalated).toBeUndefined();
  });

  it('an RG010 already raised and then cleared by the injection: the cleared record says it was the injection', () => {
    const { engine, rg010 } = run([...handover(), ...stalled(1002, 1710), noop(1700, 'sent', 'KV/Put to n2'), noop(1730, 'ok', 'n2 accepted the request'), ...ownEntryCommits(1710), ...stalled(1800, 5000, 6, 3, 6)], { ...TH, stallMs: 500 }, 5000);
    expect(rg010).toHaveLength(1);
    expect(rg010[0]!.details?.action).toBeUndefined();
    const cleared = engine.clearedFindings().find((c) => c.finding.code === 'RG010');
    expect(cleared?.clearedAt).toBe(1760);
    expect(cleared?.finding.details).toMatchObject({ clearedBy: 'noop', action: { result: 'ok', sentAt: 1700, okAt: 1730 } });
    expect(cleared?.finding.details?.escalated).toBeUndefined();
  });

  it('a client write that clears the stall before the injection is not credited to it', () => {
    const { engine } = run([...handover(), ...stalled(1002, 1200), ...ownEntryCommits(1200), ...stalled(1300, 3000, 6, 3, 6), noop(1300, 'skipped', 'leadership moved on')], TH, 3000);
    expect(engine.stallInfo('n2', 3)).toMatchObject({ clearedAt: 1250, clearedBy: 'own-term-entry' });
  });

  it('the injection landed (ok) but the stall persists: RG010 escalates, warning, with the noop events as evidence', () => {
    const sent = noop(1300, 'sent', 'KV/Put to n2');
    const okEv = noop(1330, 'ok', 'n2 accepted the request');
    const { engine, rg010 } = run([...handover(), ...stalled(1002, 6000), sent, okEv], TH, 6000);
    expect(rg010).toHaveLength(1);
    const f = rg010[0]!;
    expect(f.severity).toBe('warning');
    expect(f.t).toBe(1830); // accepted at 1330 + noopVerifyMs
    expect(f.message).toMatch(/^Escalated: .*accepted at 1330 ms, but 500 ms later entries 4\.\.5 .* still above its commit 3/);
    expect(f.details).toMatchObject({ escalated: true, escalation: 'stall-persists', verifyMs: 500, stalledIndex: 5, action: { result: 'ok', sentAt: 1300, okAt: 1330 } });
    expect(f.evidence.map((e) => e.event)).toEqual(expect.arrayContaining([sent, okEv]));
    expect(f.recommendation).toMatch(/did not clear/);
    expect(engine.isStallOpen('n2', 3)).toBe(true);
    expect(engine.openFindings().filter((o) => o.code === 'RG010').map((o) => o.details?.escalated)).toEqual([true]);
  });

  it('an RG010 raised before the injection escalates as a second finding; the open record is the escalated one', () => {
    const { engine, rg010 } = run([...handover(), ...stalled(1002, 6000), noop(1700, 'sent', 'KV/Put to n2'), noop(1720, 'ok', 'n2 accepted the request')], { ...TH, stallMs: 500 }, 6000);
    expect(rg010.map((f) => f.details?.escalated)).toEqual([undefined, true]);
    expect(rg010[1]!.t).toBe(2220);
    const open = engine.openFindings().filter((o) => o.code === 'RG010');
    expect(open).toHaveLength(1);
    expect(open[0]!.details).toMatchObject({ escalated: true, action: { result: 'ok' } });
    // The first finding handed out is not changed afterwards.
    expect(rg010[0]!.details?.action).toBeUndefined();
  });

  it('a request sent with no answer escalates after noopVerifyMs from the send', () => {
    const { rg010 } = run([...handover(), ...stalled(1002, 3000), noop(1300, 'sent', 'KV/Put to n2')], TH, 3000);
    expect(rg010).toHaveLength(1);
    expect(rg010[0]!.t).toBe(1800);
    expect(rg010[0]!.message).toMatch(/sent at 1300 ms and has no answer yet/);
  });

  it('the injection failed: RG010 says so at once (the failed decision is the evidence), never critical', () => {
    const failed = noop(1700, 'failed', 'DEADLINE_EXCEEDED: Deadline exceeded');
    const { findings, rg010 } = run([...handover(), ...stalled(1002, 6000), noop(1300, 'sent', 'KV/Put to n2'), failed], TH, 6000);
    expect(rg010).toHaveLength(1);
    expect(rg010[0]!.t).toBe(1700);
    expect(rg010[0]!.message).toMatch(/failed \(DEADLINE_EXCEEDED: Deadline exceeded\).*not retried/);
    expect(rg010[0]!.details).toMatchObject({ escalated: true, escalation: 'injection-failed', action: { result: 'failed', failedAt: 1700 } });
    expect(rg010[0]!.evidence.some((e) => e.event === failed)).toBe(true);
    expect(findings.filter((f) => f.severity === 'critical')).toEqual([]);
  });

  it('a failure after a newer term took over (the leader died with the request in flight) does not escalate', () => {
    const newer: RaftEvent[] = [vote(1500, 'n3', 'n1', 4, 5, 2), grant(1501, 'n1', 'n3', 4)];
    for (let t = 1502; t < 3000; t += 100) newer.push(app(t, 'n3', 'n1', 4, 5, 2, [[6, 4]], 3), ok(t + 1, 'n1', 'n3', 4, 6));
    const { engine, findings } = run([...handover(), ...stalled(1002, 1500), noop(1300, 'sent', 'KV/Put to n2'), ...newer, noop(1510, 'failed', 'cancelled: term 4 appeared while the request was in flight')], TH, 3000);
    expect(only(findings, 'RG010')).toEqual([]);
    expect(engine.stallInfo('n2', 3)).toMatchObject({ action: { result: 'failed', sentAt: 1300, failedAt: 1510 } });
    expect(engine.stallInfo('n2', 3)?.escalated).toBeUndefined();
  });

  it('dry run: RG010 raised at the threshold records that the no-op was decided and not sent; no escalation', () => {
    const dry = noop(1300, 'skipped', 'dry run: would send /raft.v1.KV/Put to n2 now (…)');
    const { rg010 } = run([...handover(), ...stalled(1002, 6000), dry], TH, 6000);
    expect(rg010).toHaveLength(1);
    expect(rg010[0]!.t).toBeGreaterThanOrEqual(3003);
    expect(rg010[0]!.message).toMatch(/dry run\) decided to send a no-op at 1300 ms and sent nothing/);
    expect(rg010[0]!.details).toMatchObject({ action: { result: 'skipped', dryRun: true } });
    expect(rg010[0]!.details?.escalated).toBeUndefined();
  });

  it('a dry-run decision after RG010 was raised shows on the open record', () => {
    const { engine, rg010 } = run([...handover(), ...stalled(1002, 3000), noop(2000, 'skipped', 'dry run: would send /raft.v1.KV/Put to n2 now')], { ...TH, stallMs: 500 }, 3000);
    expect(rg010).toHaveLength(1);
    expect(engine.openFindings().find((o) => o.code === 'RG010')?.details).toMatchObject({ action: { dryRun: true } });
  });
});

describe('live and replay agree on RG010 with noop events', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftguard-stall-noop-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a live monitor (ticked on its own clock) and the replay of its capture give the same findings and cleared records', async () => {
    // Term 3: the injection lands and the stall persists (escalation), then a client write clears it.
    // Term 4 (n3): a dry run, the stall raised at the threshold.
    const events: RaftEvent[] = [...handover(), ...stalled(1002, 4000), noop(1300, 'sent', 'KV/Put to n2'), noop(1340, 'ok', 'n2 accepted the request'), ...ownEntryCommits(4000)];
    // n2 gets entry 7 to n3 only, then dies; n3 wins term 4 and brings n1 up to 7: 7 is on a
    // majority, above commit 6, with no entry of term 4.
    events.push(app(4200, 'n2', 'n3', 3, 6, 3, [[7, 3]], 6), ok(4201, 'n3', 'n2', 3, 7));
    events.push(vote(4500, 'n3', 'n1', 4, 7, 3), grant(4501, 'n1', 'n3', 4));
    events.push(app(4502, 'n3', 'n1', 4, 6, 3, [[7, 3]], 6), ok(4503, 'n1', 'n3', 4, 7));
    for (let t = 4600; t < 8000; t += 100) events.push(app(t, 'n3', 'n1', 4, 7, 3, [], 6), ok(t + 1, 'n1', 'n3', 4, 7));
    events.push(noop(4800, 'skipped', 'dry run: would send /raft.v1.KV/Put to n3 now', 'n3', 4));
    events.sort((a, b) => a.t - b.t);

    let clock = 0;
    const thresholds = { stallMs: 2000, noopVerifyMs: 500 };
    const monitor = new Monitor({ cluster: 'live', nodes: N, thresholds, startedAt: 0, now: () => clock });
    const path = join(dir, 'cap.jsonl');
    const writer = new CaptureWriter(path, monitor.header);
    monitor.addSink({ event: (ev) => writer.write(ev), close: () => writer.close() });
    const live: Finding[] = [];
    monitor.addSink({ finding: (f) => void live.push(f) });
    // The live clock ticks every 70 ms, out of step with the events.
    let nextTick = 70;
    for (const e of events) {
      while (nextTick < e.t) {
        clock = nextTick;
        monitor.tick();
        nextTick += 70;
      }
      clock = e.t;
      monitor.ingest(e);
    }
    clock = 8000;
    await monitor.close();

    const replay = await replayFile(path);
    const shape = (f: Finding) => ({ code: f.code, term: f.term, t: f.t, escalated: f.details?.escalated, escalation: f.details?.escalation, action: f.details?.action });
    const liveRg010 = only(live, 'RG010').map(shape);
    expect(liveRg010.map((f) => [f.term, f.escalated])).toEqual([
      [3, true],
      [4, undefined],
    ]);
    expect(liveRg010[0]!.t).toBe(1840);
    expect(liveRg010[1]!.action).toMatchObject({ dryRun: true });
    expect(only(replay.findings, 'RG010').map(shape)).toEqual(liveRg010);
    expect(replay.findings.map((f) => `${f.code}/${f.term}`)).toEqual(live.map((f) => `${f.code}/${f.term}`));
  });
});
