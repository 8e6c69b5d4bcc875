// `raftguard replay --pcap` on a real tcpdump capture of a real 3-member etcd cluster's peer traffic:
// it must report the same leaders and terms as the live decode of the same traffic, and what etcd
// itself reports, with nothing critical.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RaftEvent } from '../../../src/events/types.js';
import { createEtcdTap } from '../../../src/dialects/etcd/index.js';
import { replayPcap } from '../../../src/cli/pcap-replay.js';
import { replayFile } from '../../../src/cli/replay.js';
import type { RunConfig } from '../../../src/config/run-config.js';
import { EtcdCluster, etcdAvailability } from './harness.js';
import { haveTcpdump, startTcpdump, stopTcpdump } from '../support.js';

const CI = process.env['CI'] === 'true';
const etcd = etcdAvailability();
if (CI && (!etcd.ok || !haveTcpdump)) throw new Error(`etcd pcap test needs etcd and tcpdump under CI=true (${etcd.ok ? '' : etcd.reason} ${haveTcpdump ? '' : 'tcpdump missing'})`);
const ready = etcd.ok && haveTcpdump;
if (!ready) console.warn('skipping etcd pcap test: etcd or tcpdump missing (apt-get install -y etcd-server etcd-client tcpdump)');

describe.skipIf(!ready)('replay --pcap of a real etcd cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-etcd-pcap-'));
  const pcapFile = join(dir, 'peer.pcap');
  const live: RaftEvent[] = [];
  let dump: ChildProcess;
  let cluster: EtcdCluster;

  beforeAll(async () => {
    // Capture all of loopback TCP from before the cluster starts, so every connection's start is seen;
    // the replay keeps only the members' real peer ports (one leg of each relayed connection).
    dump = await startTcpdump(pcapFile);
    const runStart = Date.now();
    const tap = createEtcdTap({ runStart, onEvent: (ev) => live.push(ev) });
    cluster = await EtcdCluster.start({ tapFactory: () => tap });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    if (dump && dump.exitCode === null) dump.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the same leaders and terms as the live decode and as etcdctl, and converts to a capture', async () => {
    for (let k = 0; k < 20; k++) await cluster.etcdctl(['put', `k${k}`, `v${k}`]);
    const names = await cluster.memberNames();
    const status = await cluster.status();
    await stopTcpdump(dump);

    const config = {
      file: '(test)',
      cluster: 'etcd-pcap',
      dialect: 'etcd',
      members: cluster.members.map((m) => ({ id: m.name, listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: m.peerPort } })),
      thresholds: {},
      mode: 'passive',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      log: { level: 'silent' },
    } as RunConfig;
    const out = join(dir, 'converted.jsonl');
    const r = await replayPcap(pcapFile, { dialect: 'etcd', config, writeCapture: out });

    const leaders = (evs: RaftEvent[]) => [...new Set(evs.filter((e) => e.type === 'append' || e.type === 'heartbeat').map((e) => `${e.term}:${e.from}`))].sort();
    expect(r.pcap.skippedFlows.total).toBe(0);
    expect(r.decodeErrors).toEqual([]);
    expect(leaders(live).length).toBeGreaterThan(0);
    const fromPcap = r.summary.terms.map((t) => `${t.term}:${t.leader}`).sort();
    expect(fromPcap).toEqual(leaders(live));
    const leaderName = names.get(status[0]!.leader);
    expect(r.summary.terms.at(-1)).toMatchObject({ term: status[0]!.raftTerm, leader: leaderName });
    expect(r.findings.filter((f) => f.severity === 'critical')).toEqual([]);
    expect(r.findings.map((f) => f.code)).not.toContain('RG010');

    const again = await replayFile(out);
    expect(again.summary.terms.map((t) => `${t.term}:${t.leader}`).sort()).toEqual(fromPcap);
    expect(again.summary.events).toBe(r.summary.events);
  });
});
