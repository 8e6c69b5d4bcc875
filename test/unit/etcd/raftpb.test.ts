// The hand-written raftpb wire reader (decodeMessage/decodeEntry, used for every message on the
// relay's thread) against the protobufjs decoder of the same .proto, on random messages that use every
// field, 64-bit values at the edges, repeated and unknown fields; plus the digest's contract.
import { readFileSync } from 'node:fs';
import Long from 'long';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { prng } from '../../../src/sim/raft-sim.js';
import { payloadDigest } from '../../../src/dialects/etcd/convert.js';
import {
  EntryPb,
  MessagePb,
  RAFTPB_PROTO_PATH,
  READER_FIELD_IDS,
  RaftpbError,
  decodeEntry,
  decodeMessage,
  decodeMessageWithProtobufjs,
  readerFieldTable,
} from '../../../src/dialects/etcd/raftpb.js';

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

  it("reuses the last small snapshot's decoding only for byte-identical snapshots, and never shares the result", () => {
    const conf = { voters: [Long.fromString('d7e0d84c9ae01c07', true, 16)], learners: [] };
    const withSnap = (index: number) => encode({ type: 7, term: Long.fromNumber(3, true), snapshot: { metadata: { conf_state: conf, index: Long.fromNumber(index, true), term: Long.fromNumber(3, true) } } });
    const empty = encode({ type: 8, snapshot: { metadata: { conf_state: { auto_leave: false }, index: Long.UZERO, term: Long.UZERO } } });
    const seq = [withSnap(10), withSnap(10), withSnap(11), empty, empty, withSnap(10)];
    const results = seq.map((b) => decodeMessage(b));
    results.forEach((r, k) => expect(r, `message ${k}`).toEqual(decodeMessageWithProtobufjs(seq[k]!)));
    expect(results.map((r) => r.snapshot?.index)).toEqual([10, 10, 11, 0, 0, 10]);
    results[0]!.snapshot!.voters.push('mutated');
    expect(results[1]!.snapshot!.voters).toEqual(['d7e0d84c9ae01c07']);
    expect(decodeMessage(withSnap(10)).snapshot!.voters).toEqual(['d7e0d84c9ae01c07']);
  });

  it('decodes a lone Entry (msgappv2 records) like protobufjs', () => {
    const e = { Type: 1, Term: Long.fromNumber(9, true), Index: Long.fromNumber(123456789012, true), Data: Buffer.from('payload') };
    const bytes = Buffer.from(EntryPb.encode(EntryPb.fromObject(e)).finish());
    expect(decodeEntry(bytes)).toEqual({ type: 1, term: 9, index: 123456789012, data: Buffer.from('payload') });
    expect(() => decodeEntry(bytes.subarray(0, bytes.length - 2))).toThrow(/raftpb\.Entry: invalid protobuf/);
  });
});

/** proto/etcd/raftpb.proto with `edit` applied, parsed as the dialect parses it. */
function editedProto(edit: (text: string) => string): protobuf.Root {
  const text = readFileSync(RAFTPB_PROTO_PATH, 'utf8');
  const edited = edit(text);
  expect(edited, 'the edit changed nothing').not.toBe(text);
  const root = new protobuf.Root();
  protobuf.parse(edited, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const NEEDS = [
  { name: 'to', type: 'uint64', repeated: false, slot: 2 },
  { name: 'entries', type: 'message raftpb.Entry', repeated: true, slot: 3 },
];

describe('raftpb wire reader: field numbers from proto/', () => {
  it('reads every field of Message (but context) and Entry by the number proto/ gives it', () => {
    const names = (t: protobuf.Type) => Object.keys(t.fields).sort();
    expect(Object.keys(READER_FIELD_IDS.Message).sort()).toEqual(names(MessagePb).filter((n) => n !== 'context'));
    expect(Object.keys(READER_FIELD_IDS.Entry).sort()).toEqual(names(EntryPb));
    for (const [name, id] of Object.entries(READER_FIELD_IDS.Message)) expect(id, `Message.${name}`).toBe(MessagePb.fields[name]!.id);
    for (const [name, id] of Object.entries(READER_FIELD_IDS.Entry)) expect(id, `Entry.${name}`).toBe(EntryPb.fields[name]!.id);
  });

  it("proto/ has etcd 3.4's field numbers (fact sheet §7, raft/raftpb/raft.proto at v3.4.23)", () => {
    expect(READER_FIELD_IDS.Message).toEqual({ type: 1, to: 2, from: 3, term: 4, logTerm: 5, index: 6, entries: 7, commit: 8, snapshot: 9, reject: 10, rejectHint: 11 });
    expect(READER_FIELD_IDS.Entry).toEqual({ Type: 1, Term: 2, Index: 3, Data: 4 });
  });

  it('builds its tag table from whatever numbers the .proto gives (a renumbered field moves with it)', () => {
    const root = editedProto((t) => t.replace('optional uint64 to = 2;', 'optional uint64 to = 40;'));
    const table = readerFieldTable(root.lookupType('raftpb.Message'), NEEDS);
    expect(table.ids).toEqual({ to: 40, entries: 7 });
    expect(table.slotOfTag[(40 << 3) | 0]).toBe(2); // varint, as uint64 is on the wire
    expect(table.slotOfTag[(7 << 3) | 2]).toBe(3); // length-delimited, as a message is
    expect(table.slotOfTag[(2 << 3) | 0]).toBe(0); // the old number is now an unknown field: skipped
    expect(table.slotOfTag[(40 << 3) | 2]).toBe(1); // the known field with another wire type: an error
  });

  it('stops at load, naming the field, when the .proto no longer fits the reader', () => {
    const message = (edit: (text: string) => string) => editedProto(edit).lookupType('raftpb.Message');
    expect(() => readerFieldTable(message((t) => t.replace('optional uint64 to = 2;', 'optional uint64 recipient = 2;')), NEEDS)).toThrow(
      /field raftpb\.Message\.to in .*raftpb\.proto is missing/,
    );
    expect(() => readerFieldTable(message((t) => t.replace('optional uint64 to = 2;', 'optional fixed64 to = 2;')), NEEDS)).toThrow(
      /field raftpb\.Message\.to in .* has type fixed64, the wire reader reads uint64/,
    );
    expect(() => readerFieldTable(message((t) => t.replace('optional uint64 to = 2;', 'repeated uint64 to = 2;')), NEEDS)).toThrow(
      /field raftpb\.Message\.to in .* is repeated, the wire reader expects a single value/,
    );
    expect(() => readerFieldTable(message((t) => t.replace('repeated Entry entries = 7;', 'repeated Snapshot entries = 7;')), NEEDS)).toThrow(
      /field raftpb\.Message\.entries in .* has type message raftpb\.Snapshot, the wire reader reads message raftpb\.Entry/,
    );
  });

  it('names the field whose wire type does not match its .proto type', () => {
    // field 2 (to) sent as length-delimited instead of a varint
    expect(() => decodeMessage(Buffer.from([0x08, 0x03, 0x12, 0x01, 0x00]))).toThrow(
      /^raftpb\.Message: invalid protobuf \(field 2 \(to\) has wire type 2, expected 0\)$/,
    );
    expect(() => decodeEntry(Buffer.from([0x22, 0x00, 0x10, 0x01, 0x1d, 1, 2, 3, 4]))).toThrow(
      /^raftpb\.Entry: invalid protobuf \(field 3 \(Index\) has wire type 5, expected 0\)$/,
    );
    expect(() => decodeMessage(Buffer.from([0x00, 0x01]))).toThrow(/invalid field tag/);
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
