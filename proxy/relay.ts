// The data plane: one TCP listener per member, relaying bytes unchanged to the member's real peer
// address. Forward first, read after: each chunk is written to the other side before a copy is handed
// to the passive reader (Tap), so reading never delays the bytes. Not even other connections' bytes:
// the chunks read in one poll phase are all forwarded first, and reach their readers in the check
// phase right after (one setImmediate per event-loop turn, shared by every relay in the process), so
// a burst over many connections is not forwarded one decode at a time. Backpressure is the sockets' own
// (pause when a write returns false, resume on 'drain'): nothing is buffered beyond their buffers.
// A reader that throws is detached from that connection (counted, reported once); relaying goes on.
// A chunk arriving for a side that is already gone resets its sender (RST), as the gone peer's own
// kernel would: without that, a member still streaming to a departed peer would write into a void
// and believe the stream attached. cut()/heal() stop and restart all forwarding on purpose (the
// partition used by tests); close() ends every socket it owns, accepted and dialed.

import net from 'node:net';
import type { ConnectionInfo, Direction, Tap, TapFactory } from './tap.js';
import { monotonicNow } from './clock.js';

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

/** Chunks forwarded this event-loop turn and not yet read, with the link they came through, in read order. */
const pendingLinks: Link[] = [];
const pendingDirs: Direction[] = [];
/** undefined: the link ended (tap.end), after its last chunk. */
const pendingChunks: (Buffer | undefined)[] = [];
const pendingTimes: number[] = [];
let readScheduled = false;

function queueRead(link: Link, dir: Direction, chunk: Buffer | undefined, t: number): void {
  pendingLinks.push(link);
  pendingDirs.push(dir);
  pendingChunks.push(chunk);
  pendingTimes.push(t);
  if (!readScheduled) {
    readScheduled = true;
    setImmediate(readPending);
  }
}

/** Hands the queued chunks to their readers, in order; a reader that throws is detached from its link. */
function readPending(): void {
  readScheduled = false;
  for (let i = 0; i < pendingLinks.length; i++) {
    const link = pendingLinks[i]!;
    const tap = link.tap;
    if (!tap) continue;
    const chunk = pendingChunks[i];
    try {
      if (chunk) tap.data(pendingDirs[i]!, chunk, pendingTimes[i]!);
      else {
        link.tap = undefined;
        tap.end(pendingTimes[i]!);
      }
    } catch (err) {
      link.tap = undefined;
      link.readerFailed(err);
    }
  }
  pendingLinks.length = 0;
  pendingDirs.length = 0;
  pendingChunks.length = 0;
  pendingTimes.length = 0;
}

/** One relayed connection: the caller's socket and the one dialed to the member. */
interface Link {
  info: ConnectionInfo;
  client: net.Socket;
  /** Undefined while held: accepted during a cut, the member not dialed yet. */
  target: net.Socket | undefined;
  connected: boolean;
  /** Per direction: paused until the other side drains. */
  c2sWaiting: boolean;
  s2cWaiting: boolean;
  /** Sockets of this link that have closed (the link is finished at 2, or at 1 if never dialed). */
  closed: number;
  tap: Tap | undefined;
  readerFailed: (err: unknown) => void;
}

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
  private readonly links = new Set<Link>();
  private closing = false;
  private isCut = false;

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
   * Stops forwarding in both directions, on every connection, as a network partition would: the
   * sockets stay open, no byte, FIN or reset crosses (what arrives waits in the socket buffers),
   * and connections made during the cut are accepted and held without dialing the member. The
   * endpoints see silence, never a close, so they only notice through their own timeouts.
   */
  cut(): void {
    this.isCut = true;
    for (const link of this.links) this.flow(link);
  }

  /**
   * Ends a cut: held bytes flow on in order (nothing was dropped), connections held during the cut
   * dial the member, and a side that went away meanwhile is passed on to the other one now.
   */
  heal(): void {
    if (!this.isCut) return;
    this.isCut = false;
    for (const link of [...this.links]) {
      if (this.closing) break;
      if (!link.target) {
        if (link.client.destroyed) this.finish(link);
        else this.dial(link);
        continue;
      }
      if (link.client.destroyed) this.sideGone(link, link.target);
      else if (link.target.destroyed) this.sideGone(link, link.client);
      this.flow(link);
    }
  }

  /**
   * Stops accepting and closes every relayed connection, accepted and dialed: each side gets a FIN
   * so peers see a normal close and reconnect on their own; resolves when all of them are closed.
   * Sockets still open after the grace (a member that keeps streaming to a half-closed connection)
   * are destroyed, so nothing this relay owns outlives close(). Held or cut connections are
   * destroyed at once: nothing can be flushed through them.
   */
  async close(): Promise<void> {
    this.closing = true;
    const serverClosed = this.server ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    const sockets: net.Socket[] = [];
    for (const link of this.links) {
      for (const s of [link.client, link.target]) {
        if (!s) continue;
        sockets.push(s);
        if (this.isCut || !link.target) s.destroy();
        else s.end();
      }
    }
    const allClosed = Promise.all(sockets.map((s) => new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())))));
    const grace = this.opts.closeGraceMs ?? 1000;
    const deadline = setTimeout(() => {
      for (const s of sockets) s.destroy();
    }, grace);
    deadline.unref();
    await Promise.all([serverClosed, allClosed]);
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
      startedAt: monotonicNow(),
    };
    this.stats.connectionsTotal++;
    this.stats.connectionsActive++;
    const link: Link = {
      info,
      client,
      target: undefined,
      connected: false,
      c2sWaiting: false,
      s2cWaiting: false,
      closed: 0,
      tap: undefined,
      readerFailed: (err) => this.readerFailed(info, err),
    };
    this.links.add(link);
    try {
      link.tap = this.opts.tapFactory?.(info);
    } catch (err) {
      this.readerFailed(info, err);
    }

    // Hold the client's bytes until the target is connected (paused socket: kernel buffer only).
    client.pause();
    this.pipe(link, client, 'c2s');
    client.once('close', () => {
      if (link.target) this.sideGone(link, link.target);
      this.sideClosed(link);
    });
    client.on('error', (err) => {
      this.opts.onConnectionError?.(info, 'client', err);
      client.destroy();
      if (!this.isCut) link.target?.destroy();
    });
    if (!this.isCut) this.dial(link);
  }

  /** Connects the link to the member and starts forwarding. */
  private dial(link: Link): void {
    const { client, info } = link;
    const target = net.connect({ host: this.opts.target.host, port: this.opts.target.port, allowHalfOpen: true, noDelay: true });
    link.target = target;
    target.once('connect', () => {
      link.connected = true;
      this.flow(link);
    });
    this.pipe(link, target, 's2c');
    target.once('close', () => {
      this.sideGone(link, client);
      this.sideClosed(link);
    });
    target.on('error', (err) => {
      if (!link.connected) this.stats.targetConnectFailures++;
      this.opts.onConnectionError?.(info, 'target', err);
      target.destroy();
      // A member that is down: close the caller's connection promptly, never leave it hanging.
      if (!this.isCut) client.destroy();
    });
  }

  /** The other side of `survivor` has closed: pass that on (a FIN), unless a cut holds it back until heal(). */
  private sideGone(link: Link, survivor: net.Socket): void {
    if (this.isCut || survivor.destroyed) return;
    // The caller went away before the member answered the connect: nothing to tell it.
    if (survivor === link.target && !link.connected) survivor.destroy();
    else survivor.end();
  }

  private sideClosed(link: Link): void {
    if (++link.closed < (link.target ? 2 : 1)) return;
    this.finish(link);
  }

  private finish(link: Link): void {
    if (!this.links.delete(link)) return;
    this.stats.connectionsActive--;
    // After the link's last chunks, which may still be queued for reading.
    if (link.tap) queueRead(link, 'c2s', undefined, monotonicNow());
  }

  /** Pauses or resumes both sockets of a link: flowing unless cut, not connected yet, or waiting for the other side to drain. */
  private flow(link: Link): void {
    const { client, target } = link;
    if (this.isCut || !link.connected || link.c2sWaiting) client.pause();
    else client.resume();
    if (target) {
      if (this.isCut || link.s2cWaiting) target.pause();
      else target.resume();
    }
  }

  private pipe(link: Link, src: net.Socket, dir: Direction): void {
    const c2s = dir === 'c2s';
    const drained = (): void => {
      if (c2s) link.c2sWaiting = false;
      else link.s2cWaiting = false;
      this.flow(link);
    };
    src.on('data', (chunk: Buffer) => {
      const dst = c2s ? link.target! : link.client;
      if (dst.destroyed) {
        // The receiving side is gone: answer the sender with a reset, as that peer's kernel would.
        src.destroy();
        return;
      }
      if (c2s) this.stats.bytesC2S += chunk.length;
      else this.stats.bytesS2C += chunk.length;
      if (!dst.write(chunk) && !(c2s ? link.c2sWaiting : link.s2cWaiting)) {
        if (c2s) link.c2sWaiting = true;
        else link.s2cWaiting = true;
        src.pause();
        dst.once('drain', drained);
      }
      if (link.tap) queueRead(link, dir, chunk, monotonicNow());
    });
    src.on('end', () => {
      // Half-close: pass the FIN on, keep the other direction flowing.
      const dst = c2s ? link.target : link.client;
      if (dst && !dst.destroyed) dst.end();
    });
  }

  private readerFailed(info: ConnectionInfo, err: unknown): void {
    this.stats.readerErrors++;
    this.opts.onReaderError?.(info, err);
  }
}
