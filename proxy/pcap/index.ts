// readPcap: a tcpdump capture (pcap or pcapng) → the same Tap calls a live relay makes, so a replay
// of a capture decodes exactly like a live run. The file is streamed through an incremental parser
// (bounded memory whatever its size); each TCP flow is reassembled per direction and handed to the
// reader made by opts.tapFactory.

import { createReadStream } from 'node:fs';
import { CaptureParser, PcapFormatError } from './format.js';
import { Decoded, TcpSegment, decodeFrame } from './decode.js';
import { TcpReassembler } from './reassembly.js';
import { newStats, type NoticeKind, type PcapNotice, type PcapOptions, type PcapStats } from './types.js';

export { PcapFormatError } from './format.js';
export type { EndReason, NoticeKind, PcapNotice, PcapOptions, PcapStats, SkipReason } from './types.js';

const MiB = 1024 * 1024;

/**
 * Reads a capture file and feeds every TCP connection whose start it holds to opts.tapFactory.
 * Rejects with PcapFormatError (file, byte offset, what was expected) when the file structure is
 * broken; conditions that only skip data are reported through opts.onNotice and counted in the
 * returned stats. Open flows are ended (tap.end) at the last timestamp, also when reading fails.
 */
export async function readPcap(path: string, opts: PcapOptions): Promise<PcapStats> {
  const stats = newStats(path);
  const noticed = new Set<NoticeKind>();
  const notify = (n: PcapNotice): void => {
    if (!opts.onNotice) return;
    try {
      opts.onNotice(n);
    } catch {
      // a failing notice handler must not stop the replay
    }
  };
  /** Packet-level conditions are reported once per file (with the offset of the first), then only counted. */
  const noticeOnce = (kind: NoticeKind, message: string, offset: number, t: number): void => {
    if (noticed.has(kind)) return;
    noticed.add(kind);
    notify({ kind, message: `${message}; further ones are only counted in the stats`, offset, t });
  };

  const reassembler = new TcpReassembler(
    {
      tapFactory: opts.tapFactory,
      memberOf: opts.memberOf,
      maxOutOfOrderBytes: opts.maxOutOfOrderBytes ?? 4 * MiB,
      maxBufferedBytes: opts.maxBufferedBytes ?? 256 * MiB,
      maxFlows: opts.maxFlows ?? 10_000,
      idleTimeoutMs: opts.idleTimeoutMs ?? 300_000,
      gapTimeoutMs: opts.gapTimeoutMs ?? 1000,
    },
    stats,
    notify,
  );
  const ports = opts.ports && opts.ports.length > 0 ? new Set(opts.ports) : undefined;
  const seg = new TcpSegment();
  const skipped = stats.skippedPackets;

  const onPacket = (linkType: number, frame: Buffer, t: number, _origLen: number, offset: number): void => {
    stats.packets++;
    if (stats.firstTimestamp === undefined) stats.firstTimestamp = t;
    if (stats.lastTimestamp === undefined || t > stats.lastTimestamp) stats.lastTimestamp = t;
    switch (decodeFrame(linkType, frame, seg)) {
      case Decoded.Tcp:
        break;
      case Decoded.NotIp:
        skipped.notIp++;
        return;
      case Decoded.NotTcp:
        skipped.notTcp++;
        return;
      case Decoded.Fragment:
        skipped.fragments++;
        noticeOnce('fragment', `${path}: an IP fragment at byte offset ${offset} was skipped (fragments are not reassembled; a flow that loses bytes this way is reported when the gap is proven)`, offset, t);
        return;
      case Decoded.Ipv6Unsupported:
        skipped.ipv6Unsupported++;
        noticeOnce('ipv6-unsupported', `${path}: an IPv6 packet at byte offset ${offset} was skipped (${seg.why})`, offset, t);
        return;
      case Decoded.UnsupportedLink:
        skipped.unsupportedLink++;
        noticeOnce('unsupported-link', `${path}: link type ${linkType} at byte offset ${offset} is not supported (Ethernet, null/loop, Linux SLL/SLL2 and raw IP are); its packets are skipped`, offset, t);
        return;
      case Decoded.Malformed:
        skipped.malformed++;
        stats.errors++;
        noticeOnce('malformed', `${path}: malformed packet at byte offset ${offset}: ${seg.why}`, offset, t);
        return;
    }
    if (ports !== undefined && !ports.has(seg.srcPort) && !ports.has(seg.dstPort)) {
      skipped.portFiltered++;
      return;
    }
    stats.tcpSegments++;
    reassembler.segment(seg, frame, t);
  };

  const parser = new CaptureParser(path, onPacket, (kind, message, offset) => {
    if (kind === 'truncated-record') stats.truncatedRecords++;
    notify({ kind: kind as NoticeKind, message, offset });
  });

  const stream = createReadStream(path, { highWaterMark: opts.readChunkBytes ?? MiB });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      stats.fileBytes += chunk.length;
      parser.push(chunk);
    }
    parser.finish();
  } catch (err) {
    // Readers must not be left open when the file turns out to be broken.
    reassembler.finish(stats.lastTimestamp ?? 0);
    throw err instanceof PcapFormatError ? err : withFile(path, err);
  } finally {
    stream.destroy();
    stats.format = parser.format;
    stats.linkTypes = [...parser.linkTypes];
  }
  reassembler.finish(stats.lastTimestamp ?? 0);
  return stats;
}

function withFile(path: string, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  if (!e.message.includes(path)) e.message = `${path}: ${e.message}`;
  return e;
}
