// The passive HTTP/1.1 reader, driven the way the relay drives it: Tap.data(dir, chunk, t).
import { describe, expect, it } from 'vitest';
import { Http1Connection, type BodyConsumer, type Http1Handlers, type Http1ParseErrorInfo } from '../../../proxy/http1/reader.js';
import type { ConnectionInfo, Direction } from '../../../proxy/tap.js';

const conn = (id = 'n1#1'): ConnectionInfo => ({ id, member: 'n1', startedAt: 0 });

/** Records everything the reader reports, as comparable text. */
class Recorder {
  log: string[] = [];
  errors: Http1ParseErrorInfo[] = [];
  stops: string[] = [];
  bodies = new Map<string, Buffer[]>();

  consumer(key: string): BodyConsumer {
    const parts: Buffer[] = [];
    this.bodies.set(key, parts);
    return {
      data: (c) => {
        parts.push(Buffer.from(c));
      },
      end: (_t, complete) => {
        this.log.push(`end ${key} ${complete ? 'complete' : 'incomplete'} ${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`);
      },
    };
  }

  handlers(): Http1Handlers {
    return {
      onRequest: (req) => {
        this.log.push(`req#${req.seq} ${req.method} ${req.path} host=${req.headers['host'] ?? ''}`);
        return this.consumer(`req#${req.seq}`);
      },
      onResponse: (res, req) => {
        this.log.push(`res ${res.status} for #${req.seq} ${req.path} te=${res.headers['transfer-encoding'] ?? ''}`);
        return this.consumer(`res#${req.seq}`);
      },
      onError: (e) => {
        this.errors.push(e);
      },
      onStop: (r) => {
        this.stops.push(r);
      },
    };
  }
}

function chunked(parts: string[], ext = ''): string {
  return parts.map((p) => `${Buffer.byteLength(p, 'latin1').toString(16)}${ext}\r\n${p}\r\n`).join('');
}

// A keep-alive connection: a POST with Content-Length, a chunked POST with extensions and trailers,
// and a GET, answered 204, 200 chunked (with trailer), 200 Content-Length.
const C2S =
  'POST /raft HTTP/1.1\r\nHost: 127.0.0.1:24811\r\nContent-Length: 5\r\nContent-Type: application/protobuf\r\n\r\nhello' +
  'POST /raft/snapshot HTTP/1.1\r\nHost: h2\r\nTransfer-Encoding: chunked\r\n\r\n' +
  chunked(['abc', 'defgh'], ';name=value;x="q"') +
  '0\r\nX-Trailer: yes\r\n\r\n' +
  'GET /raft/probing HTTP/1.1\r\nHost: h3\r\n\r\n';
const S2C =
  'HTTP/1.1 204 No Content\r\nX-Etcd-Cluster-Id: 535181ac3dcd5695\r\n\r\n' +
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
  chunked(['stream-', 'body']) +
  '0\r\nT: 1\r\n\r\n' +
  'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"OK":true}';

const EXPECTED = [
  'req#1 POST /raft host=127.0.0.1:24811',
  'end req#1 complete "hello"',
  'req#2 POST /raft/snapshot host=h2',
  'end req#2 complete "abcdefgh"',
  'req#3 GET /raft/probing host=h3',
  'end req#3 complete ""',
  'res 204 for #1 /raft te=',
  'end res#1 complete ""',
  'res 200 for #2 /raft/snapshot te=chunked',
  'end res#2 complete "stream-body"',
  'res 200 for #3 /raft/probing te=',
  'end res#3 complete "{\\"OK\\":true}"',
];

function feed(splitsC2S: number[], splitsS2C: number[]): Recorder {
  const rec = new Recorder();
  const c = new Http1Connection(conn(), rec.handlers());
  const send = (dir: Direction, text: string, splits: number[]): void => {
    const buf = Buffer.from(text, 'latin1');
    let prev = 0;
    for (const s of [...splits, buf.length]) {
      c.data(dir, buf.subarray(prev, s), 0);
      prev = s;
    }
  };
  send('c2s', C2S, splitsC2S);
  send('s2c', S2C, splitsS2C);
  c.end(1);
  return rec;
}

describe('Http1Connection', () => {
  it('reads a keep-alive exchange in one piece', () => {
    const rec = feed([], []);
    expect(rec.errors).toEqual([]);
    expect(rec.log).toEqual(EXPECTED);
  });

  it('gives the same result for a split at every byte position, in both directions', () => {
    for (let k = 1; k < C2S.length; k++) {
      const rec = feed([k], []);
      expect(rec.errors, `c2s split at ${k}`).toEqual([]);
      expect(rec.log, `c2s split at ${k}`).toEqual(EXPECTED);
    }
    for (let k = 1; k < S2C.length; k++) {
      const rec = feed([], [k]);
      expect(rec.errors, `s2c split at ${k}`).toEqual([]);
      expect(rec.log, `s2c split at ${k}`).toEqual(EXPECTED);
    }
  });

  it('reads one byte at a time', () => {
    const ones = (s: string): number[] => Array.from({ length: s.length - 1 }, (_, i) => i + 1);
    const rec = feed(ones(C2S), ones(S2C));
    expect(rec.errors).toEqual([]);
    expect(rec.log).toEqual(EXPECTED);
  });

  it('pairs pipelined responses with their requests in order, and skips 1xx interim responses', () => {
    const rec = new Recorder();
    const c = new Http1Connection(conn(), rec.handlers());
    c.data('c2s', Buffer.from('GET /version HTTP/1.1\r\nHost: a\r\n\r\nGET /members HTTP/1.1\r\nHost: b\r\n\r\n'), 0);
    c.data(
      's2c',
      Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nvHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nm'),
      0,
    );
    expect(rec.errors).toEqual([]);
    expect(rec.log.filter((l) => l.startsWith('res') || l.startsWith('end res'))).toEqual([
      'res 200 for #1 /version te=',
      'end res#1 complete "v"',
      'res 404 for #2 /members te=',
      'end res#2 complete "m"',
    ]);
  });

  it('hands on a never-ending stream response as it arrives, before any chunk is complete', () => {
    const got: string[] = [];
    let ended = '';
    const c = new Http1Connection(conn(), {
      onResponse: () => ({ data: (b) => void got.push(b.toString()), end: (_t, complete) => void (ended = String(complete)) }),
    });
    c.data('c2s', Buffer.from('GET /raft/stream/message/1543619170000d86 HTTP/1.1\r\nHost: x\r\nX-Raft-To: d7e0d84c9ae01c07\r\n\r\n'), 0);
    c.data('s2c', Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123'), 0);
    expect(got.join('')).toBe('0123'); // 4 of 16 chunk bytes delivered at once
    c.data('s2c', Buffer.from('456789abcdef\r\n3\r\nxyz\r\n'), 0);
    expect(got.join('')).toBe('0123456789abcdefxyz');
    expect(ended).toBe('');
    c.end(5); // the connection died mid-stream
    expect(ended).toBe('false');
  });

  it('skips the rest of a body its consumer declined, without buffering it, and keeps reading the connection', () => {
    const seen: number[] = [];
    let requests = 0;
    let endedComplete: boolean | undefined;
    const c = new Http1Connection(conn(), {
      onRequest: (req) => {
        requests++;
        if (req.path !== '/raft/snapshot') return undefined;
        return {
          data: (b) => {
            seen.push(b.length);
            return false; // got what it needed
          },
          end: (_t, complete) => void (endedComplete = complete),
        };
      },
    });
    c.data('c2s', Buffer.from('POST /raft/snapshot HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'), 0);
    const block = Buffer.alloc(64 * 1024, 0xed);
    const chunkHead = Buffer.from(`${block.length.toString(16)}\r\n`);
    const crlf = Buffer.from('\r\n');
    const before = process.memoryUsage().arrayBuffers;
    for (let k = 0; k < 800; k++) {
      // 50 MiB of "database" in 64 KiB chunks, the same buffers every time
      c.data('c2s', chunkHead, 0);
      c.data('c2s', block, 0);
      c.data('c2s', crlf, 0);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    c.data('c2s', Buffer.from('0\r\n\r\nPOST /raft HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(seen).toEqual([block.length]); // called once, then never again
    expect(endedComplete).toBe(false);
    expect(requests).toBe(2); // framing went on through 50 MiB: the next request was read
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });

  it('leaves an HTTP/2 (h2c) connection alone: no requests, no error', () => {
    const rec = new Recorder();
    const c = new Http1Connection(conn(), rec.handlers());
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    c.data('c2s', preface.subarray(0, 5), 0);
    c.data('s2c', settings, 0); // the server may answer before we saw the whole preface
    c.data('c2s', Buffer.concat([preface.subarray(5), settings]), 0);
    c.data('s2c', settings, 0);
    c.end(1);
    expect(rec.errors).toEqual([]);
    expect(rec.log).toEqual([]);
    expect(rec.stops).toEqual(['http2']);
  });

  it('stops reading after 101 Switching Protocols, without an error', () => {
    const rec = new Recorder();
    const c = new Http1Connection(conn(), rec.handlers());
    c.data('c2s', Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05binary'), 0);
    c.data('s2c', Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x00garbage'), 0);
    c.data('c2s', Buffer.from('\x00\xff\xfe not http'), 0);
    expect(rec.errors).toEqual([]);
    expect(rec.stops).toEqual(['upgrade']);
    expect(rec.log).toEqual(['req#1 GET /ws host=x', 'end req#1 complete ""']);
  });

  it('reports garbage once, with connection, direction and offset, then reads no more', () => {
    const rec = new Recorder();
    const c = new Http1Connection(conn('n2#7'), rec.handlers());
    c.data('c2s', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0);
    c.data('s2c', Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n'), 0);
    c.data('s2c', Buffer.from('more garbage'), 0);
    c.data('c2s', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
    expect(rec.errors).toHaveLength(1);
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n';
    expect(rec.errors[0]).toEqual({ connection: 'n2#7', direction: 's2c', offset: head.length, message: expect.stringContaining('hex chunk size') });
    expect(rec.log).toEqual(['req#1 GET / host=x', 'end req#1 complete ""', 'res 200 for #1 / te=chunked', 'end res#1 incomplete "abcde"']);
    expect(rec.stops).toEqual(['error']);
  });

  it('rejects a bad request line, an oversized head, a bad Content-Length and a response nobody asked for', () => {
    const cases: [Direction, string, RegExp][] = [
      ['c2s', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', /bad request line/],
      ['c2s', 'GET / HTTP/1.1\r\nX: ' + 'a'.repeat(70_000), /head longer than 65536/],
      ['c2s', 'POST /raft HTTP/1.1\r\nContent-Length: -1\r\n\r\n', /bad Content-Length/],
      ['s2c', 'HTTP/1.1 200 OK\r\n\r\n', /no request awaiting/],
    ];
    for (const [dir, text, re] of cases) {
      const rec = new Recorder();
      const c = new Http1Connection(conn(), rec.handlers());
      expect(() => c.data(dir, Buffer.from(text, 'latin1'), 0)).not.toThrow();
      expect(rec.errors, text.slice(0, 20)).toHaveLength(1);
      expect(rec.errors[0]!.direction).toBe(dir);
      expect(rec.errors[0]!.message).toMatch(re);
    }
  });

  it('survives a consumer that throws, and keeps framing', () => {
    const rec = new Recorder();
    let n = 0;
    const c = new Http1Connection(conn(), {
      onRequest: (req) => {
        n++;
        if (req.seq === 1)
          return {
            data: () => {
              throw new Error('boom');
            },
            end: () => {
              throw new Error('boom');
            },
          };
        return undefined;
      },
      onError: (e) => rec.errors.push(e),
    });
    c.data('c2s', Buffer.from('POST /raft HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /raft HTTP/1.1\r\nContent-Length: 0\r\n\r\n'), 0);
    expect(n).toBe(2);
    expect(rec.errors).toEqual([]);
  });
});
