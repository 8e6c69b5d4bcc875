// `decode: false` (relay only, used by bench:etcd to split relay cost from decode cost).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/load.js';
import { loadRunConfig } from '../../../src/config/run-config.js';
import { startRun } from '../../../src/runtime/runner.js';
import { createLogger } from '../../../src/sinks/log.js';
import { exchange, listenTracked } from './exchange.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-relay-only-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function config(name: string, extra: string, target = 9): string {
  const p = join(dir, name);
  writeFileSync(
    p,
    `cluster: c
dialect: etcd
members:
  - { id: m1, listen: "127.0.0.1:0", target: "127.0.0.1:${target}" }
admin:
  listen: 127.0.0.1:0
${extra}
`,
  );
  return p;
}

/** A server speaking HTTP/1.1-shaped bytes back, so a reader attached by mistake would see traffic. */
async function echoServer(opts: { keepOpenAfterFin?: boolean } = {}): Promise<{ port: number; open: () => number }> {
  let open = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    open++;
    sockets.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => {
      open--;
      sockets.delete(s);
    });
    s.on('data', (d) => s.write(d));
    s.on('end', () => {
      if (!opts.keepOpenAfterFin) {
        s.end();
        return;
      }
      // Keep talking after the peer's FIN, as a member still streaming a response does: this
      // connection only ends when the relay really closes its socket (the write then fails).
      const timer = setInterval(() => s.write('y'), 10);
      s.on('close', () => clearInterval(timer));
    });
  });
  const { port, cleanup } = await listenTracked(server, sockets);
  cleanups.push(cleanup);
  return { port, open: () => open };
}


describe('decode: false', () => {
  it('is validated like every other key', () => {
    expect(loadRunConfig(config('default.yaml', '')).decode).toBeUndefined();
    expect(loadRunConfig(config('off.yaml', 'decode: false')).decode).toBe(false);
    expect(() => loadRunConfig(config('bad.yaml', 'decode: "off"'))).toThrow(ConfigError);
    expect(() => loadRunConfig(config('bad2.yaml', 'decode: "off"'))).toThrow(/bad2\.yaml:7: decode: expected true \(default\) or false/);
    expect(() => loadRunConfig(config('active.yaml', 'decode: false\nmode: active'))).toThrow(/decode: active mode needs decoding/);
  });

  it('relays every byte unchanged and decodes nothing; with decoding on, the same bytes are read', async () => {
    const target = await echoServer();
    // One rafthttp message-stream request: a reader would count it as a request (or a decode error).
    const payload = Buffer.from('GET /raft/stream/message/1 HTTP/1.1\r\nHost: x\r\nX-Raft-To: 2\r\n\r\n');
    const results: Record<string, { echoed: Buffer; events: number; decodeErrorReported: boolean }> = {};
    for (const [name, extra] of [['off', 'decode: false'], ['on', '']] as const) {
      const cfg = loadRunConfig(config(`${name}.yaml`, extra, target.port));
      const run = await startRun(cfg, { log: createLogger('silent') });
      const echoed = await exchange(run.listeners.get('m1')!.port, payload);
      await run.stop();
      const decodeErrorReported = (await run.metrics.text()).includes('raftguard_decode_errors_total{');
      results[name] = { echoed, events: run.monitor.counts.events, decodeErrorReported };
    }
    expect(results['off']!.echoed.equals(payload)).toBe(true);
    expect(results['on']!.echoed.equals(payload)).toBe(true);
    expect(results['off']!.events).toBe(0);
    // The echo answers a request with a request line, which the reader reports as a bad status line:
    // proof that with decoding on the same bytes do reach the reader, and with decode: false they do not.
    expect(results['on']!.decodeErrorReported).toBe(true);
    expect(results['off']!.decodeErrorReported).toBe(false);
  });
});
