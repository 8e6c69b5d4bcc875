// Public types of the pcap input: options, statistics and notices.

import type { TapFactory } from '../tap.js';

export interface PcapOptions {
  /** Called once per TCP connection whose start was captured; returns the reader for its bytes. */
  tapFactory: TapFactory;
  /** Keep only flows with either port in this list (all TCP flows when absent or empty). */
  ports?: number[];
  /** Names the member behind a server address; default "ip:port" ("[ip]:port" for IPv6). */
  memberOf?: (serverIp: string, serverPort: number) => string | undefined;
  /** Conditions that skip data but do not stop reading: skipped flows, dropped packets, a cut-off last record. */
  onNotice?: (notice: PcapNotice) => void;
  /** Out-of-order bytes buffered per flow before it is abandoned. Default 4 MiB. */
  maxOutOfOrderBytes?: number;
  /** Out-of-order bytes buffered over all flows before the flow that crosses it is abandoned. Default 256 MiB. */
  maxBufferedBytes?: number;
  /** Open flows tracked at once; the least recently active is ended to make room. Default 10000. */
  maxFlows?: number;
  /** A flow with no packet for this long (capture time) is ended. Default 300000 (5 min). */
  idleTimeoutMs?: number;
  /**
   * When the peer acknowledged bytes the capture lacks (the capture dropped them), the flow is
   * abandoned if they have not turned up this long afterwards (capture time). Default 1000.
   */
  gapTimeoutMs?: number;
  /** Read size. Default 1 MiB. */
  readChunkBytes?: number;
}

export type NoticeKind =
  | 'start-not-seen'
  | 'out-of-order-limit'
  | 'buffer-limit'
  | 'missing-bytes'
  | 'truncated-segment'
  | 'tap-error'
  | 'table-full'
  | 'idle'
  | 'undelivered'
  | 'replaced'
  | 'fragment'
  | 'ipv6-unsupported'
  | 'unsupported-link'
  | 'malformed'
  | 'truncated-record'
  | 'unknown-interface';

export interface PcapNotice {
  kind: NoticeKind;
  /** A complete sentence naming the file or flow and what happened. */
  message: string;
  /** The flow, as "pcap:client>server#n" or "src>dst" when its client is unknown. */
  flow?: string;
  /** File byte offset of the record concerned. */
  offset?: number;
  /** Capture time (ms since epoch). */
  t?: number;
}

export type SkipReason = 'startNotSeen' | 'outOfOrderLimit' | 'bufferLimit' | 'missingBytes' | 'truncatedSegment' | 'tapError';
export type EndReason = 'fin' | 'rst' | 'endOfFile' | 'idle' | 'tableFull' | 'replaced';

export interface PcapStats {
  file: string;
  format: 'pcap' | 'pcapng' | undefined;
  linkTypes: number[];
  fileBytes: number;
  /** Packet records read. */
  packets: number;
  /** Packets not used, by reason. */
  skippedPackets: {
    notIp: number;
    notTcp: number;
    fragments: number;
    ipv6Unsupported: number;
    unsupportedLink: number;
    malformed: number;
    portFiltered: number;
    /** Packets of flows that were skipped or had already ended. */
    untrackedFlow: number;
  };
  /** A cut-off last record (a notice, not an error). */
  truncatedRecords: number;
  tcpSegments: number;
  /** Flows whose start was captured (the reader was or would have been created). */
  flows: number;
  flowsEnded: Record<EndReason, number>;
  skippedFlows: { total: number } & Record<SkipReason, number>;
  bytesC2S: number;
  bytesS2C: number;
  outOfOrderSegments: number;
  retransmittedSegments: number;
  /** Bytes seen again (whole retransmissions and overlaps), trimmed: the first copy wins. */
  retransmittedBytes: number;
  keepAlives: number;
  synRetransmits: number;
  /** Bytes captured beyond a gap that could never be delivered. */
  undeliveredBytes: number;
  /** Malformed packets plus readers that threw. */
  errors: number;
  tapErrors: number;
  firstTimestamp: number | undefined;
  lastTimestamp: number | undefined;
}

export function newStats(file: string): PcapStats {
  return {
    file,
    format: undefined,
    linkTypes: [],
    fileBytes: 0,
    packets: 0,
    skippedPackets: { notIp: 0, notTcp: 0, fragments: 0, ipv6Unsupported: 0, unsupportedLink: 0, malformed: 0, portFiltered: 0, untrackedFlow: 0 },
    truncatedRecords: 0,
    tcpSegments: 0,
    flows: 0,
    flowsEnded: { fin: 0, rst: 0, endOfFile: 0, idle: 0, tableFull: 0, replaced: 0 },
    skippedFlows: { total: 0, startNotSeen: 0, outOfOrderLimit: 0, bufferLimit: 0, missingBytes: 0, truncatedSegment: 0, tapError: 0 },
    bytesC2S: 0,
    bytesS2C: 0,
    outOfOrderSegments: 0,
    retransmittedSegments: 0,
    retransmittedBytes: 0,
    keepAlives: 0,
    synRetransmits: 0,
    undeliveredBytes: 0,
    errors: 0,
    tapErrors: 0,
    firstTimestamp: undefined,
    lastTimestamp: undefined,
  };
}
