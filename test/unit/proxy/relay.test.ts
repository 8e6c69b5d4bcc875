import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Relay } from '../../../proxy/relay.js';
import type { Direction, Tap } from '../../../proxy/tap.js';
import { exchange } from './exchange.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A real TCP server that answers every byte it receives with the bytes transformed (XOR 0x5a). */
async function startXorServer(): Promise<{ port: number; received: () => Buffer }> {
  const got: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      got.push(Buffer.from(d));
      const out = Buffer.allocUnsafe(d.length);
      for (let i = 0; i < d.length; i++) out[i] = d[i]! ^ 0x5a;
      s.write(out);
    });
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, received: () => Buffer.concat(got) };
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}


describe('Relay', () => {
  it('forwards every byte unchanged in both directions and hands the reader the same bytes', async () => {
    const server = await startXorServer();
    const seen: Record<Direction, Buffer[]> = { c2s: [], s2c: [] };
    let ended = 0;
    const relay = new Relay({
      member: 'n1',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: server.port },
      tapFactory: (): Tap => ({
        data: (dir, chunk) => seen[dir].push(Buffer.from(chunk)),
        end: () => ended++,
      }),
    });
    const addr = await relay.start();
    cleanups.push(() => relay.close());

    const payload = randomBytes(8 * 1024 * 1024);
    const reply = await exchange(addr.port, payload);
    const expected = Buffer.from(payload.map((b) => b ^ 0x5a));
    expect(sha(server.received())).toBe(sha(payload));
    expect(sha(reply)).toBe(sha(expected));
    expect(sha(Buffer.concat(seen.c2s))).toBe(sha(payload));
    expect(sha(Buffer.concat(seen.s2c))).toBe(sha(expected));
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(1);
    expect(relay.stats.bytesC2S).toBe(payload.length);
    expect(relay.stats.connectionsActive).toBe(0);
  });

  it('keeps forwarding when the reader throws, and reports the reader failure once', async () => {
    const server = await startXorServer();
    const failures: unknown[] = [];
    const relay = new Relay({
      member: 'n1',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: server.port },
      tapFactory: () => ({
        data: () => {
          throw new Error('decoder exploded');
        },
        end: () => {},
      }),
      onReaderError: (_c, e) => failures.push(e),
    });
    const addr = await relay.start();
    cleanups.push(() => relay.close());
    const payload = randomBytes(300_000);
    const reply = await exchange(addr.port, payload);
    expect(sha(reply)).toBe(sha(Buffer.from(payload.map((b) => b ^ 0x5a))));
    expect(failures).toHaveLength(1);
    expect(relay.stats.readerErrors).toBe(1);
  });

  it('closes the caller promptly when the member is down', async () => {
    // A port with nothing listening: bind and close to get one.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const relay = new Relay({ member: 'n9', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: deadPort } });
    const addr = await relay.start();
    cleanups.push(() => relay.close());
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const c = net.connect(addr.port, '127.0.0.1', () => c.write('hello'));
      c.on('error', () => {});
      c.on('close', () => resolve());
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(relay.stats.targetConnectFailures).toBe(1);
  });

  it('passes a half-close through: the client ends its side and still gets the reply', async () => {
    const server = await startXorServer();
    const relay = new Relay({ member: 'n1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: server.port } });
    const addr = await relay.start();
    cleanups.push(() => relay.close());
    const reply = await new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      const c = net.connect({ port: addr.port, host: '127.0.0.1', allowHalfOpen: true }, () => c.end(Buffer.from('abc')));
      c.on('data', (d) => parts.push(d));
      c.on('close', () => resolve(Buffer.concat(parts)));
    });
    expect(reply.toString('hex')).toBe(Buffer.from('abc').map((b) => b ^ 0x5a).toString('hex'));
  });
});
