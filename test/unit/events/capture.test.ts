import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureError, CaptureWriter, readCapture, type CaptureProblem } from '../../../src/events/capture.js';
import type { RaftEvent } from '../../../src/events/types.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-capture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = '{"raftguard":"capture","version":1,"cluster":"c1","nodes":["n1","n2","n3"]}';
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
async function read(p: string) {
  const events: RaftEvent[] = [];
  const problems: CaptureProblem[] = [];
  const summary = await readCapture(p, { onEvent: (e) => events.push(e), onProblem: (x) => problems.push(x) });
  return { events, problems, summary };
}

describe('readCapture', () => {
  it('reads a header and events, ignoring unknown extra fields', async () => {
    const p = file(
      'ok.jsonl',
      [
        HEADER.replace('}', ',"extra":{"x":1}}'),
        '{"type":"vote","t":1,"from":"n1","to":"n2","term":2,"lastIndex":0,"lastTerm":0,"pre":false,"future":"field"}',
        '{"type":"append","t":2.5,"from":"n1","to":"n2","term":2,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":1,"term":2,"kind":"noop"}]}',
      ].join('\n') + '\n',
    );
    const r = await read(p);
    expect(r.events.map((e) => e.type)).toEqual(['vote', 'append']);
    expect(r.problems).toEqual([]);
    expect(r.summary).toMatchObject({ events: 2, skippedLines: 0, lastT: 2.5 });
  });

  it('rejects a file without a header, naming line 1 and what was expected', async () => {
    const p = file('nohdr.jsonl', '{"type":"heartbeat","t":1,"from":"n1","to":"n2","term":1,"commit":0}\n');
    await expect(read(p)).rejects.toThrow(/nohdr\.jsonl:1: bad capture header: field "raftguard"/);
  });

  it('rejects an unknown version', async () => {
    const p = file('v2.jsonl', '{"raftguard":"capture","version":2,"cluster":"x"}\n');
    await expect(read(p)).rejects.toThrow(/field "version": expected 1 .*got number 2/);
  });

  it('checks the optional thresholds carried in the header', async () => {
    const bad = file('thr.jsonl', '{"raftguard":"capture","version":1,"cluster":"x","thresholds":{"stallMs":"soon"}}\n');
    await expect(read(bad)).rejects.toThrow(/field "thresholds": expected an object of non-negative numbers/);
    const ok = file('thr2.jsonl', '{"raftguard":"capture","version":1,"cluster":"x","thresholds":{"stallMs":1500}}\n');
    await expect(read(ok)).resolves.toMatchObject({ events: [], problems: [] });
  });

  it('rejects an empty file and a missing file with clear messages', async () => {
    await expect(read(file('empty.jsonl', ''))).rejects.toThrow(/empty file/);
    await expect(read(join(dir, 'nope.jsonl'))).rejects.toBeInstanceOf(CaptureError);
    await expect(read(join(dir, 'nope.jsonl'))).rejects.toThrow(/no such file/);
  });

  it('reports a bad line with its number and field, and goes on with the next line', async () => {
    const p = file(
      'bad.jsonl',
      [
        HEADER,
        '{"type":"heartbeat","t":1,"from":"n1","to":"n2","term":1,"commit":0}',
        '{"type":"heartbeat","t":2,"from":"n1","to":"n2","term":"one","commit":0}',
        'this is not json',
        '{"type":"append","t":3,"from":"n1","to":"n2","term":1,"prevIndex":0,"prevTerm":0,"commit":0,"entries":[{"index":2,"term":1,"kind":"data"}]}',
        '{"type":"warp","t":4,"from":"n1","to":"n2","term":1}',
        '{"type":"heartbeat","t":5,"from":"n1","to":"n3","term":1,"commit":0}',
      ].join('\n'),
    );
    const r = await read(p);
    expect(r.events.map((e) => e.t)).toEqual([1, 5]);
    expect(r.summary.skippedLines).toBe(4);
    expect(r.problems.map((x) => [x.line, x.field])).toEqual([
      [3, 'term'],
      [4, undefined],
      [5, 'entries[0].index'],
      [6, 'type'],
    ]);
    expect(r.problems[0]!.message).toMatch(/expected a non-negative integer, got string "one"/);
    expect(r.problems[2]!.message).toMatch(/entries are consecutive/);
  });

  it('notes nodes missing from the header once each, and counts out-of-order timestamps', async () => {
    const p = file(
      'unknown.jsonl',
      [
        HEADER,
        '{"type":"heartbeat","t":10,"from":"n1","to":"n4","term":1,"commit":0}',
        '{"type":"heartbeat","t":7,"from":"n1","to":"n4","term":1,"commit":0}',
        '{"type":"heartbeat","t":12,"from":"n1","to":"n2","term":1,"commit":0}',
      ].join('\n'),
    );
    const r = await read(p);
    expect(r.events).toHaveLength(3);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toMatch(/node "n4" is not in the header/);
    expect(r.summary.unknownNodes).toEqual(['n4']);
    expect(r.summary.outOfOrder).toBe(1);
    expect(r.summary.maxBackwardsMs).toBe(3);
  });

  it('decodes multi-byte UTF-8 split across read chunks', async () => {
    // Pad so a multi-byte character straddles the 1 MiB read boundary.
    const prefix = HEADER + '\n';
    const lineStart = '{"type":"noop","t":1,"from":"raftguard","to":"n1","term":1,"result":"skipped","reason":"';
    const pad = 'x'.repeat((1 << 20) - Buffer.byteLength(prefix + lineStart) - 1);
    const p = file('utf8.jsonl', prefix + lineStart + pad + 'é€ done"}\n');
    const r = await read(p);
    expect(r.problems).toEqual([]);
    expect((r.events[0] as { reason: string }).reason.endsWith('é€ done')).toBe(true);
  });
});

describe('CaptureWriter', () => {
  it('writes a capture that reads back identically, and rotates by size with a header in every file', async () => {
    const p = join(dir, 'rot.jsonl');
    const w = new CaptureWriter(p, { raftguard: 'capture', version: 1, cluster: 'c', nodes: ['a', 'b'] }, { maxBytes: 4000, keep: 2 });
    const written: RaftEvent[] = [];
    for (let i = 0; i < 200; i++) {
      const ev: RaftEvent = { type: 'heartbeat', t: i, from: 'a', to: 'b', term: 1, commit: i };
      written.push(ev);
      w.write(ev);
    }
    await w.close();
    expect(existsSync(`${p}.1`)).toBe(true);
    expect(existsSync(`${p}.2`)).toBe(true);
    expect(existsSync(`${p}.3`)).toBe(false);
    const all: RaftEvent[] = [];
    for (const f of [`${p}.2`, `${p}.1`, p]) {
      expect(readFileSync(f, 'utf8').split('\n', 1)[0]).toContain('"raftguard":"capture"');
      all.push(...(await read(f)).events);
    }
    // The oldest rotated-out files are gone; what is kept is the newest contiguous tail.
    expect(all.length).toBeGreaterThan(0);
    expect(all).toEqual(written.slice(written.length - all.length));
  });
});

describe('readCapture line splitting (bytes split on 0x0A, across read chunks)', () => {
  async function readWith(p: string, chunkBytes?: number) {
    const events: RaftEvent[] = [];
    const lines: number[] = [];
    const problems: CaptureProblem[] = [];
    const summary = await readCapture(p, { onEvent: (e, line) => (events.push(e), lines.push(line)), onProblem: (x) => problems.push(x) }, { chunkBytes });
    return { events, lines, problems, summary };
  }
  const hb = (t: number, extra = '') => `{"type":"heartbeat","t":${t},"from":"n1","to":"n2","term":1,"commit":0${extra}}`;

  // CRLF endings, a blank CRLF line, multi-byte characters (2, 3 and 4 bytes), a bad line among
  // good ones, and no newline after the last line.
  const text =
    [
      HEADER,
      hb(1, ',"note":"é"'),
      hb(2),
      '{"type":"noop","t":3,"from":"raftguard","to":"n1","term":1,"result":"skipped","reason":"€ and 😀 and ü"}',
      '',
      hb(4, ',"x":"ééé"'),
      '{"type":"heartbeat","t":5,"from":"n1","to":"n2","term":1,"commit":-1}',
      hb(6),
      'not json at all ✗',
      hb(7),
    ].join('\r\n') + '\r\n' + hb(8);

  it('reads CRLF lines, multi-byte characters, a bad line among good ones and a last line without newline', async () => {
    const r = await readWith(file('split.jsonl', text));
    expect(r.events.map((e) => e.t)).toEqual([1, 2, 3, 4, 6, 7, 8]);
    expect(r.lines).toEqual([2, 3, 4, 6, 8, 10, 11]);
    expect((r.events[0] as unknown as { note: string }).note).toBe('é');
    expect((r.events[2] as { reason: string }).reason).toBe('€ and 😀 and ü');
    expect((r.events[3] as unknown as { x: string }).x).toBe('ééé');
    expect(r.problems.map((x) => [x.line, x.field])).toEqual([
      [7, 'commit'],
      [9, undefined],
    ]);
    expect(r.problems[1]!.message).toMatch(/not valid JSON/);
    expect(r.summary).toMatchObject({ lines: 11, events: 7, skippedLines: 2, lastT: 8 });
  });

  it('gives the same events, line numbers and problems whatever the read size (every boundary inside lines and characters)', async () => {
    const p = file('split-sizes.jsonl', text);
    const whole = await readWith(p);
    const size = Buffer.byteLength(text);
    for (let chunk = 1; chunk <= size + 1; chunk++) {
      const r = await readWith(p, chunk);
      expect({ chunk, ...r }).toEqual({ chunk, ...whole });
    }
  });

  it('decodes a chunk with non-ASCII bytes as UTF-8 (and invalid bytes as U+FFFD) next to ASCII chunks', async () => {
    const ascii = (from: number) => Array.from({ length: 50 }, (_, i) => hb(from + i)).join('\n');
    const body = Buffer.concat([
      Buffer.from(HEADER + '\n' + ascii(1) + '\n{"type":"heartbeat","t":100,"from":"n1","to":"n2","term":1,"commit":0,"s":"'),
      Buffer.from([0xc3, 0xa9, 0xff, 0x41]), // é, an invalid byte, A
      Buffer.from('"}\n' + ascii(101) + '\n'),
    ]);
    const p = join(dir, 'mixed.jsonl');
    writeFileSync(p, body);
    for (const chunk of [undefined, 64, 257, 4096]) {
      const r = await readWith(p, chunk);
      expect(r.problems).toEqual([]);
      expect(r.events).toHaveLength(101);
      expect((r.events[50] as unknown as { s: string }).s).toBe('é\uFFFDA');
      expect(r.lines[50]).toBe(52);
    }
  });

  it('skips a line longer than 16 MiB without buffering it, counting it with its line number', async () => {
    const big = '{"type":"heartbeat","t":2,"from":"n1","to":"n2","term":1,"commit":0,"pad":"' + 'x'.repeat(17 * 1024 * 1024) + '"}';
    const p = file('long.jsonl', [HEADER, hb(1), big, hb(3)].join('\n') + '\n');
    const r = await readWith(p);
    expect(r.events.map((e) => e.t)).toEqual([1, 3]);
    expect(r.lines).toEqual([2, 4]);
    expect(r.problems.map((x) => [x.line, x.message])).toEqual([[3, 'line longer than 16777216 bytes: skipped']]);
    expect(r.summary).toMatchObject({ lines: 4, skippedLines: 1 });
  });

  it('rejects a blank first line and reads a header split across reads', async () => {
    await expect(readWith(file('blank1.jsonl', '\r\n' + hb(1) + '\n'), 3)).rejects.toThrow(/blank1\.jsonl:1: empty first line/);
    const r = await readWith(file('hdr.jsonl', HEADER + '\n' + hb(1)), 7);
    expect(r.events.map((e) => e.t)).toEqual([1]);
  });
});
