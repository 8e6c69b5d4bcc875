import { afterEach, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { createHttp2Tap } from '../../../proxy/http2/reader.js';
import { collector, frameTypes, grpcFrame, grpcUnframe, replay, sha, startRelay, waitFor } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const emptySettings = frame(4, 0, 0, Buffer.alloc(0));
const info = { id: 'test#1', member: 'n1', startedAt: 0 };

/** A node:http2 server answering gRPC-framed request bodies: echoes each message reversed, then trailers. */
async function startEchoServer(received: Buffer[], sent: Buffer[]): Promise<number> {
  const server = http2.createServer({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
  server.on('stream', (stream, headers) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => {
      const msgs = grpcUnframe(Buffer.concat(parts));
      received.push(...msgs);
      const deflate = headers['x-respond-deflate'] === '1';
      const respHeaders: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'x-echo-big': String(headers['x-big'] ?? '') };
      if (deflate) respHeaders['grpc-encoding'] = 'deflate';
      stream.respond(respHeaders, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '3', 'grpc-message': 'bad%20arg' }));
      for (const m of msgs) {
        const r = Buffer.from(m).reverse();
        sent.push(r);
        if (deflate) {
          const z = grpcFrame(zlib.deflateSync(r));
          z[0] = 1; // compressed flag
          stream.write(z);
        } else stream.write(grpcFrame(r));
      }
      stream.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

describe('HTTP/2 reader on real node:http2 traffic through the relay', () => {
  it('reports every gRPC-framed message with padding, CONTINUATION-sized headers and a warm dynamic table; any re-chunking gives the same result', async () => {
    const received: Buffer[] = [];
    const sent: Buffer[] = [];
    const serverPort = await startEchoServer(received, sent);
    const r = await startRelay(serverPort);
    cleanups.push(() => r.relay.close());
    const client = http2.connect(`http://127.0.0.1:${r.port}`, { paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
    cleanups.push(() => new Promise<void>((res) => client.close(() => res())));
    const statuses: Array<string | undefined> = [];
    for (let i = 0; i < 12; i++) {
      // sizes straddle the 16 KiB frame size; headers grow the dynamic table and one is > 16 KiB
      const msgs = [randomBytes(10 + i), randomBytes(20_000 + i * 997), Buffer.alloc(0), randomBytes(70_000)];
      const big = i === 5 ? 'b'.repeat(40_000) : `v${i}`;
      const req = client.request({ ':method': 'POST', ':path': `/svc.Echo/Call${i % 3}`, 'content-type': 'application/grpc', 'x-big': big, [`x-key-${i}`]: `value-${i}` });
      for (const m of msgs) req.write(grpcFrame(m));
      req.end();
      await new Promise<void>((resolve, reject) => {
        req.on('trailers', (t) => statuses.push(String(t['grpc-status'])));
        req.on('data', () => {});
        req.on('end', resolve);
        req.on('error', reject);
      });
    }
    await waitFor(() => r.seen.ends.length === 12, 'stream ends');
    expect(statuses).toEqual(Array(12).fill('3'));
    const reqs = r.seen.messages.filter((m) => m.direction === 'request');
    const resps = r.seen.messages.filter((m) => m.direction === 'response');
    expect(reqs.map((m) => sha(m.data))).toEqual(received.map(sha));
    expect(resps.map((m) => sha(m.data))).toEqual(sent.map(sha));
    expect(reqs.length).toBe(48);
    expect(reqs.map((m) => m.path).slice(0, 8)).toEqual(['/svc.Echo/Call0', '/svc.Echo/Call0', '/svc.Echo/Call0', '/svc.Echo/Call0', '/svc.Echo/Call1', '/svc.Echo/Call1', '/svc.Echo/Call1', '/svc.Echo/Call1']);
    expect(r.seen.ends.every((e) => e.grpcStatus === 3 && e.grpcMessage === 'bad arg' && e.httpStatus === 200)).toBe(true);
    expect(r.seen.errors).toEqual([]);
    const rec = r.recordings[0]!;
    // the traffic really had CONTINUATION frames in both directions (the 40 KB header echoed back)
    expect(frameTypes(rec, 'c2s').get(9) ?? 0).toBeGreaterThan(0);
    expect(frameTypes(rec, 's2c').get(9) ?? 0).toBeGreaterThan(0);

    // Re-cut the same bytes: single bytes, random small, random large: identical reports.
    const baseline = replay(rec, () => 1 << 30);
    expect(baseline.messages.map((m) => sha(m.data))).toEqual(r.seen.messages.map((m) => sha(m.data)));
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (const cut of [() => 1, () => 1 + (rnd() % 13), () => 1 + (rnd() % 40_000)]) {
      const again = replay(rec, cut);
      expect(again.errors).toEqual([]);
      expect(again.messages.map((m) => [m.streamId, m.direction, m.path, sha(m.data)])).toEqual(
        baseline.messages.map((m) => [m.streamId, m.direction, m.path, sha(m.data)]),
      );
      expect(again.ends.map((e) => [e.streamId, e.grpcStatus])).toEqual(baseline.ends.map((e) => [e.streamId, e.grpcStatus]));
    }
  });

  it('deflate-compressed responses (grpc-encoding: deflate, flag 1) are inflated; an inflated size above maxMessageBytes is skipped', async () => {
    const received: Buffer[] = [];
    const sent: Buffer[] = [];
    const serverPort = await startEchoServer(received, sent);
    const r = await startRelay(serverPort, { maxMessageBytes: 100_000 });
    cleanups.push(() => r.relay.close());
    const client = http2.connect(`http://127.0.0.1:${r.port}`);
    cleanups.push(() => new Promise<void>((res) => client.close(() => res())));
    const msgs = [Buffer.alloc(60_000, 'z'), Buffer.from('short one'), Buffer.alloc(99_000, 'q'), Buffer.alloc(150_000, 'y')];
    const req = client.request({ ':method': 'POST', ':path': '/svc.Echo/Deflate', 'content-type': 'application/grpc', 'x-respond-deflate': '1' });
    for (const m of msgs) req.write(grpcFrame(m));
    req.end();
    await new Promise<void>((resolve, reject) => {
      req.on('data', () => {});
      req.on('end', resolve);
      req.on('error', reject);
    });
    await waitFor(() => r.seen.ends.length === 1, 'stream end');
    const resps = r.seen.messages.filter((m) => m.direction === 'response');
    // the 150 KB message is skipped twice: as a request (too long on the wire) and as a response (inflates too large)
    expect(resps.map((m) => [m.compressed, sha(m.data)])).toEqual(sent.slice(0, 3).map((b) => [true, sha(b)]));
    expect(r.tap.stats.messagesOversize).toBe(2);
    expect(r.seen.errors).toEqual([]);
  });

  it('corrupted and truncated copies of real traffic never throw out of data(), give at most one error, and release all buffers', async () => {
    const received: Buffer[] = [];
    const sent: Buffer[] = [];
    const r = await startRelay(await startEchoServer(received, sent));
    cleanups.push(() => r.relay.close());
    const client = http2.connect(`http://127.0.0.1:${r.port}`);
    cleanups.push(() => new Promise<void>((res) => client.close(() => res())));
    for (let i = 0; i < 6; i++) {
      const req = client.request({ ':method': 'POST', ':path': `/svc.Echo/F${i}`, 'content-type': 'application/grpc', [`x-k${i}`]: 'v'.repeat(i * 10) });
      req.write(grpcFrame(randomBytes(3000 + i * 9000)));
      req.end();
      await new Promise<void>((resolve, reject) => {
        req.on('data', () => {});
        req.on('end', resolve);
        req.on('error', reject);
      });
    }
    await waitFor(() => r.seen.ends.length === 6, 'six calls');
    const rec = r.recordings[0]!;
    expect(rec.reader!.openStreams).toBe(0);
    expect(rec.reader!.bufferedBytes).toBe(0);
    let seed = 99;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    let trialsWithError = 0;
    for (let trial = 0; trial < 300; trial++) {
      const c = collector();
      const reader = createHttp2Tap(c.handler)(rec.conn)!;
      const flips = 1 + rnd(4);
      const cutAt = rnd(4) === 0 ? rnd(rec.chunks.length) : rec.chunks.length;
      for (let k = 0; k < cutAt; k++) {
        const { dir, chunk } = rec.chunks[k]!;
        const copy = Buffer.from(chunk);
        for (let f = 0; f < flips; f++) if (rnd(3) === 0) copy[rnd(copy.length)] = rnd(256);
        for (let off = 0; off < copy.length; ) {
          const n = 1 + rnd(5000);
          expect(() => reader.data(dir, copy.subarray(off, off + n), 0)).not.toThrow();
          off += n;
        }
      }
      reader.end(0);
      expect(c.errors.length).toBeLessThanOrEqual(1);
      trialsWithError += c.errors.length;
      expect((reader as unknown as { bufferedBytes: number }).bufferedBytes).toBe(0);
      expect((reader as unknown as { openStreams: number }).openStreams).toBe(0);
    }
    // the corruption really reaches the error paths (and not every flip is fatal: DATA bytes are opaque)
    console.log(`fuzz: ${trialsWithError}/300 trials stopped with an error`);
    expect(trialsWithError).toBeGreaterThan(30);
    expect(trialsWithError).toBeLessThan(300);
  });

  it('garbage bytes on a listener: one reader error, bytes still forwarded both ways', async () => {
    const got: Buffer[] = [];
    const server = net.createServer((s) => {
      s.on('data', (d) => {
        got.push(Buffer.from(d));
        s.write(d);
      });
      s.on('end', () => s.end());
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise<void>((res) => server.close(() => res())));
    const r = await startRelay((server.address() as net.AddressInfo).port);
    cleanups.push(() => r.relay.close());
    const garbage = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), randomBytes(100_000)]);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let n = 0;
      const c = net.connect(r.port, '127.0.0.1', () => c.write(garbage));
      c.on('data', (d) => {
        parts.push(d);
        n += d.length;
        if (n >= garbage.length) c.end();
      });
      c.on('close', () => resolve(Buffer.concat(parts)));
      c.on('error', reject);
    });
    expect(sha(Buffer.concat(got))).toBe(sha(garbage));
    expect(sha(echoed)).toBe(sha(garbage));
    await waitFor(() => r.seen.errors.length > 0, 'reader error');
    expect(r.seen.errors.length).toBe(1);
    expect(r.seen.errors[0]).toMatchObject({ conn: r.recordings[0]!.conn.id, member: 'n1', dir: 'c2s', offset: 0 });
    expect(r.seen.errors[0]!.reason).toMatch(/not HTTP\/2: connection preface mismatch/);
    expect(r.readerErrors).toEqual([]);
    expect(r.tap.stats.connectionErrors).toBe(1);
  });
});

describe('HTTP/2 reader on crafted frames (protocol errors and limits)', () => {
  function feedAll(bytes: Buffer[], opts?: Parameters<typeof createHttp2Tap>[1]) {
    const c = collector();
    const tap = createHttp2Tap(c.handler, opts);
    const reader = tap(info)!;
    for (const b of bytes) reader.data('c2s', b, 1);
    return { c, tap, reader };
  }
  // HEADERS for stream 1: :method POST (83), :path literal without indexing (04 + len + "/a/B"),
  // content-type literal with indexing name index 31 (5f 10 "application/grpc").
  const reqHeaders = Buffer.concat([Buffer.from([0x83, 0x04, 4]), Buffer.from('/a/B'), Buffer.from([0x5f, 16]), Buffer.from('application/grpc')]);

  it('a frame above SETTINGS_MAX_FRAME_SIZE stops reading with one error at that frame', () => {
    const big = frame(0, 0, 1, Buffer.alloc(16385));
    const { c } = feedAll([PREFACE, emptySettings, big, big]);
    expect(c.errors.length).toBe(1);
    expect(c.errors[0]!.offset).toBe(24 + 9);
    expect(c.errors[0]!.reason).toMatch(/frame size violation: DATA frame \(length 16385.*16384/);
  });

  it('a larger SETTINGS_MAX_FRAME_SIZE from the peer allows larger frames in the other direction', () => {
    const c = collector();
    const reader = createHttp2Tap(c.handler)(info)!;
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(5, 0);
    settings.writeUInt32BE(65536, 2);
    reader.data('s2c', frame(4, 0, 0, settings), 1);
    reader.data('c2s', Buffer.concat([PREFACE, emptySettings, frame(1, 4, 1, reqHeaders)]), 1);
    const msg = randomBytes(40_000);
    reader.data('c2s', frame(0, 1, 1, grpcFrame(msg)), 2);
    expect(c.errors).toEqual([]);
    expect(c.messages.map((m) => [m.path, sha(m.data), m.t])).toEqual([['/a/B', sha(msg), 2]]);
  });

  it('an HPACK error (index beyond the table) is reported once with the frame offset and the block offset', () => {
    const bad = frame(1, 4, 1, Buffer.from([0x82, 0xff, 0x10])); // index 127+16 beyond tables
    const { c } = feedAll([PREFACE, emptySettings, bad, frame(1, 4, 3, reqHeaders)]);
    expect(c.errors.length).toBe(1);
    expect(c.errors[0]!.offset).toBe(33);
    expect(c.errors[0]!.reason).toMatch(/HPACK: index 143 beyond the dynamic table \(0 entries\) \(at byte 1 of the header block of stream 1\)/);
  });

  it('the server side must start with SETTINGS; a CONTINUATION for another stream is an error', () => {
    const c = collector();
    const reader = createHttp2Tap(c.handler)(info)!;
    reader.data('s2c', frame(6, 0, 0, Buffer.alloc(8)), 1);
    expect(c.errors.map((e) => e.dir + ':' + e.reason)).toEqual([expect.stringMatching(/^s2c:not HTTP\/2: the server connection preface must start with a SETTINGS frame, got PING/)]);
    const { c: c2 } = feedAll([PREFACE, emptySettings, frame(1, 0, 1, Buffer.from([0x83])), frame(9, 4, 3, Buffer.from([0x86]))]);
    expect(c2.errors[0]!.reason).toMatch(/expected CONTINUATION of stream 1, got CONTINUATION frame .*stream 3/);
  });

  it('skips a message above maxMessageBytes without buffering it and reads the next one; padded DATA and unknown frames are handled', () => {
    const small = randomBytes(100);
    const body = Buffer.concat([grpcFrame(randomBytes(5000)), grpcFrame(small)]);
    const pad = Buffer.alloc(1 + 200);
    pad[0] = 200; // pad length
    const padded = Buffer.concat([pad.subarray(0, 1), body, pad.subarray(1)]);
    const { c, tap, reader } = feedAll(
      [PREFACE, emptySettings, frame(1, 4, 1, reqHeaders), frame(0xee, 0, 1, randomBytes(30)), frame(0, 0x8 | 0x1, 1, padded)],
      { maxMessageBytes: 1000 },
    );
    expect(c.errors).toEqual([]);
    expect(c.messages.map((m) => sha(m.data))).toEqual([sha(small)]);
    expect(tap.stats.messagesOversize).toBe(1);
    expect((reader as unknown as { bufferedBytes: number }).bufferedBytes).toBe(0);
  });

  it('bounds tracked streams, and frees stream state on server END_STREAM, RST_STREAM and connection end', () => {
    const parts: Buffer[] = [PREFACE, emptySettings];
    for (let id = 1; id <= 9; id += 2) parts.push(frame(1, 4, id, reqHeaders));
    const { c, tap, reader } = feedAll(parts, { maxStreams: 3 });
    const open = (): number => (reader as unknown as { openStreams: number }).openStreams;
    expect(open()).toBe(3);
    expect(tap.stats.streamsUntracked).toBe(2);
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(8, 0);
    reader.data('c2s', frame(3, 0, 3, rst), 5);
    reader.data('s2c', Buffer.concat([emptySettings, frame(1, 0x4 | 0x1, 1, Buffer.from([0x88]))]), 6); // :status 200 + END_STREAM
    expect(open()).toBe(1);
    reader.end(7);
    expect(open()).toBe(0);
    expect(c.ends.map((e) => [e.streamId, e.rstCode, e.rstBy, e.httpStatus, e.connectionClosed])).toEqual([
      [3, 8, 'client', undefined, undefined],
      [1, undefined, undefined, 200, undefined],
      [5, undefined, undefined, undefined, true],
    ]);
  });

  it('keeps HPACK in step through PUSH_PROMISE, strips HEADERS padding and priority, reads a trailers-only response', () => {
    const c = collector();
    const reader = createHttp2Tap(c.handler)(info)!;
    // request on stream 1: HEADERS with PADDED|PRIORITY|END_HEADERS: pad length 3, 5 priority bytes, block, 3 pad bytes
    const padded = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), reqHeaders, Buffer.alloc(3)]);
    reader.data('c2s', Buffer.concat([PREFACE, emptySettings, frame(1, 0x08 | 0x20 | 0x04, 1, padded)]), 1);
    // server: PUSH_PROMISE on stream 1 inserting "x-pushed: p" into the s2c table, split by a CONTINUATION
    const pushBlock = Buffer.concat([Buffer.from([0x40, 8]), Buffer.from('x-pushed'), Buffer.from([1]), Buffer.from('p')]);
    const promised = Buffer.from([0, 0, 0, 2]);
    const gs = Buffer.concat([Buffer.from([0x40, 11]), Buffer.from('grpc-status'), Buffer.from([2]), Buffer.from('14')]);
    reader.data('s2c', Buffer.concat([
      emptySettings,
      frame(5, 0, 1, Buffer.concat([promised, pushBlock.subarray(0, 5)])),
      frame(9, 4, 1, pushBlock.subarray(5)),
      // trailers-only response: :status 200, x-pushed (index 62, only valid if the push block was decoded), grpc-status 14
      frame(1, 0x4 | 0x1, 1, Buffer.concat([Buffer.from([0x88, 0xbe]), gs])),
    ]), 2);
    expect(c.errors).toEqual([]);
    expect(c.ends).toEqual([{ conn: 'test#1', member: 'n1', streamId: 1, path: '/a/B', httpStatus: 200, grpcStatus: 14, t: 2 }]);
  });

  it('a dynamic table size update is allowed up to the SETTINGS_HEADER_TABLE_SIZE the other side sent', () => {
    const upTo8192 = Buffer.from([0x3f, 0xe1, 0x3f]); // size update 8192
    const c = collector();
    const reader = createHttp2Tap(c.handler)(info)!;
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(1, 0);
    settings.writeUInt32BE(8192, 2);
    reader.data('s2c', frame(4, 0, 0, settings), 1);
    reader.data('c2s', Buffer.concat([PREFACE, emptySettings, frame(1, 4, 1, Buffer.concat([upTo8192, reqHeaders]))]), 1);
    expect(c.errors).toEqual([]);
    const { c: c2 } = feedAll([PREFACE, emptySettings, frame(1, 4, 1, Buffer.concat([upTo8192, reqHeaders]))]);
    expect(c2.errors.map((e) => e.reason)).toEqual([expect.stringMatching(/dynamic table size update to 8192 above the allowed 4096/)]);
  });

  it('skips messages beyond the per-connection buffer budget and still reads later ones', () => {
    const a = randomBytes(800);
    const b = randomBytes(800);
    const { c, tap, reader } = feedAll(
      [
        PREFACE, emptySettings, frame(1, 4, 1, reqHeaders), frame(1, 4, 3, reqHeaders),
        frame(0, 0, 1, grpcFrame(a).subarray(0, 400)), // stream 1: 800-byte message half there: 800 reserved
        frame(0, 0, 3, grpcFrame(b)), // stream 3: another 800 would exceed 1000: skipped
        frame(0, 0, 1, grpcFrame(a).subarray(400)),
        frame(0, 0, 3, grpcFrame(b)), // budget free again: read
      ],
      { maxBufferedBytes: 1000 },
    );
    expect(c.errors).toEqual([]);
    expect(c.messages.map((m) => [m.streamId, sha(m.data)])).toEqual([[1, sha(a)], [3, sha(b)]]);
    expect(tap.stats.messagesOverBudget).toBe(1);
    expect((reader as unknown as { bufferedBytes: number }).bufferedBytes).toBe(0);
  });

  it('a handler that throws does not stop reading (counted)', () => {
    const tap = createHttp2Tap({ onMessage: () => { throw new Error('boom'); } });
    const reader = tap(info)!;
    expect(() =>
      reader.data('c2s', Buffer.concat([PREFACE, emptySettings, frame(1, 4, 1, reqHeaders), frame(0, 0, 1, Buffer.concat([grpcFrame(Buffer.from('a')), grpcFrame(Buffer.from('b'))]))]), 1),
    ).not.toThrow();
    expect(tap.stats.handlerErrors).toBe(2);
    expect(tap.stats.messages).toBe(2);
  });
});
