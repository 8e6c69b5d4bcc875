// The capture reader's fast path (src/events/fast-line.ts) against its contract: whenever it returns
// an event, JSON.parse + validateEvent accept the same line and give an equal event (up to the fields
// the line did not carry, which the fast path sets undefined so that every event has one shape). It
// may decline any line (the general path then reads it); it must never accept a line the general
// path rejects, or read a value differently.
import { describe, expect, it } from 'vitest';
import { appendFromFields, lineEnd, parseEventLine, setBlock } from '../../../src/events/fast-line.js';
import { isProblem, validateEvent } from '../../../src/events/validate.js';
import type { AppendEvent, RaftEvent } from '../../../src/events/types.js';
import { runSim, type BugSwitch } from '../../../src/sim/index.js';

/**
 * The fast path on `line` inside a block, as the reader calls it: bytes around the line must not leak
 * into it. `limit` as the reader passes it: the end of the block (the line is followed by a newline and
 * another line), or the line's own end (the last line of a block). Returns the event and the line it
 * says it read (up to its lineEnd()), which the general path must read the same.
 */
function fastAt(line: string, limit: 'block' | 'line'): { ev: RaftEvent; read: string } | undefined {
  const bytes = Buffer.from(`{"x":1}\n${line}\n{"type":"vote"}`, 'utf8');
  const start = 8;
  const lineBytes = Buffer.byteLength(line, 'utf8');
  setBlock(bytes);
  const ev = parseEventLine(start, limit === 'block' ? bytes.length : start + lineBytes);
  if (ev === undefined) return undefined;
  const end = lineEnd();
  // It may stop only at the limit or at a newline (a line with a newline inside is two lines to the reader).
  if (end !== start + lineBytes && bytes[end] !== 0x0a) throw new Error(`fast path stopped inside a line at byte ${end - start}: ${line}`);
  return { ev, read: bytes.toString('utf8', start, end) };
}

function fast(line: string): RaftEvent | undefined {
  const a = fastAt(line, 'line');
  const b = fastAt(line, 'block');
  // Bounded by the line or by the block, it must read the same.
  expect(b?.ev, line).toStrictEqual(a?.ev);
  expect(b?.read, line).toBe(a?.read);
  if (a !== undefined && a.read !== line) {
    // The line held a newline: what the fast path read is the first line, which the general path must read the same.
    sameAsGeneral(a.ev, a.read);
    return undefined;
  }
  return a?.ev;
}

function general(line: string): RaftEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  const ev = validateEvent(parsed);
  return isProblem(ev) ? undefined : ev;
}

/** The contract for one line; returns whether the fast path took it. */
function check(line: string): boolean {
  const f = fast(line);
  if (f === undefined) return false;
  sameAsGeneral(f, line);
  return true;
}

/**
 * The fast path's event for `line` is the general path's: one shape for every event (all the
 * contract's fields in the writers' order, those the line did not carry undefined), and without
 * those, the same fields with the same values.
 */
function sameAsGeneral(f: RaftEvent, line: string): void {
  const g = general(line);
  if (g === undefined) throw new Error(`fast path accepted a line the general path rejects: ${line}`);
  expect(Object.keys(f), line).toEqual(EVENT_KEYS);
  expect(carried(f), line).toStrictEqual(g);
}

const EVENT_KEYS = ['type', 't', 'from', 'to', 'term', 'id', 'prevIndex', 'prevTerm', 'entries', 'commit', 'success', 'match', 'hint', 'lastIndex', 'lastTerm', 'granted', 'pre'];

/** The event without its undefined fields. */
function carried(ev: RaftEvent): Record<string, unknown> {
  return Object.fromEntries(Object.entries(ev).filter(([, v]) => v !== undefined));
}

function shuffledKeys(ev: RaftEvent, rnd: () => number): string {
  const keys = Object.keys(ev);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, (ev as unknown as Record<string, unknown>)[k]])));
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const BUGS: Array<BugSwitch | undefined> = [undefined, 'noNoopOnElection', 'noTermCheck', 'votedForNotPersisted', 'truncateCommitted', 'divergentSameIndexTerm'];

describe('capture fast path', () => {
  it('takes every simulator line and reads it exactly as JSON.parse + validateEvent, in any key order', () => {
    const rnd = rng(7);
    let lines = 0;
    const types = new Set<string>();
    for (const [i, bug] of BUGS.entries()) {
      for (const nodes of [3, 5, 7] as const) {
        const { events } = runSim({ seed: 100 + i, nodes, bug, preVote: i % 2 === 0, durationMs: 3000 });
        for (const ev of events) {
          const line = JSON.stringify(ev);
          expect(check(line), line).toBe(true);
          // A line in the writers' key order writes back as itself.
          expect(JSON.stringify(fast(line)), line).toBe(line);
          expect(check(shuffledKeys(ev, rnd)), line).toBe(true);
          types.add(ev.type);
          lines++;
        }
      }
    }
    expect(lines).toBeGreaterThan(10_000);
    expect([...types].sort()).toEqual(expect.arrayContaining(['append', 'append_resp', 'timeout_now', 'vote', 'vote_resp']));
  });

  it('takes the lines each dialect writes (their key orders, without ids) and every type it covers', () => {
    const lines = [
      // etcd dialect order: t, from, to, term, type, …
      '{"t":1.25,"from":"n1","to":"n2","term":3,"type":"append","prevIndex":4,"prevTerm":2,"commit":4,"entries":[{"index":5,"term":3,"kind":"noop","size":0},{"index":6,"term":3,"kind":"data","digest":"9f86d081884c7d65","size":256}]}',
      '{"t":1.5,"from":"n2","to":"n1","term":3,"type":"append_resp","success":true,"match":6}',
      '{"t":1.5,"from":"n2","to":"n1","term":3,"type":"append_resp","success":false,"hint":2}',
      '{"t":2,"from":"n1","to":"n2","term":3,"type":"heartbeat","commit":5}',
      '{"t":2,"from":"n2","to":"n1","term":3,"type":"heartbeat_resp"}',
      '{"t":3,"from":"n1","to":"n3","term":4,"type":"vote","lastIndex":6,"lastTerm":3,"pre":true}',
      '{"t":3,"from":"n3","to":"n1","term":4,"type":"vote_resp","granted":false,"pre":true}',
      '{"t":4,"from":"n1","to":"n3","term":4,"type":"snapshot","lastIndex":100,"lastTerm":4}',
      '{"t":4,"from":"n3","to":"n1","term":4,"type":"snapshot_resp","success":true,"match":100}',
      '{"t":5,"from":"n1","to":"n2","term":4,"type":"timeout_now"}',
      // hashicorp order: t, from, to, term, id, type, …
      '{"t":6,"from":"node-a","to":"node-b","term":7,"id":"node-a>node-b#1234567890","type":"append","prevIndex":0,"prevTerm":0,"entries":[],"commit":0}',
      '{"t":6.001,"from":"node-b","to":"node-a","term":7,"id":"node-a>node-b#1234567890","type":"append_resp","success":true,"match":0}',
      // etcd member ids as names, negative and zero times, a vote without `pre` (read as false)
      '{"t":-0.5,"from":"8e9e05c52164694d","to":"91bc3c398fb3c146","term":2,"type":"vote","lastIndex":0,"lastTerm":0}',
      '{"t":0,"from":"a","to":"b","term":0,"type":"vote_resp","granted":true}',
      // one, three and four entries (arrays of one and two are literals, longer ones a slice)
      '{"t":7,"from":"n1","to":"n2","term":3,"type":"append","prevIndex":6,"prevTerm":3,"commit":6,"entries":[{"index":7,"term":3,"kind":"data","size":1}]}',
      '{"t":7,"from":"n1","to":"n2","term":3,"type":"append","prevIndex":6,"prevTerm":3,"commit":6,"entries":[{"index":7,"term":3,"kind":"data"},{"index":8,"term":3,"kind":"data"},{"index":9,"term":3,"kind":"config","size":3}]}',
      '{"t":7,"from":"n1","to":"n2","term":3,"type":"append","prevIndex":6,"prevTerm":3,"commit":6,"entries":[{"index":7,"term":3,"kind":"data"},{"index":8,"term":3,"kind":"data"},{"index":9,"term":3,"kind":"data"},{"index":10,"term":3,"kind":"noop"}]}',
    ];
    for (const line of lines) expect(check(line), line).toBe(true);
    expect(fast(lines[12]!)).toMatchObject({ pre: false });
    expect(fast(lines[0]!)).toMatchObject({ entries: [{ index: 5 }, { index: 6, digest: '9f86d081884c7d65' }] });
    expect((fast(lines[16]!) as { entries: unknown[] }).entries.map((e) => (e as { index: number }).index)).toEqual([7, 8, 9, 10]);
    // The scratch array for long entry lists is not shared between events.
    expect((fast(lines[15]!) as { entries: unknown[] }).entries).toHaveLength(3);
    expect((fast(lines[16]!) as { entries: unknown[] }).entries).not.toBe((fast(lines[16]!) as { entries: unknown[] }).entries);
  });

  it('declines what it does not cover, and what the general path rejects', () => {
    const ok = '{"type":"heartbeat","t":10.5,"from":"n1","to":"n2","term":3,"commit":4}';
    expect(check(ok)).toBe(true);
    const declined = [
      ok.replace('10.5', '1.05e1'), // an exponent
      ok.replace('10.5', '10.50000000000000001'), // more digits than a double keeps exactly by this path
      ok.replace('"commit":4', '"commit":4.5'), // not an index
      ok.replace('"commit":4', '"commit":4.0'), // index 4 to JSON.parse, but a fraction on the wire: general path
      ok.replace('"commit":4', '"commit":4E0'),
      ok.replace('"commit":4', '"commit":0.0'),
      ok.replace('"commit":4', '"commit":0e1'),
      ok.replace('"commit":4', '"commit":00'),
      ok.replace('"commit":4', '"commit":-4'),
      ok.replace('"commit":4', '"commit":04'), // leading zero: not JSON
      ok.replace('"commit":4', '"commit":"4"'),
      ok.replace('"commit":4', '"commit":null'),
      ok.replace('"commit":4', '"commit":9007199254740993'), // beyond 2^53
      ok.replace('"commit":4', '"commit":4,"extra":1'), // unknown extra field: the general path keeps it
      ok.replace('"commit":4', '"commit":4,"granted":true'), // a field of another type
      ok.replace('"commit":4', '"commit":4,"pre":true'),
      ok.replace(',"commit":4', ''), // required field missing
      ok.replace('"n1"', '""'), // empty node id
      ok.replace('"n1"', '"n\\u0031"'), // an escape
      ok.replace('"n1"', '"n\t1"'), // a raw control character: not JSON
      ok.replace('"n1"', '"nø1"'), // UTF-8 (two bytes): the general path decodes it
      ok.replace('"n1"', '"n1€"'), // three bytes
      '{"type":"append_resp","t":1,"from":"n1","to":"n2","term":1,"id":"Ã©","success":true}', // latin1-looking text is still UTF-8 bytes
      ok.replace(',"t"', ', "t"'), // whitespace
      ok + ' ',
      ok + '\r',
      ok.slice(0, -1), // unterminated
      ok.replace('"heartbeat"', '"heartbeats"'),
      ok.replace('"heartbeat"', '"heart"'),
      ok.replace('"heartbeat"', '"noop"'), // rare types take the general path
      ok.replace('"heartbeat"', '"heartbeat_resp"').replace(',"commit":4', '').replace('"term":3', '"term":3,"commit":1'),
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":2,"term":1,"kind":"data"}]}', // not consecutive
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1,"kind":"config","voters":["n1"]}]}',
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1,"kind":"other"}]}',
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1}]}',
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":{}}',
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1,"kind":"data"},{"index":2,"term":1,"kind":"data"},{"index":3,"term":1}]}', // third entry bad
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":1,"kind":"data"},{"index":2,"term":1,"kind":"data"},{"index":3,"term":1,"kind":"data"}}', // unclosed list
      '{"type":"append","t":1,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"lastIndex":0,"commit":0,"entries":[]}',
      '{"type":"vote_resp","t":1,"from":"n1","to":"n2","term":1,"granted":tru}',
      '{"type":"vote_resp","t":1,"from":"n1","to":"n2","term":1,"granted":1}',
      '{}',
      '[]',
      '',
    ];
    for (const line of declined) expect(fast(line), line).toBeUndefined();
  });

  it('rebuilds an append it read from its contract fields, identical to the original (what the digest window keeps)', () => {
    for (const line of [
      '{"type":"append","t":204.146,"from":"n2","to":"n1","term":1,"id":"n2>n1#5","prevIndex":0,"prevTerm":0,"entries":[{"index":1,"term":1,"kind":"noop","digest":"0000000000000001","size":0}],"commit":0}',
      '{"type":"append","t":7,"from":"n1","to":"n2","term":3,"prevIndex":6,"prevTerm":3,"entries":[{"index":7,"term":3,"kind":"data"},{"index":8,"term":3,"kind":"data"}],"commit":6}',
    ]) {
      const ev = fast(line) as AppendEvent;
      const again = appendFromFields(ev.t, ev.from, ev.to, ev.term, ev.id, ev.prevIndex, ev.prevTerm, ev.entries, ev.commit);
      expect(Object.keys(again)).toEqual(Object.keys(ev));
      expect(again).toStrictEqual(ev);
      expect(JSON.stringify(again)).toBe(line);
    }
  });

  it('never disagrees with the general path on 200,000 mutated lines', () => {
    const rnd = rng(11);
    const { events } = runSim({ seed: 5, nodes: 5, durationMs: 4000 });
    const samples = events.filter((_, i) => i % 7 === 0).map((e) => JSON.stringify(e));
    // Includes a newline (the reader splits there: the fast path must stop at it) and non-ASCII text.
    const alphabet = '"{}[],:\\-.0123456789eEtfnul aio_x\né';
    let taken = 0;
    let differentButTaken = 0;
    for (let k = 0; k < 200_000; k++) {
      const src = samples[k % samples.length]!;
      let line = src;
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (line.length + 1));
        const ch = alphabet[Math.floor(rnd() * alphabet.length)]!;
        const op = rnd();
        if (op < 0.34) line = line.slice(0, at) + ch + line.slice(at);
        else if (op < 0.67) line = line.slice(0, at) + line.slice(at + 1);
        else line = line.slice(0, at) + ch + line.slice(at + 1);
      }
      if (check(line)) {
        taken++;
        if (line !== src) differentButTaken++;
      }
    }
    // Mutations that leave a valid event (a digit changed, say) are taken and must read the same.
    expect(differentButTaken).toBeGreaterThan(1000);
    expect(taken).toBeLessThan(200_000);
  });
});
