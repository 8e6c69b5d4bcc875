// Bounded memory: a synthetic capture of more than 200 MB (many interleaved flows, with reordering
// and retransmissions) is streamed through readPcap; resident memory may grow only by a small,
// size-independent amount, and every byte must still arrive in order (hash per direction).

import { afterAll, expect, it } from 'vitest';
import { closeSync, openSync, rmSync, statSync, writeSync, mkdtempSync } from 'node:fs';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '../../../proxy/pcap/index.js';
import { pcapHeader } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rg-pcap-big-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FLOWS = 24;
const SEG = 1448;
const TARGET_BYTES = 210 * 1024 * 1024;
const block = randomBytes(1 << 16);

/** Payload byte `off` of flow `f` direction `d`: a window into one random block, cheap to regenerate. */
function payload(f: number, d: number, off: number, len: number): Buffer {
  const start = (off + f * 7919 + d * 104729) % (block.length - SEG);
  return block.subarray(start, start + len);
}

/** Writes Ethernet/IPv4/TCP records straight into a batch buffer (no per-packet allocation). */
class BigWriter {
  private batch = Buffer.alloc(8 * 1024 * 1024);
  private used = 0;
  written = 0;
  t = 1_700_000_000;
  usec = 0;
  constructor(private readonly fd: number) {
    const h = pcapHeader({ linkType: 1 });
    writeSync(fd, h);
    this.written += h.length;
  }

  packet(f: number, c2s: boolean, seq: number, ack: number, flags: number, data: Buffer): void {
    const caplen = 54 + data.length;
    if (this.used + 16 + caplen > this.batch.length) this.flush();
    const b = this.batch;
    let at = this.used;
    this.usec += 3;
    if (this.usec >= 1_000_000) {
      this.usec -= 1_000_000;
      this.t++;
    }
    b.writeUInt32LE(this.t, at);
    b.writeUInt32LE(this.usec, at + 4);
    b.writeUInt32LE(caplen, at + 8);
    b.writeUInt32LE(caplen, at + 12);
    at += 16;
    b.fill(2, at, at + 12);
    b.writeUInt16BE(0x0800, at + 12);
    const ip = at + 14;
    b[ip] = 0x45;
    b[ip + 1] = 0;
    b.writeUInt16BE(40 + data.length, ip + 2);
    b.writeUInt32BE(0x4000, ip + 4);
    b[ip + 8] = 64;
    b[ip + 9] = 6;
    b.writeUInt16BE(0, ip + 10);
    const client = 0x0a000001 + f; // 10.0.0.(1+f)
    const server = 0x0a0001fe; // 10.0.1.254
    b.writeUInt32BE(c2s ? client : server, ip + 12);
    b.writeUInt32BE(c2s ? server : client, ip + 16);
    const tcp = ip + 20;
    b.writeUInt16BE(c2s ? 30000 + f : 2380, tcp);
    b.writeUInt16BE(c2s ? 2380 : 30000 + f, tcp + 2);
    b.writeUInt32BE(seq >>> 0, tcp + 4);
    b.writeUInt32BE(ack >>> 0, tcp + 8);
    b[tcp + 12] = 0x50;
    b[tcp + 13] = flags;
    b.writeUInt32BE(0xffff0000, tcp + 14);
    b.writeUInt16BE(0, tcp + 18);
    data.copy(b, tcp + 20);
    this.used = tcp + 20 + data.length;
  }

  flush(): void {
    writeSync(this.fd, this.batch, 0, this.used);
    this.written += this.used;
    this.used = 0;
  }
}

it(
  `streams a capture of more than 200 MB in bounded memory and reassembles every byte`,
  async () => {
    const path = join(dir, 'big.pcap');
    const fd = openSync(path, 'w');
    const w = new BigWriter(fd);
    const expected: Hash[][] = [];
    const sent: number[][] = [];
    const isn = (f: number, d: number): number => (0xfff00000 + f * 1_000_003 + d * 77) >>> 0; // some wrap past 2^32
    for (let f = 0; f < FLOWS; f++) {
      expected.push([createHash('sha256'), createHash('sha256')]);
      sent.push([0, 0]);
      w.packet(f, true, isn(f, 0), 0, 0x02, Buffer.alloc(0));
      w.packet(f, false, isn(f, 1), isn(f, 0) + 1, 0x12, Buffer.alloc(0));
      w.packet(f, true, isn(f, 0) + 1, isn(f, 1) + 1, 0x10, Buffer.alloc(0));
    }
    let round = 0;
    while (w.written < TARGET_BYTES) {
      round++;
      for (let f = 0; f < FLOWS; f++) {
        for (let d = 0; d < 2; d++) {
          const c2s = d === 0;
          // two segments per turn; every 5th turn of odd flows sends them swapped, every 7th
          // repeats the first (a retransmission)
          const off = sent[f]![d]!;
          const a = payload(f, d, off, SEG);
          const b = payload(f, d, off + SEG, SEG);
          expected[f]![d]!.update(a).update(b);
          const seqA = isn(f, d) + 1 + off;
          const ack = isn(f, 1 - d) + 1 + sent[f]![1 - d]!;
          if (f % 2 === 1 && round % 5 === 0) {
            w.packet(f, c2s, seqA + SEG, ack, 0x18, b);
            w.packet(f, c2s, seqA, ack, 0x18, a);
          } else {
            w.packet(f, c2s, seqA, ack, 0x18, a);
            w.packet(f, c2s, seqA + SEG, ack, 0x18, b);
          }
          if (round % 7 === 0) w.packet(f, c2s, seqA, ack, 0x18, a);
          sent[f]![d] = off + 2 * SEG;
        }
      }
    }
    for (let f = 0; f < FLOWS; f++) {
      for (let d = 0; d < 2; d++) w.packet(f, d === 0, isn(f, d) + 1 + sent[f]![d]!, isn(f, 1 - d) + 1 + sent[f]![1 - d]!, 0x11, Buffer.alloc(0));
    }
    w.flush();
    closeSync(fd);
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(200 * 1024 * 1024);

    const got: Hash[][] = [];
    const lengths: number[][] = [];
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let calls = 0;
    const started = performance.now();
    const stats = await readPcap(path, {
      tapFactory: (info) => {
        const f = info.remotePort! - 30000;
        got[f] = [createHash('sha256'), createHash('sha256')];
        lengths[f] = [0, 0];
        return {
          data(dir, chunk) {
            const d = dir === 'c2s' ? 0 : 1;
            got[f]![d]!.update(chunk);
            lengths[f]![d]! += chunk.length;
            if (++calls % 2000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
          },
          end() {},
        };
      },
    });
    const seconds = (performance.now() - started) / 1000;
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    rmSync(path, { force: true });

    const growthMiB = (rssPeak - rssBefore) / (1024 * 1024);
    console.info(
      `[pcap bigfile] ${(size / 1048576).toFixed(0)} MiB, ${stats.packets} packets in ${seconds.toFixed(2)} s ` +
        `(${(size / 1048576 / seconds).toFixed(0)} MiB/s); RSS growth ${growthMiB.toFixed(1)} MiB`,
    );
    expect(stats.flows).toBe(FLOWS);
    expect(stats.flowsEnded.fin).toBe(FLOWS);
    expect(stats.skippedFlows.total).toBe(0);
    expect(stats.outOfOrderSegments).toBeGreaterThan(0);
    expect(stats.retransmittedSegments).toBeGreaterThan(0);
    for (let f = 0; f < FLOWS; f++) {
      for (let d = 0; d < 2; d++) {
        expect(lengths[f]![d], `flow ${f} dir ${d}`).toBe(sent[f]![d]);
        expect(got[f]![d]!.digest('hex'), `flow ${f} dir ${d}`).toBe(expected[f]![d]!.digest('hex'));
      }
    }
    // The file is > 200 MiB; streaming keeps the growth to read buffers and garbage not yet collected.
    expect(growthMiB).toBeLessThan(64);
  },
  60_000,
);
