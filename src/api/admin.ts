// The admin HTTP server: the live web view at /, /metrics, /healthz, /api/cluster, /api/findings,
// /api/summary and /api/events (Server-Sent Events of decoded events and findings). Loopback by default; bound to
// any other address it requires a bearer token.
// SSE clients that cannot keep up lose events (counted and told), they never make us buffer.

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Finding, RaftEvent } from '../events/types.js';
import type { Monitor, Sink } from '../runtime/monitor.js';
import type { MetricsSink } from '../sinks/metrics.js';
import { WEB_VIEW_HTML } from './webview.js';

const WEB_VIEW_PAGE: [string, string] = ['text/html; charset=utf-8', WEB_VIEW_HTML];

export interface AdminOptions {
  host: string;
  port: number;
  /** Required when `host` is not a loopback address. */
  token?: string;
  monitor: Monitor;
  metrics: MetricsSink;
  /** Extra routes (e.g. POST /api/noop from the injector), matched by "METHOD /path". */
  routes?: Record<string, (req: http.IncomingMessage, body: string) => Promise<{ status: number; body: unknown }>>;
  /** Static pages (the web view), path → [content-type, body]. */
  pages?: Record<string, [string, string | Buffer]>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

interface SseClient {
  res: http.ServerResponse;
  dropped: number;
}

export class AdminServer implements Sink {
  private server: http.Server | undefined;
  private readonly sse = new Set<SseClient>();
  private readonly tokenBuf: Buffer | undefined;

  constructor(private readonly opts: AdminOptions) {
    if (!isLoopback(opts.host) && !opts.token) {
      throw new Error(`admin listener ${opts.host}:${opts.port} is not loopback: set admin.token in the config or RAFTGUARD_ADMIN_TOKEN`);
    }
    this.tokenBuf = opts.token ? Buffer.from(opts.token) : undefined;
  }

  async start(): Promise<{ host: string; port: number }> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String((err as Error).message ?? err) }));
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  async close(): Promise<void> {
    for (const c of this.sse) c.res.end();
    this.sse.clear();
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  event(ev: RaftEvent): void {
    if (this.sse.size) this.broadcast('event', ev);
  }

  finding(f: Finding): void {
    if (this.sse.size) this.broadcast('finding', f);
  }

  private broadcast(kind: string, data: unknown): void {
    const frame = `event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.sse) {
      if (c.res.writableNeedDrain) {
        // Tell the client as soon as it catches up, even if no further event comes to carry it.
        if (c.dropped++ === 0) c.res.once('drain', () => this.flushDropped(c));
        continue;
      }
      if (c.dropped) {
        c.res.write(`event: dropped\ndata: {"count":${c.dropped}}\n\n`);
        c.dropped = 0;
      }
      c.res.write(frame);
    }
  }

  private flushDropped(c: SseClient): void {
    if (!c.dropped || !this.sse.has(c)) return;
    c.res.write(`event: dropped\ndata: {"count":${c.dropped}}\n\n`);
    c.dropped = 0;
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.tokenBuf) return true;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const got = Buffer.from(m[1]!);
    return got.length === this.tokenBuf.length && timingSafeEqual(got, this.tokenBuf);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    // The page itself holds no data (it reads the API with the token), so a browser can load it.
    if (path !== '/healthz' && path !== '/' && !this.authorized(req)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      res.end('{"error":"missing or wrong bearer token"}');
      return;
    }
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const route = this.opts.routes?.[`${req.method} ${path}`];
    if (route) {
      const body = await readBody(req, 64 * 1024);
      const out = await route(req, body);
      json(out.status, out.body);
      return;
    }
    if (req.method !== 'GET') {
      json(405, { error: `${req.method} not allowed on ${path}` });
      return;
    }
    const m = this.opts.monitor;
    switch (path) {
      case '/healthz':
        json(200, { ok: true, events: m.counts.events, findings: m.counts.findings });
        return;
      case '/metrics':
        res.writeHead(200, { 'content-type': this.opts.metrics.registry.contentType });
        res.end(await this.opts.metrics.text());
        return;
      case '/api/cluster':
        json(200, { cluster: m.header.cluster, ...m.snapshot() });
        return;
      case '/api/findings': {
        const sev = url.searchParams.get('severity');
        json(200, m.findings().filter((f) => !sev || f.severity === sev));
        return;
      }
      case '/api/summary':
        json(200, m.summary());
        return;
      case '/api/events': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(`event: hello\ndata: ${JSON.stringify({ cluster: m.header.cluster })}\n\n`);
        const client: SseClient = { res, dropped: 0 };
        this.sse.add(client);
        req.on('close', () => this.sse.delete(client));
        return;
      }
    }
    const page = this.opts.pages?.[path] ?? (path === '/' ? WEB_VIEW_PAGE : undefined);
    if (page) {
      res.writeHead(200, { 'content-type': page[0] });
      res.end(page[1]);
      return;
    }
    json(404, { error: `no such endpoint: ${path}` });
  }
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > limit) {
        reject(new Error(`request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}
