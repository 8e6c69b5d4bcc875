import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { frameTypes, sha, startRelay, waitFor, type RelayUnderTest } from './helpers.js';

// Real @grpc/grpc-js server and client with identity (Buffer) serializers, through the real Relay.
const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/raft.Test/${name}`,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const service = {
  Unary: method('Unary', false, false),
  ClientStream: method('ClientStream', true, false),
  ServerStream: method('ServerStream', false, true),
  Bidi: method('Bidi', true, true),
  Hang: method('Hang', false, true),
} as unknown as grpc.ServiceDefinition;

interface ServerLog {
  received: Map<string, string[]>; // path -> sha of each request message
  sent: Map<string, string[]>;
  cancelled: string[];
}
const log: ServerLog = { received: new Map(), sent: new Map(), cancelled: [] };
const note = (m: Map<string, string[]>, path: string, b: Buffer): void => {
  const l = m.get(path) ?? [];
  l.push(sha(b));
  m.set(path, l);
};
const respond = (path: string, req: Buffer): Buffer => {
  const out = Buffer.concat([Buffer.from('re:'), req.subarray(0, 100_000)]);
  note(log.sent, path, out);
  return out;
};

let server: grpc.Server;
let serverPort = 0;
let plain: RelayUnderTest;
let Client: grpc.ServiceClientConstructor;
const clients: grpc.Client[] = [];

function connect(port: number, options: grpc.ChannelOptions = {}): grpc.Client & Record<string, Function> {
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as grpc.Client & Record<string, Function>;
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = new grpc.Server({ 'grpc.default_compression_algorithm': 2 } as grpc.ServerOptions);
  server.addService(service, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      note(log.received, '/raft.Test/Unary', call.request);
      const tag = call.metadata.get('x-fail')[0];
      if (tag) {
        cb({ code: grpc.status.PERMISSION_DENIED, details: `denied: ${tag} ünïcode 100%` });
        return;
      }
      cb(null, respond('/raft.Test/Unary', call.request));
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const got: Buffer[] = [];
      call.on('data', (b: Buffer) => {
        note(log.received, '/raft.Test/ClientStream', b);
        got.push(b);
      });
      call.on('end', () => cb(null, respond('/raft.Test/ClientStream', Buffer.concat(got))));
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      note(log.received, '/raft.Test/ServerStream', call.request);
      for (let i = 0; i < 5; i++) call.write(respond('/raft.Test/ServerStream', Buffer.concat([call.request, Buffer.from([i])])));
      call.end();
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => {
        note(log.received, '/raft.Test/Bidi', b);
        call.write(respond('/raft.Test/Bidi', b));
      });
      call.on('end', () => call.end());
      call.on('cancelled', () => log.cancelled.push('/raft.Test/Bidi'));
    },
    Hang: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      note(log.received, '/raft.Test/Hang', call.request);
      call.on('cancelled', () => log.cancelled.push('/raft.Test/Hang'));
    },
  });
  serverPort = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? rej(err) : res(port))),
  );
  Client = grpc.makeGenericClientConstructor(service as unknown as grpc.ServiceDefinition, 'Test');
  plain = await startRelay(serverPort);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await plain.relay.close();
  await new Promise<void>((r) => server.tryShutdown(() => r()));
});

const unary = (c: Record<string, Function>, req: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}) =>
  new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) => c.Unary(req, md, opts, (err: grpc.ServiceError | null, res?: Buffer) => resolve({ err, res })));

function readerShas(r: RelayUnderTest, path: string, direction: 'request' | 'response'): string[] {
  return r.seen.messages.filter((m) => m.path === path && m.direction === direction).map((m) => m.data).map(sha);
}

describe('HTTP/2 reader on @grpc/grpc-js traffic through the relay', () => {
  it('unary, client-streaming, server-streaming and bidi calls: every message the server received/sent is reported, incl. > 16 KiB', async () => {
    const c = connect(plain.port);
    for (const size of [0, 1, 1000, 16_379, 16_380, 70_000, 300_000]) {
      const { err } = await unary(c, randomBytes(size));
      expect(err).toBeNull();
    }
    await new Promise<void>((resolve, reject) => {
      const call = c.ClientStream((err: Error | null) => (err ? reject(err) : resolve()));
      for (const size of [5, 40_000, 0, 123_456]) call.write(randomBytes(size));
      call.end();
    });
    await new Promise<void>((resolve, reject) => {
      const call = c.ServerStream(randomBytes(20_000));
      call.on('data', () => {});
      call.on('end', resolve);
      call.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      const call = c.Bidi();
      let n = 0;
      call.on('data', () => {
        if (++n === 4) call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
      for (const size of [10, 50_000, 1, 17_000]) call.write(randomBytes(size));
    });
    await waitFor(() => plain.seen.ends.filter((e) => e.path === '/raft.Test/Bidi').length === 1, 'bidi end');
    for (const p of ['Unary', 'ClientStream', 'ServerStream', 'Bidi']) {
      const path = `/raft.Test/${p}`;
      expect(readerShas(plain, path, 'request')).toEqual(log.received.get(path));
      expect(readerShas(plain, path, 'response')).toEqual(log.sent.get(path));
    }
    expect(plain.seen.errors).toEqual([]);
    expect(plain.seen.ends.filter((e) => e.grpcStatus === 0).length).toBeGreaterThanOrEqual(10);
  });

  // grpc-js servers never compress responses (server-interceptors.js: "response compression is currently
  // not supported"); compressed responses are covered with a node:http2 server in reader.test.ts.
  it('gzip-compressed request messages (grpc.default_compression_algorithm = gzip) are inflated and equal what the server saw', async () => {
    const r = await startRelay(serverPort);
    try {
      const c = connect(r.port, { 'grpc.default_compression_algorithm': 2 });
      const reqs = [Buffer.alloc(50_000, 'a'), Buffer.from('x'.repeat(3000) + randomBytes(2000).toString('hex'))];
      for (const req of reqs) expect((await unary(c, req)).err).toBeNull();
      await waitFor(() => r.seen.ends.length === 2, 'two calls');
      const reqMsgs = r.seen.messages.filter((m) => m.direction === 'request');
      expect(reqMsgs.map((m) => sha(m.data))).toEqual(reqs.map(sha));
      expect(reqMsgs.every((m) => m.compressed)).toBe(true);
      const resps = r.seen.messages.filter((m) => m.direction === 'response');
      expect(resps.map((m) => sha(m.data))).toEqual(log.sent.get('/raft.Test/Unary')!.slice(-2));
      expect(r.tap.stats.messagesUndecodable).toBe(0);
    } finally {
      await r.relay.close();
    }
  });

  it('many concurrent streams and big metadata (dynamic table churn, CONTINUATION) stay in sync', async () => {
    const r = await startRelay(serverPort);
    try {
      const c = connect(r.port);
      const before = log.received.get('/raft.Test/Unary')?.length ?? 0;
      const calls: Array<Promise<{ err: grpc.ServiceError | null }>> = [];
      for (let i = 0; i < 200; i++) {
        const md = new grpc.Metadata();
        md.set('x-call', `call-${i}`);
        md.set(`x-key-${i % 17}`, 'v'.repeat(50 + (i % 300)));
        if (i % 50 === 7) md.set('x-huge', 'h'.repeat(30_000 + i));
        if (i % 40 === 3) md.set('x-bin-bin', randomBytes(5000));
        calls.push(unary(c, randomBytes(100 + (i % 7) * 5000), md));
      }
      const results = await Promise.all(calls);
      expect(results.every((x) => x.err === null)).toBe(true);
      await waitFor(() => r.seen.ends.length === 200, '200 stream ends');
      const serverSaw = log.received.get('/raft.Test/Unary')!.slice(before);
      expect(readerShas(r, '/raft.Test/Unary', 'request').sort()).toEqual([...serverSaw].sort());
      expect(r.seen.errors).toEqual([]);
      const rec = r.recordings[0]!;
      expect(frameTypes(rec, 'c2s').get(9) ?? 0).toBeGreaterThan(0);
      // nothing left behind after 200 finished calls
      expect(rec.reader!.openStreams).toBe(0);
      expect(rec.reader!.bufferedBytes).toBe(0);
    } finally {
      await r.relay.close();
    }
  });

  it('error statuses in trailers reach the client untouched and the reader reports them', async () => {
    const c = connect(plain.port);
    const md = new grpc.Metadata();
    md.set('x-fail', 'tag42');
    const { err } = await unary(c, Buffer.from('q'), md);
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toBe('denied: tag42 ünïcode 100%');
    await waitFor(() => plain.seen.ends.some((e) => e.grpcStatus === 7), 'status 7');
    const end = plain.seen.ends.find((e) => e.grpcStatus === 7)!;
    expect(end).toMatchObject({ path: '/raft.Test/Unary', grpcStatus: 7, grpcMessage: 'denied: tag42 ünïcode 100%', httpStatus: 200 });
  });

  it('deadline expiry and cancellation: the reader sees the client RST_STREAM and the server sees the cancel', async () => {
    const c = connect(plain.port);
    const deadlineErr = await new Promise<grpc.ServiceError>((resolve) => {
      const call = c.Hang(Buffer.from('wait'), new grpc.Metadata(), { deadline: Date.now() + 300 });
      call.on('data', () => {});
      call.on('error', resolve);
    });
    expect(deadlineErr.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => log.cancelled.includes('/raft.Test/Hang'), 'server cancel (deadline)');
    await waitFor(() => plain.seen.ends.some((e) => e.path === '/raft.Test/Hang'), 'reader end (deadline)');
    const hangEnd = plain.seen.ends.find((e) => e.path === '/raft.Test/Hang')!;
    expect(hangEnd.rstCode).toBe(8); // CANCEL
    expect(hangEnd.rstBy).toBe('client');

    const call = c.Bidi();
    call.on('error', () => {});
    call.on('data', () => {
      call.cancel();
    });
    call.write(Buffer.from('one'));
    await waitFor(() => log.cancelled.includes('/raft.Test/Bidi'), 'server cancel (bidi)');
    await waitFor(() => plain.seen.ends.some((e) => e.path === '/raft.Test/Bidi' && e.rstCode !== undefined), 'reader end (cancel)');
    expect(plain.seen.ends.find((e) => e.path === '/raft.Test/Bidi' && e.rstCode !== undefined)).toMatchObject({ rstCode: 8, rstBy: 'client' });
  });

  it('an unknown method is forwarded untouched: the real server answers UNIMPLEMENTED', async () => {
    const c = connect(plain.port);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      c.makeUnaryRequest('/nope.Missing/Method', id, id, Buffer.from('hello'), (e: grpc.ServiceError | null) => resolve(e)),
    );
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    await waitFor(() => plain.seen.ends.some((e) => e.path === '/nope.Missing/Method'), 'unknown method end');
    expect(plain.seen.ends.find((e) => e.path === '/nope.Missing/Method')!.grpcStatus).toBe(grpc.status.UNIMPLEMENTED);
    expect(plain.seen.errors).toEqual([]);
  });
});
