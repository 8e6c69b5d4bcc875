import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunConfig } from '../../../src/config/run-config.js';
import { ConfigError, loadReplayConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('run config', () => {
  it('loads a valid grpc config with defaults', () => {
    writeFileSync(join(dir, 'raft.proto'), 'syntax = "proto3";');
    const c = loadRunConfig(
      file(
        'ok.yaml',
        `cluster: demo
dialect: grpc
grpc:
  proto: raft.proto
  methods:
    appendEntries: /raft.v1.Raft/AppendEntries
members:
  - { id: n1, listen: "127.0.0.1:7001", target: "127.0.0.1:8001", client: "127.0.0.1:9001" }
  - { id: n2, listen: "127.0.0.1:7002", target: "127.0.0.1:8002" }
thresholds:
  stallMs: 1.5s
capture:
  path: cap.jsonl
  maxBytes: 10MiB
`,
      ),
      {},
    );
    expect(c.members.map((m) => m.id)).toEqual(['n1', 'n2']);
    expect(c.members[0]!.client).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(c.thresholds.stallMs).toBe(1500);
    expect(c.capture).toEqual({ path: join(dir, 'cap.jsonl'), maxBytes: 10 * 1024 * 1024, keep: 5 });
    expect(c.admin.listen).toEqual({ host: '127.0.0.1', port: 9900 });
    expect(c.grpc!.proto).toEqual([join(dir, 'raft.proto')]);
    expect(c.mode).toBe('passive');
  });

  it('reports every problem at once, each with its path and line', () => {
    const p = file(
      'bad.yaml',
      `cluster: demo
dialect: raftish
members:
  - id: n1
    listen: "127.0.0.1:99999"
    target: "https://10.0.0.1:2380"
  - id: n1
    listen: nowhere
    target: "127.0.0.1:8002"
    colour: blue
thresholds:
  stallMs: soon
  bogus: 3
admin:
  listen: "0.0.0.0:9900"
log:
  level: chatty
`,
    );
    let err: ConfigError | undefined;
    try {
      loadRunConfig(p, {});
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const got = err!.problems.map((x) => `${x.line}:${x.path}`);
    expect(got).toEqual(
      expect.arrayContaining([
        '2:dialect',
        '5:members[0].listen',
        '6:members[0].target',
        '7:members[1].id',
        '8:members[1].listen',
        '10:members[1].colour',
        '12:thresholds.stallMs',
        '13:thresholds.bogus',
        '17:log.level',
      ]),
    );
    expect(err!.problems.find((x) => x.path === 'members[0].target')!.message).toMatch(/TLS/);
    expect(err!.problems.find((x) => x.path === 'admin.token')!.message).toMatch(/not loopback/);
    expect(err!.message).toContain(`${p}:2: dialect: unknown dialect "raftish"`);
  });

  it('accepts the admin token from the environment for a non-loopback admin listener', () => {
    const c = loadRunConfig(
      file('tok.yaml', `cluster: c\ndialect: etcd\nmembers:\n  - { id: a, listen: "127.0.0.1:1", target: "127.0.0.1:2" }\nadmin:\n  listen: "0.0.0.0:9900"\n`),
      { RAFTGUARD_ADMIN_TOKEN: 's3cret' },
    );
    expect(c.admin.token).toBe('s3cret');
  });

  it('names a missing file', () => {
    expect(() => loadRunConfig(join(dir, 'missing.yaml'), {})).toThrow(/missing\.yaml: \(file\): no such file/);
  });
});

describe('replay config', () => {
  it('reads thresholds with units and rejects unknown keys', () => {
    expect(loadReplayConfig(file('t.yaml', 'thresholds:\n  noLeaderMs: 1m\n  lagEntries: 50\n')).thresholds).toEqual({ noLeaderMs: 60_000, lagEntries: 50 });
    expect(() => loadReplayConfig(file('t2.yaml', 'thresholds:\n  stalMs: 1s\n'))).toThrow(/t2\.yaml:2: thresholds\.stalMs: unknown threshold/);
  });
});
