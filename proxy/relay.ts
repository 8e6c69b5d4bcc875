// The data plane: one TCP listener per member, relaying bytes unchanged to the member's real peer
// address. Forward first, read after: each chunk is written to the other side before a copy is handed
// to the passive reader (Tap), so reading never delays the bytes. Backpressure is the sockets' own
// (pause when a write returns false, resume on 'drain'): nothing is buffered beyond their buffers.
// A reader that throws is detached from that connection (counted, reported once); relaying goes on.

import net from 'node:net';
import type { ConnectionInfo, Direction, Tap, TapFactory } from './tap.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface RelayOptions {
  /** The member behind this listener. */
  member: string;
  listen: HostPort;
  target: HostPort;
  tapFactory?: TapFactory;
  /** Called once per connection whose reader failed (its relaying goes on). */
  onReaderError?: (conn: ConnectionInfo, err: unknown) => void;
  /** Called when the target could not be reached or a socket failed (informational). */
  onConnectionError?: (conn: ConnectionInfo, side: 'client' | 'target', err: Error) => void;
  /** Grace for in-flight bytes on close() before sockets are destroyed. */
  closeGraceMs?: number;
}

export interface RelayStats {
  connectionsTotal: number;
  connectionsActive: number;
  bytesC2S: number;
  bytesS2C: number;
  targetConnectFailures: number;
  readerErrors: number;
}

let nextConnectionSeq = 0;

export class Relay {
  readonly stats: RelayStats = {
    connectionsTotal: 0,
    connectionsActive: 0,
    bytesC2S: 0,
    bytesS2C: 0,
    targetConnectFailures: 0,
    readerErrors: 0,
  };
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private closing = false;

  constructor(private readonly opts: RelayOptions) {}

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async start(): Promise<HostPort> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  address(): HostPort | undefined {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? { host: addr.address, port: addr.port } : undefined;
  }

  /**
   * Stops accepting and closes relayed connections cleanly: each side gets a FIN, so peers see a
   * normal close and reconnect on their own; sockets still open after the grace are destroyed.
   */
  async close(): Promise<void> {
    this.closing = true;
    const closed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.end();
    const grace = this.opts.closeGraceMs ?? 1000;
    const deadline = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, grace);
    deadline.unref();
    await closed;
    clearTimeout(deadline);
  }

  private accept(client: net.Socket): void {
    if (this.closing) {
      client.destroy();
      return;
    }
    const info: ConnectionInfo = {
      id: `${this.opts.member}#${++nextConnectionSeq}`,
      member: this.opts.member,
      remoteAddress: client.remoteAddress,
      remotePort: client.remotePort,
      startedAt: Date.now(),
    };
    this.stats.connectionsTotal++;
    this.stats.connectionsActive++;
    this.sockets.add(client);

    let tap: Tap | undefined;
    try {
      tap = this.opts.tapFactory?.(info);
    } catch (err) {
      this.readerFailed(info, err);
    }
    const feed = (dir: Direction, chunk: Buffer): void => {
      if (!tap) return;
      try {
        tap.data(dir, chunk, Date.now());
      } catch (err) {
        tap = undefined;
        this.readerFailed(info, err);
      }
    };

    // Hold the client's bytes until the target is connected (paused socket: kernel buffer only).
    client.pause();
    const target = net.connect({ host: this.opts.target.host, port: this.opts.target.port, allowHalfOpen: true, noDelay: true });
    this.sockets.add(target);
    let connected = false;
    target.once('connect', () => {
      connected = true;
      client.resume();
    });

    this.pipe(client, target, 'c2s', feed);
    this.pipe(target, client, 's2c', feed);

    let ended = 0;
    const onClose = (): void => {
      if (++ended < 2) return;
      this.stats.connectionsActive--;
      if (tap) {
        try {
          tap.end(Date.now());
        } catch (err) {
          this.readerFailed(info, err);
        }
        tap = undefined;
      }
    };
    client.once('close', () => {
      this.sockets.delete(client);
      // The client went away: the target connection has no one to talk to.
      if (!target.destroyed) target.end();
      onClose();
    });
    target.once('close', () => {
      this.sockets.delete(target);
      if (!client.destroyed) client.end();
      onClose();
    });
    client.on('error', (err) => {
      this.opts.onConnectionError?.(info, 'client', err);
      target.destroy();
      client.destroy();
    });
    target.on('error', (err) => {
      if (!connected) this.stats.targetConnectFailures++;
      this.opts.onConnectionError?.(info, 'target', err);
      // A member that is down: close the caller's connection promptly, never leave it hanging.
      client.destroy();
      target.destroy();
    });
  }

  private pipe(src: net.Socket, dst: net.Socket, dir: Direction, feed: (dir: Direction, chunk: Buffer) => void): void {
    let waitingForDrain = false;
    const resume = (): void => {
      waitingForDrain = false;
      src.resume();
    };
    src.on('data', (chunk: Buffer) => {
      if (dir === 'c2s') this.stats.bytesC2S += chunk.length;
      else this.stats.bytesS2C += chunk.length;
      if (!dst.write(chunk) && !waitingForDrain) {
        waitingForDrain = true;
        src.pause();
        dst.once('drain', resume);
      }
      feed(dir, chunk);
    });
    src.on('end', () => {
      // Half-close: pass the FIN on, keep the other direction flowing.
      if (!dst.destroyed) dst.end();
    });
  }

  private readerFailed(info: ConnectionInfo, err: unknown): void {
    this.stats.readerErrors++;
    this.opts.onReaderError?.(info, err);
  }
}
