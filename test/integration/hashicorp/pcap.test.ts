// `replayPcap --dialect hashicorp` on a real tcpdump capture of a real HashiCorp raft cluster's peer
// traffic: the same leaders and terms as the live decode of the same traffic, no decode problem.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RaftEvent } from '../../../src/events/types.js';
import { replayPcap } from '../../../src/cli/pcap-replay.js';
import type { RunConfig } from '../../../src/config/run-config.js';
import { HraftCluster, hraftAvailability } from './harness.js';
import { haveTcpdump, startTcpdump, stopTcpdump } from '../support.js';

const CI = process.env['CI'] === 'true';
const hraft = hraftAvailability();
if (CI && (!hraft.ok || !haveTcpdump)) throw new Error(`hashicorp pcap test needs Go, the raft packages and tcpdump under CI=true (${hraft.ok ? '' : hraft.reason} ${haveTcpdump ? '' : 'tcpdump missing'})`);
const ready = hraft.ok && haveTcpdump;

describe.skipIf(!ready)('replay --pcap of a real hashicorp raft cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-hraft-pcap-'));
  const pcapFile = join(dir, 'peer.pcap');
  let dump: ChildProcess;
  let cluster: HraftCluster;

  beforeAll(async () => {
    dump = await startTcpdump(pcapFile);
    cluster = await HraftCluster.start();
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    if (dump && dump.exitCode === null) dump.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the same leaders and terms as the live decode, with no decode problem', async () => {
    for (let k = 0; k < 10; k++) await cluster.apply(`k${k}=v${k}`);
    const status = await cluster.status(await cluster.leader());
    await stopTcpdump(dump);

    // Only the relay → node leg (the nodes' bind ports, listen port 0), so no connection is read
    // twice; members are named by the address they advertise (the relay listener).
    const config = {
      file: '(test)',
      cluster: 'hraft-pcap',
      dialect: 'hashicorp',
      members: cluster.nodes.map((n) => ({ id: n.id, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: n.bindPort }, advertise: { host: '127.0.0.1', port: n.advPort } })),
      thresholds: {},
      mode: 'passive',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      log: { level: 'silent' },
    } as RunConfig;
    const out = join(dir, 'converted.jsonl');
    const r = await replayPcap(pcapFile, { dialect: 'hashicorp', config, writeCapture: out });
    const replayed = readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as RaftEvent);
    expect(r.decodeErrors).toEqual([]);
    expect(replayed.filter((e) => e.type === 'append').length).toBeGreaterThan(10);
    const leaders = (evs: RaftEvent[]) => [...new Set(evs.filter((e) => e.type === 'append' || e.type === 'heartbeat').map((e) => `${e.term}:${e.from}`))].sort();
    expect(r.findings.filter((f) => f.severity === 'critical')).toEqual([]);
    expect(leaders(replayed)).toEqual(leaders(cluster.events));
    expect(leaders(cluster.events)).toContain(`${status.term}:${status.id}`);
  }, 90_000);
});
