// The hand-written raftpb wire reader (decodeMessage/decodeEntry, used for every message on the
// relay's thread) against the protobufjs decoder of the same .proto, on random messages that use every
// field, 64-bit values at the edges, repeated and unknown fields; plus the digest's contract.
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { prng } from '../../../src/sim/raft-sim.js';
import { payloadDigest } from '../../../src/dialects/etcd/convert.js';
import { EntryPb, MessagePb, RaftpbError, decodeEntry, decodeMessage, decodeMessageWithProtobufjs } from '../../../src/dialects/etcd/raftpb.js';

/** Deterministic PRNG (the simulator's mulberry32) so a failure names a seed that reproduces it. */
const rng = prng;

function randomU64(r: () => number, safe: boolean): Long {
  const pick = r();
  if (pick < 0.2) return Long.UZERO;
  if (pick < 0.5) return Long.fromNumber(Math.floor(r() * 1000), true);
  if (pick < 0.7) return Long.fromNumber(Math.floor(r() * 2 ** 40), true);
  if (safe || pick < 0.85) return Long.fromNumber(Number.MAX_SAFE_INTEGER - Math.floor(r() * 3), true);
  return new Long((r() * 2 ** 32) | 0, (r() * 2 ** 32) | 0, true);
}

function randomMessage(r: () => number, safe: boolean): Record<string, unknown> {
  const entries = Array.from({ length: Math.floor(r() * 4) }, () => ({
    Type: Math.floor(r() * 3),
    Term: randomU64(r, safe),
    Index: randomU64(r, safe),
    Data: r() < 0.3 ? new Uint8Array(0) : Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256))),
  }));
  const m: Record<string, unknown> = {
    type: Math.floor(r() * 19),
    to: randomU64(r, false),
    from: randomU64(r, false),
    term: randomU64(r, safe),
    logTerm: randomU64(r, safe),
    index: randomU64(r, safe),
    entries,
    commit: randomU64(r, safe),
    reject: r() < 0.5,
    rejectHint: randomU64(r, safe),
  };
  if (r() < 0.3) m['context'] = Buffer.from('ctx');
  if (r() < 0.2) {
    m['snapshot'] = {
      data: Buffer.from('{"v2":"store"}'),
      metadata: { index: randomU64(r, safe), term: randomU64(r, safe), conf_state: { voters: [randomU64(r, false), randomU64(r, false)], learners: r() < 0.5 ? [randomU64(r, false)] : [] } },
    };
  }
  for (const k of Object.keys(m)) if (r() < 0.15 && k !== 'entries') delete m[k]; // absent fields take defaults
  return m;
}

const encode = (m: Record<string, unknown>): Buffer => Buffer.from(MessagePb.encode(MessagePb.fromObject(m)).finish());

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { error: err instanceof RaftpbError ? 'RaftpbError' : String(err), message: (err as Error).message };
  }
}

describe('raftpb wire reader', () => {
  it('decodes exactly what protobufjs decodes, on 3000 random messages (64-bit IDs exact, positions above 2^53 refused alike)', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const r = rng(seed);
      const bytes = encode(randomMessage(r, seed % 3 !== 0));
      const fast = outcome(() => decodeMessage(bytes));
      const reference = outcome(() => decodeMessageWithProtobufjs(bytes));
      expect(fast, `seed ${seed}`).toEqual(reference);
    }
  });

  it('lets the last occurrence of a repeated scalar field win and skips unknown fields of every wire type', () => {
    const first = encode({ type: 3, term: Long.fromNumber(2, true), index: Long.fromNumber(5, true) });
    const second = encode({ term: Long.fromNumber(7, true) });
    // field 15 varint, field 16 fixed64, field 17 length-delimited, field 18 fixed32, field 19 group
    const unknown = Buffer.from([0x78, 0x01, 0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x8a, 0x01, 0x02, 0xaa, 0xbb, 0x95, 0x01, 1, 2, 3, 4, 0x9b, 0x01, 0x08, 0x01, 0x9c, 0x01]);
    const bytes = Buffer.concat([first, unknown, second]);
    expect(decodeMessage(bytes)).toEqual(decodeMessageWithProtobufjs(bytes));
    expect(decodeMessage(bytes)).toMatchObject({ type: 3, term: 7, index: 5 });
  });

  it('reports truncated or malformed bytes as a RaftpbError naming raftpb.Message, never anything else', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = rng(seed);
      const bytes = encode(randomMessage(r, true));
      const cut = bytes.subarray(0, Math.floor(r() * bytes.length));
      const mutated = Buffer.from(bytes);
      if (mutated.length > 0) mutated[Math.floor(r() * mutated.length)] = Math.floor(r() * 256);
      for (const b of [cut, mutated]) {
        try {
          decodeMessage(b);
        } catch (err) {
          expect(err, `seed ${seed}`).toBeInstanceOf(RaftpbError);
          expect((err as Error).message).toMatch(/^(raftpb\.Message: invalid protobuf|Message\.)/);
        }
      }
    }
  });

  it('decodes a lone Entry (msgappv2 records) like protobufjs', () => {
    const e = { Type: 1, Term: Long.fromNumber(9, true), Index: Long.fromNumber(123456789012, true), Data: Buffer.from('payload') };
    const bytes = Buffer.from(EntryPb.encode(EntryPb.fromObject(e)).finish());
    expect(decodeEntry(bytes)).toEqual({ type: 1, term: 9, index: 123456789012, data: Buffer.from('payload') });
    expect(() => decodeEntry(bytes.subarray(0, bytes.length - 2))).toThrow(/raftpb\.Entry: invalid protobuf/);
  });
});

describe('payload digest', () => {
  it('is 16 hex digits, the same for equal payloads, different for every single-bit change and every length of a prefix', () => {
    const base = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 31) & 255));
    const d = payloadDigest(base);
    expect(d).toMatch(/^[0-9a-f]{16}$/);
    expect(payloadDigest(Buffer.from(base))).toBe(d);
    const seen = new Set([d]);
    for (let bit = 0; bit < base.length * 8; bit++) {
      const b = Buffer.from(base);
      b[bit >> 3]! ^= 1 << (bit & 7);
      seen.add(payloadDigest(b));
    }
    for (let n = 0; n < base.length; n++) seen.add(payloadDigest(base.subarray(0, n)));
    expect(seen.size).toBe(1 + base.length * 8 + base.length);
  });

  it('has no collision among 200k distinct small payloads (keys and values as etcd puts carry them)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(payloadDigest(Buffer.from(`put /registry/pods/default/pod-${i} value-${i % 97}`)));
    expect(seen.size).toBe(200_000);
  });
});
