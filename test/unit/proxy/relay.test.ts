import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Relay } from '../../../proxy/relay.js';
import type { Direction, Tap } from '../../../proxy/tap.js';
import { exchange, listenTracked } from './exchange.js';

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

  it('forwards every chunk read in one event-loop turn before any reader sees one of them', async () => {
    const server = await startXorServer();
    const forwardedWhenRead: number[] = [];
    const relay: Relay = new Relay({
      member: 'n1',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: server.port },
      tapFactory: () => ({
        data: (dir) => {
          if (dir === 'c2s') forwardedWhenRead.push(relay.stats.bytesC2S);
        },
        end: () => {},
      }),
    });
    const addr = await relay.start();
    cleanups.push(() => relay.close());
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => new Promise<net.Socket>((r) => { const c = net.connect(addr.port, '127.0.0.1', () => r(c)); c.on('error', () => {}); })),
    );
    for (const c of clients) cleanups.push(() => void c.destroy());
    await new Promise((r) => setTimeout(r, 100)); // every member connection dialed
    for (const c of clients) c.write(Buffer.alloc(100, 1));
    const t = Date.now();
    while (Date.now() - t < 30); // hold the loop: all 8 chunks are readable in the next poll phase
    for (let i = 0; i < 200 && forwardedWhenRead.length < 8; i++) await new Promise((r) => setTimeout(r, 5));
    expect(forwardedWhenRead).toEqual(Array(8).fill(800));
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

/**
 * A member-like server: streams `tick` every 10 ms on each connection from the moment it is
 * accepted, records what it receives, and never closes on the peer's FIN (as an etcd stream writer
 * that only notices a failed write). `silent` turns the streaming off.
 */
async function startStreamer(opts: { silent?: boolean } = {}): Promise<{ port: number; open: () => number; accepted: () => number; received: () => string; ends: () => number; writeAll: (b: string) => void }> {
  let open = 0;
  let accepted = 0;
  let ends = 0;
  let got = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    open++;
    accepted++;
    sockets.add(s);
    const timer = opts.silent ? undefined : setInterval(() => s.write('t'), 10);
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => ends++);
    s.on('error', () => s.destroy());
    s.on('close', () => {
      clearInterval(timer);
      open--;
      sockets.delete(s);
    });
  });
  const { port, cleanup } = await listenTracked(server, sockets);
  cleanups.push(cleanup);
  const writeAll = (b: string): void => {
    for (const s of sockets) s.write(b);
  };
  return { port, open: () => open, accepted: () => accepted, received: () => got, ends: () => ends, writeAll };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A client socket with what it has received so far. By default it closes its side when it gets the
 * relay's FIN (as Go's HTTP client does on EOF); `halfOpen` keeps it open to observe the FIN as 'end'.
 */
async function client(port: number, halfOpen = false): Promise<{ socket: net.Socket; received: () => string; ended: () => boolean; closed: () => boolean }> {
  let got = '';
  let ended = false;
  let closed = false;
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: halfOpen });
  socket.on('data', (d) => (got += d.toString()));
  socket.on('end', () => (ended = true));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  cleanups.push(() => void socket.destroy());
  return { socket, received: () => got, ended: () => ended, closed: () => closed };
}

describe('Relay.close()', () => {
  it('ends dialed sockets the member keeps open and streaming after our FIN, and resolves only when they are gone', async () => {
    const member = await startStreamer();
    const relay = new Relay({ member: 'm1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: member.port }, closeGraceMs: 5000 });
    const addr = await relay.start();
    const c = await client(addr.port);
    await until(() => c.received().length > 0, 2000, 'streamed bytes through the relay');
    const t0 = Date.now();
    await relay.close();
    // Well before the 5 s grace: the caller closed on our FIN, so the member's next chunk has nowhere
    // to go and the relay answers it with a reset (it used to read and drop it, forever).
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(c.closed()).toBe(true);
    await until(() => member.open() === 0, 500, 'the member side of the connection closed');
    expect(relay.stats.connectionsActive).toBe(0);
  });

  it('destroys a dialed socket whose member neither writes nor closes, at the grace', async () => {
    const member = await startStreamer({ silent: true });
    const relay = new Relay({ member: 'm1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: member.port }, closeGraceMs: 300 });
    const addr = await relay.start();
    await client(addr.port);
    await until(() => member.open() === 1, 2000, 'the relay dialing the member');
    const t0 = Date.now();
    await relay.close();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1000);
    // The member learns only when it writes (as with any closed peer): a reset, since nothing on our side is open.
    await until(() => (member.writeAll('late'), member.open() === 0), 500, 'the member side of the connection reset');
  });
});

describe('Relay.cut() / heal()', () => {
  it('stops every byte and FIN in both directions while holding the sockets open, then delivers what was held, in order', async () => {
    const member = await startStreamer();
    const relay = new Relay({ member: 'm1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: member.port } });
    cleanups.push(() => relay.close());
    const addr = await relay.start();
    const c = await client(addr.port, true);
    c.socket.write('before|');
    await until(() => member.received() === 'before|' && c.received().length > 0, 2000, 'traffic both ways');

    relay.cut();
    await sleep(30); // anything already in flight lands before the cut is measured
    const s2c = c.received().length;
    const bytes = relay.stats.bytesC2S + relay.stats.bytesS2C;
    c.socket.write('during|');
    c.socket.end(); // a FIN, held too
    await sleep(300); // the member streams ~30 ticks meanwhile
    expect(c.received().length).toBe(s2c);
    expect(member.received()).toBe('before|');
    expect(member.ends()).toBe(0);
    expect(relay.stats.bytesC2S + relay.stats.bytesS2C).toBe(bytes);
    expect(member.open()).toBe(1);
    expect(c.closed()).toBe(false);

    relay.heal();
    await until(() => member.received() === 'before|during|' && member.ends() === 1, 2000, 'the held bytes and FIN reaching the member');
    await until(() => c.received().length >= s2c + 20, 2000, 'the held ticks reaching the caller');
    expect(c.received()).toMatch(/^t+$/);
  });

  it('holds connections made during the cut without dialing the member, and connects them at heal', async () => {
    const member = await startStreamer({ silent: true });
    const relay = new Relay({ member: 'm1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: member.port } });
    cleanups.push(() => relay.close());
    const addr = await relay.start();
    relay.cut();
    const c = await client(addr.port, true); // accepted (TCP-wise) but held
    c.socket.write('hello');
    await sleep(200);
    expect(member.accepted()).toBe(0);
    expect(c.closed()).toBe(false);
    relay.heal();
    await until(() => member.received() === 'hello', 2000, 'the held connection reaching the member');
    expect(member.accepted()).toBe(1);
  });

  it('close() during a cut resolves at once and leaves nothing open', async () => {
    const member = await startStreamer();
    const relay = new Relay({ member: 'm1', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: member.port }, closeGraceMs: 5000 });
    const addr = await relay.start();
    const c = await client(addr.port, true);
    await until(() => c.received().length > 0, 2000, 'traffic');
    relay.cut();
    await client(addr.port); // one held, never dialed
    const t0 = Date.now();
    await relay.close();
    expect(Date.now() - t0).toBeLessThan(500);
    await until(() => member.open() === 0 && c.ended(), 1000, 'the member reset by its next write, the caller ended');
    expect(relay.stats.connectionsActive).toBe(0);
  });
});
