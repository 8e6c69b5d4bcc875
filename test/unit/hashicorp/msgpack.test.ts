// The incremental msgpack reader and the NetworkTransport framing, on byte vectors from the fact
// sheet (shared/research/hashicorp-raft.md §3.4, §4) and on every chunk split of them.
import { describe, expect, it } from 'vitest';
import { MsgpackError, MsgpackReader, rawText, type MsgMap, type MsgValue } from '../../../src/dialects/hashicorp/msgpack.js';
import { FramingError, RequestStream, ResponseStream, type RequestFrame, type ResponseFrame } from '../../../src/dialects/hashicorp/transport.js';
import { appendEntries, appendResp, enc, installSnapshot, timeoutNow } from './gomsgpack.js';

const s = (text: string): number[] => [...Buffer.from(text, 'latin1')];
const raw = (text: string): number[] => {
  const b = Buffer.from(text);
  if (b.length >= 32) throw new Error('fixstr only');
  return [0xa0 | b.length, ...b];
};

/** Reads every top-level value of bytes fed in the given chunk sizes. */
function readAll(bytes: Uint8Array, cuts: number[] = []): MsgValue[] {
  const r = new MsgpackReader();
  const out: MsgValue[] = [];
  let prev = 0;
  for (const end of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(prev, end);
    prev = end;
    let pos = 0;
    while (pos < chunk.length) {
      pos = r.read(chunk, pos);
      if (r.done) {
        out.push(r.value);
        r.reset();
      }
    }
  }
  expect(r.inProgress).toBe(false);
  return out;
}

/** Every way to cut bytes into two and three chunks gives the same values as one chunk. */
function everySplit(bytes: Uint8Array, check: (vals: MsgValue[]) => void): void {
  check(readAll(bytes));
  for (let a = 1; a < bytes.length; a++) check(readAll(bytes, [a]));
  for (let a = 1; a < bytes.length; a += 3) for (let b = a + 1; b < bytes.length; b += 2) check(readAll(bytes, [a, b]));
  // one byte at a time
  check(readAll(bytes, Array.from({ length: bytes.length - 1 }, (_, k) => k + 1)));
}

const TIMEOUT_NOW_REQ = Buffer.from([0x03, 0x81, 0xaf, ...s('ProtocolVersion'), 0x03]);
const TIMEOUT_NOW_RESP = Buffer.from([0xa0, 0x81, 0xaf, ...s('ProtocolVersion'), 0x00]);
const APPEND_RESP = Buffer.from([
  0xa0, 0x85, 0xa7, ...s('LastLog'), 0x00, 0xae, ...s('NoRetryBackoff'), 0xc3, 0xaf, ...s('ProtocolVersion'), 0x03, 0xa7, ...s('Success'), 0xc2, 0xa4, ...s('Term'), 0x02,
]);
// The captured start of an AppendEntries request (entry 2/2 LogNoop), completed with the remaining keys.
const APPEND_REQ = Buffer.from([
  0x00, 0x87,
  0xa7, ...s('Entries'), 0x91, 0x85, 0xa4, ...s('Data'), 0xc0, 0xaa, ...s('Extensions'), 0xc0, 0xa5, ...s('Index'), 0x02, 0xa4, ...s('Term'), 0x02, 0xa4, ...s('Type'), 0x01,
  0xa6, ...s('Leader'), 0xaf, ...s('127.0.0.1:22001'),
  ...raw('LeaderCommitIndex'), 0x01,
  ...raw('PrevLogEntry'), 0x01,
  ...raw('PrevLogTerm'), 0x02,
  ...raw('ProtocolVersion'), 0x03,
  ...raw('Term'), 0x02,
]);

describe('msgpack reader: values', () => {
  it('reads the fact sheet’s integer, raw and nil encodings', () => {
    expect(readAll(Buffer.from([0xcd, 0x01, 0x2f]))).toEqual([303]); // index 303
    expect(readAll(Buffer.from([0xcc, 0x80]))).toEqual([128]); // Size 128 (0.5.5)
    expect(readAll(Buffer.from([0xd1, 0x00, 0x80]))).toEqual([128]); // Size 128 (go-msgpack/v2 signed)
    expect(readAll(Buffer.from([0xc0, 0xc2, 0xc3, 0x90]))).toEqual([null, false, true, []]);
    const data = Buffer.alloc(133, 0x61);
    const [v] = readAll(Buffer.concat([Buffer.from([0xda, 0x00, 0x85]), data]));
    expect(v).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(v as Uint8Array).equals(data)).toBe(true);
    expect(readAll(Buffer.from([0xa0]))).toEqual([new Uint8Array(0)]);
  });

  it('keeps uint64 above 2^53 exact as bigint, and safe ones as numbers', () => {
    const max = Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(readAll(max)).toEqual([18446744073709551615n]);
    expect(readAll(Buffer.from([0xcf, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]))).toEqual([9007199254740992n]); // 2^53
    expect(readAll(Buffer.from([0xcf, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toEqual([9007199254740991]); // 2^53 - 1
    expect(readAll(Buffer.from([0xce, 0xff, 0xff, 0xff, 0xff]))).toEqual([4294967295]);
    expect(readAll(Buffer.from([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]))).toEqual([-9223372036854775808n]);
    expect(readAll(Buffer.from([0xff, 0xd0, 0x80]))).toEqual([-1, -128]);
    expect(readAll(enc(2n ** 63n + 5n))).toEqual([2n ** 63n + 5n]);
  });

  it('reads the newer families too (str8, bin, ext, floats) so an upgraded encoder is not refused', () => {
    expect(rawText(readAll(Buffer.from([0xd9, 0x02, 0x68, 0x69]))[0])).toBe('hi');
    expect(readAll(Buffer.from([0xc4, 0x01, 0x07]))).toEqual([new Uint8Array([7])]);
    expect(readAll(Buffer.from([0xd4, 0x05, 0x09]))).toEqual([{ ext: 5, data: new Uint8Array([9]) }]);
    expect(readAll(Buffer.from([0xc7, 0x02, 0xff, 1, 2]))).toEqual([{ ext: -1, data: new Uint8Array([1, 2]) }]);
    expect(readAll(Buffer.from([0xca, 0x3f, 0x80, 0, 0, 0xcb, 0x40, 0, 0, 0, 0, 0, 0, 0]))).toEqual([1, 2]);
  });

  it('maps keep wire keys as strings (a "__proto__" key is just a key)', () => {
    const [m] = readAll(enc({ __proto__x: 1, b: [1, 2, { c: null }] }).subarray(0)) as MsgMap[];
    expect(m).toBeInstanceOf(Map);
    expect(m!.get('__proto__x')).toBe(1);
    const [p] = readAll(Buffer.from([0x81, 0xa9, ...s('__proto__'), 0x01])) as MsgMap[];
    expect(p!.get('__proto__')).toBe(1);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('gives the same values for every chunk split of a real AppendEntries request', () => {
    everySplit(APPEND_REQ, (vals) => {
      expect(vals.length).toBe(2);
      expect(vals[0]).toBe(0);
      const m = vals[1] as MsgMap;
      expect([...m.keys()]).toEqual(['Entries', 'Leader', 'LeaderCommitIndex', 'PrevLogEntry', 'PrevLogTerm', 'ProtocolVersion', 'Term']);
      expect(rawText(m.get('Leader'))).toBe('127.0.0.1:22001');
      const e = (m.get('Entries') as MsgMap[])[0]!;
      expect([e.get('Index'), e.get('Term'), e.get('Type'), e.get('Data')]).toEqual([2, 2, 1, null]);
    });
  });

  it('the test encoder writes the fact sheet’s bytes (it is checked, not trusted)', () => {
    expect(timeoutNow().equals(TIMEOUT_NOW_REQ)).toBe(true);
    expect(appendResp({ LastLog: 0, NoRetryBackoff: true, Success: false, Term: 2 }).equals(APPEND_RESP)).toBe(true);
    const built = appendEntries({ Term: 2, Leader: '127.0.0.1:22001', PrevLogEntry: 1, PrevLogTerm: 2, LeaderCommitIndex: 1, Entries: [{ Index: 2, Term: 2, Type: 1 }] });
    expect(built.equals(APPEND_REQ)).toBe(true);
    expect(enc(Buffer.alloc(133)).subarray(0, 3)).toEqual(Buffer.from([0xda, 0x00, 0x85]));
  });

  it('refuses what is not msgpack or breaks a bound, with the offset, and never reads past it', () => {
    const bad = (bytes: number[], limits = {}): MsgpackError => {
      const r = new MsgpackReader(limits);
      try {
        r.read(Buffer.from(bytes), 0);
      } catch (err) {
        expect(err).toBeInstanceOf(MsgpackError);
        return err as MsgpackError;
      }
      throw new Error('no error');
    };
    expect(bad([0x81, 0xa1, 0x61, 0xc1]).offset).toBe(3);
    expect(bad([0x81, 0xc0, 0x01]).message).toMatch(/map key is nil/);
    expect(bad([0xdb, 0xff, 0xff, 0xff, 0xff]).message).toMatch(/over the .*-byte value limit/);
    expect(bad([0xdd, 0xff, 0xff, 0xff, 0xff]).message).toMatch(/array of 4294967295 elements/);
    expect(bad([0xdf, 0x7f, 0xff, 0xff, 0xff]).message).toMatch(/map of/);
    expect(bad(new Array(40).fill(0x91)).message).toMatch(/nesting deeper than 32/);
    expect(bad([0x93, 1, 2, 3], { maxValues: 3 }).message).toMatch(/array of 3 elements is over the per-message limits/); // refused at its header
    expect(bad([0x92, 0x92, 1, 2, 3], { maxValues: 4 }).message).toMatch(/more than 4 values/);
    expect(bad([0xa5, 1, 2, 3, 4, 5], { maxValueBytes: 4 }).message).toMatch(/over the 4-byte value limit/);
  });
});

function requests(bytes: Uint8Array, cuts: number[] = []): RequestFrame[] {
  const st = new RequestStream();
  const out: RequestFrame[] = [];
  let prev = 0;
  for (const end of [...cuts, bytes.length]) {
    st.data(bytes.subarray(prev, end), (f) => out.push(f));
    prev = end;
  }
  return out;
}

function responses(bytes: Uint8Array, cuts: number[] = []): ResponseFrame[] {
  const st = new ResponseStream();
  const out: ResponseFrame[] = [];
  let prev = 0;
  for (const end of [...cuts, bytes.length]) {
    st.data(bytes.subarray(prev, end), (f) => out.push(f));
    prev = end;
  }
  return out;
}

describe('NetworkTransport framing', () => {
  const snapData = Buffer.from(JSON.stringify({ k1: 'v1', k2: 'v2', _count: '13' }).padEnd(128, ' '));
  const reqStream = Buffer.concat([
    APPEND_REQ,
    TIMEOUT_NOW_REQ,
    installSnapshot({ Term: 5, Leader: '127.0.0.1:22003', LastLogIndex: 13, LastLogTerm: 5, Size: 128 }, snapData),
    // snapshot bytes that look like rpc frames must be skipped, not parsed: the next frame follows them
    appendEntries({ Term: 5, Leader: '127.0.0.1:22003' }),
  ]);

  it('splits a request stream into frames for every chunk split, skipping snapshot bytes', () => {
    const check = (fs: RequestFrame[]): void => {
      expect(fs.map((f) => f.rpc)).toEqual([0, 3, 2, 0]);
      expect(fs.map((f) => f.offset)).toEqual([0, APPEND_REQ.length, APPEND_REQ.length + 19, reqStream.length - appendEntries({ Term: 5, Leader: '127.0.0.1:22003' }).length]);
      expect(fs[2]!.snapshotSize).toBe(128);
      expect(fs[3]!.body.get('Entries')).toBeNull();
    };
    check(requests(reqStream));
    for (let a = 1; a < reqStream.length; a++) check(requests(reqStream, [a]));
    for (let a = 1; a < reqStream.length; a += 7) for (let b = a + 1; b < reqStream.length; b += 5) check(requests(reqStream, [a, b]));
  });

  it('a snapshot whose data is mostly still to come is skipped without being kept', () => {
    const head = installSnapshot({ Term: 5, Leader: 'a:1', LastLogIndex: 13, LastLogTerm: 5, Size: 1 << 30 }, Buffer.alloc(0));
    const st = new RequestStream();
    const fs: RequestFrame[] = [];
    st.data(head, (f) => fs.push(f));
    expect(fs[0]!.snapshotSize).toBe(1 << 30);
    const mb = Buffer.alloc(1 << 20, 0x00); // zero bytes would be AppendEntries type bytes if parsed
    for (let k = 0; k < 1024; k++) st.data(mb, (f) => fs.push(f));
    expect(st.skipping).toBe(0);
    expect(st.idle).toBe(true);
    st.data(TIMEOUT_NOW_REQ, (f) => fs.push(f));
    expect(fs.map((f) => f.rpc)).toEqual([2, 3]);
  });

  it('responses: error string then map, or nil after an error; every split', () => {
    const bytes = Buffer.concat([APPEND_RESP, TIMEOUT_NOW_RESP, enc('unexpected command'), Buffer.from([0xc0]), APPEND_RESP]);
    const check = (fs: ResponseFrame[]): void => {
      expect(fs.map((f) => f.error)).toEqual(['', '', 'unexpected command', '']);
      expect(fs[2]!.body).toBeNull();
      expect(fs[0]!.body!.get('Success')).toBe(false);
      expect(fs[1]!.body!.get('ProtocolVersion')).toBe(0);
      expect(fs.map((f) => f.offset)).toEqual([0, APPEND_RESP.length, APPEND_RESP.length + TIMEOUT_NOW_RESP.length, bytes.length - APPEND_RESP.length]);
    };
    check(responses(bytes));
    for (let a = 1; a < bytes.length; a++) check(responses(bytes, [a]));
  });

  it('an unknown rpc type byte is a framing error at its offset; the stream then stays dead', () => {
    const st = new RequestStream();
    const fs: RequestFrame[] = [];
    const bytes = Buffer.concat([TIMEOUT_NOW_REQ, Buffer.from([0x07, 0x80])]);
    let err: unknown;
    try {
      st.data(bytes, (f) => fs.push(f));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FramingError);
    expect((err as FramingError).offset).toBe(19);
    expect((err as FramingError).message).toMatch(/unknown rpc type byte 0x07/);
    expect(fs.length).toBe(1);
    expect(st.dead).toBe(true);
    st.data(TIMEOUT_NOW_REQ, (f) => fs.push(f)); // ignored once dead
    expect(fs.length).toBe(1);
  });

  it('a msgpack error inside a request is reported at its offset in the direction', () => {
    const bytes = Buffer.concat([TIMEOUT_NOW_REQ, Buffer.from([0x00, 0x81, 0xa1, 0x61, 0xc1])]);
    for (let a = 1; a < bytes.length; a++) {
      const st = new RequestStream();
      let err: FramingError | undefined;
      try {
        st.data(bytes.subarray(0, a), () => {});
        st.data(bytes.subarray(a), () => {});
      } catch (e) {
        err = e as FramingError;
      }
      expect(err?.offset, `cut at ${a}`).toBe(19 + 4);
      expect(err?.message).toMatch(/0xc1 is not a msgpack type/);
    }
  });

  it('a request that is not a map, or a snapshot without a usable Size, is refused', () => {
    expect(() => requests(Buffer.from([0x01, 0x05]))).toThrow(/RequestVote request is a number, expected a msgpack map/);
    expect(() => requests(Buffer.concat([Buffer.from([0x02]), enc({ Size: null })]))).toThrow(/InstallSnapshot Size is nil/);
    expect(() => requests(Buffer.concat([Buffer.from([0x02]), enc({ Size: 2n ** 60n })]))).toThrow(/InstallSnapshot Size is 1152921504606846976/);
    expect(() => responses(Buffer.from([0x05]))).toThrow(/error slot is a number/);
    expect(() => responses(Buffer.from([0xa0, 0x91, 0x01]))).toThrow(/response is an array/);
  });

  it('truncated and corrupted streams never throw anything but FramingError', () => {
    const all = Buffer.concat([reqStream]);
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let trial = 0; trial < 2000; trial++) {
      const b = Buffer.from(all.subarray(0, Math.floor(rnd() * all.length)));
      for (let k = 0; k < 3; k++) if (b.length > 0) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      for (const St of [RequestStream, ResponseStream]) {
        const st = new St();
        try {
          st.data(b.subarray(0, b.length >> 1), () => {});
          st.data(b.subarray(b.length >> 1), () => {});
        } catch (err) {
          expect(err).toBeInstanceOf(FramingError);
          expect((err as FramingError).offset).toBeGreaterThanOrEqual(0);
          expect((err as FramingError).offset).toBeLessThanOrEqual(b.length);
        }
      }
    }
  });
});
