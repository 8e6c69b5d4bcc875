// Link layer → IP → TCP, for one captured frame. Decoding writes into one reusable TcpSegment
// (offsets into the frame, no copies, no allocation per packet) and returns a status code; it never
// throws on bad input. Checksums are not verified: captures taken on the sending host routinely
// carry unfinished checksums (offload).

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export enum Decoded {
  Tcp = 0,
  NotIp,
  NotTcp,
  Fragment,
  Ipv6Unsupported,
  UnsupportedLink,
  Malformed,
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** One decoded TCP segment: offsets into the frame it came from. */
export class TcpSegment {
  ipVersion: 4 | 6 = 4;
  srcAddrAt = 0;
  dstAddrAt = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  payloadAt = 0;
  /** End of the captured payload (may be short of the claimed end when the snapshot length cut it). */
  payloadEnd = 0;
  /** Payload length the IP header claims. */
  claimedLen = 0;
  /** Why the last decode failed (for notices); a constant string, no allocation. */
  why = '';
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_QINQ_OLD = 0x9100;

/** Decodes one frame of the given link type into `seg`. */
export function decodeFrame(linkType: number, frame: Buffer, seg: TcpSegment): Decoded {
  const n = frame.length;
  let at: number;
  let ethertype = -1; // -1: decide by the IP version nibble
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (n < 14) return malformed(seg, 'Ethernet frame shorter than its 14-byte header');
      at = 12;
      ethertype = frame.readUInt16BE(at);
      while (ethertype === ETHERTYPE_VLAN || ethertype === ETHERTYPE_QINQ || ethertype === ETHERTYPE_QINQ_OLD) {
        at += 4;
        if (at + 2 > n) return malformed(seg, 'Ethernet frame ends inside an 802.1Q tag');
        ethertype = frame.readUInt16BE(at);
      }
      at += 2;
      break;
    }
    case LINKTYPE_NULL: {
      if (n < 4) return malformed(seg, 'loopback frame shorter than its 4-byte header');
      // The address family is in the capturing host's byte order; the values are small, so
      // whichever reading is small is the right one.
      let family = frame.readUInt32LE(0);
      if (family > 0xffff) family = frame.readUInt32BE(0);
      ethertype = loopFamily(family);
      at = 4;
      break;
    }
    case LINKTYPE_LOOP: {
      if (n < 4) return malformed(seg, 'loopback frame shorter than its 4-byte header');
      ethertype = loopFamily(frame.readUInt32BE(0));
      at = 4;
      break;
    }
    case LINKTYPE_LINUX_SLL:
      if (n < 16) return malformed(seg, 'Linux cooked (SLL) frame shorter than its 16-byte header');
      ethertype = frame.readUInt16BE(14);
      at = 16;
      break;
    case LINKTYPE_LINUX_SLL2:
      if (n < 20) return malformed(seg, 'Linux cooked (SLL2) frame shorter than its 20-byte header');
      ethertype = frame.readUInt16BE(0);
      at = 20;
      break;
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      at = 0;
      break;
    default:
      return Decoded.UnsupportedLink;
  }
  if (ethertype === -1) {
    if (at >= n) return malformed(seg, 'frame has no IP header');
    const v = frame[at]! >> 4;
    ethertype = v === 4 ? ETHERTYPE_IPV4 : v === 6 ? ETHERTYPE_IPV6 : 0;
  }
  if (ethertype === ETHERTYPE_IPV4) return decodeIpv4(frame, at, seg);
  if (ethertype === ETHERTYPE_IPV6) return decodeIpv6(frame, at, seg);
  return Decoded.NotIp;
}

function loopFamily(family: number): number {
  if (family === 2) return ETHERTYPE_IPV4; // AF_INET everywhere
  // AF_INET6: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS
  if (family === 10 || family === 24 || family === 28 || family === 30) return ETHERTYPE_IPV6;
  return 0;
}

function malformed(seg: TcpSegment, why: string): Decoded {
  seg.why = why;
  return Decoded.Malformed;
}

function decodeIpv4(frame: Buffer, at: number, seg: TcpSegment): Decoded {
  const n = frame.length;
  if (at + 20 > n) return malformed(seg, 'IPv4 header cut off');
  const vihl = frame[at]!;
  if (vihl >> 4 !== 4) return malformed(seg, 'IPv4 version field is not 4');
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20 || at + ihl > n) return malformed(seg, 'IPv4 header length out of range');
  let total = frame.readUInt16BE(at + 2);
  // Total length 0: a segmentation-offload super-packet captured before the NIC split it.
  if (total === 0) total = n - at;
  if (total < ihl) return malformed(seg, 'IPv4 total length smaller than its header');
  const fragField = frame.readUInt16BE(at + 6);
  if ((fragField & 0x3fff) !== 0) return Decoded.Fragment; // MF set or offset ≠ 0
  if (frame[at + 9] !== 6) return Decoded.NotTcp;
  seg.ipVersion = 4;
  seg.srcAddrAt = at + 12;
  seg.dstAddrAt = at + 16;
  // The IP total length bounds the segment: Ethernet padding and trailers are not payload.
  return decodeTcp(frame, at + ihl, at + total, seg);
}

function decodeIpv6(frame: Buffer, at: number, seg: TcpSegment): Decoded {
  const n = frame.length;
  if (at + 40 > n) return malformed(seg, 'IPv6 header cut off');
  if (frame[at]! >> 4 !== 6) return malformed(seg, 'IPv6 version field is not 6');
  const payloadLen = frame.readUInt16BE(at + 4);
  let next = frame[at + 6]!;
  seg.ipVersion = 6;
  seg.srcAddrAt = at + 8;
  seg.dstAddrAt = at + 24;
  const end = payloadLen === 0 ? n : at + 40 + payloadLen; // 0: jumbogram or offload; use what was captured
  let p = at + 40;
  for (;;) {
    switch (next) {
      case 6:
        return decodeTcp(frame, p, end, seg);
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: // shim6
        if (p + 2 > n) return malformed(seg, 'IPv6 extension header cut off');
        next = frame[p]!;
        p += (frame[p + 1]! + 1) * 8;
        break;
      case 44: {
        // fragment header
        if (p + 8 > n) return malformed(seg, 'IPv6 fragment header cut off');
        const offFlags = frame.readUInt16BE(p + 2);
        if ((offFlags & 0xfff9) !== 0) return Decoded.Fragment; // offset ≠ 0 or M set
        next = frame[p]!;
        p += 8; // an atomic fragment: the whole packet is here
        break;
      }
      case 51: // authentication header
        if (p + 2 > n) return malformed(seg, 'IPv6 authentication header cut off');
        next = frame[p]!;
        p += (frame[p + 1]! + 2) * 4;
        break;
      case 59: // no next header
        return Decoded.NotTcp;
      case 50: // ESP: encrypted, the transport header cannot be read
        seg.why = 'IPv6 ESP (encrypted payload)';
        return Decoded.Ipv6Unsupported;
      case 17:
      case 58:
      case 132:
        return Decoded.NotTcp;
      default:
        seg.why = `IPv6 next header ${next}`;
        return Decoded.Ipv6Unsupported;
    }
    if (p > end) return malformed(seg, 'IPv6 extension headers run past the payload');
  }
}

function decodeTcp(frame: Buffer, at: number, ipEnd: number, seg: TcpSegment): Decoded {
  const n = frame.length;
  if (at + 20 > n || at + 20 > ipEnd) return malformed(seg, 'TCP header cut off');
  const hl = (frame[at + 12]! >> 4) * 4;
  if (hl < 20 || at + hl > ipEnd) return malformed(seg, 'TCP header length out of range');
  if (at + hl > n) return malformed(seg, 'TCP options cut off by the snapshot length');
  seg.srcPort = frame.readUInt16BE(at);
  seg.dstPort = frame.readUInt16BE(at + 2);
  seg.seq = frame.readUInt32BE(at + 4);
  seg.ack = frame.readUInt32BE(at + 8);
  seg.flags = frame[at + 13]!;
  seg.payloadAt = at + hl;
  seg.claimedLen = ipEnd - seg.payloadAt;
  seg.payloadEnd = Math.min(ipEnd, n);
  return Decoded.Tcp;
}
