// The seam between the data plane and the passive readers.
// A Tap receives a copy of one TCP connection's bytes, in order per direction, after they were
// forwarded (live relay) or reassembled (pcap). It must never throw back into the data path and
// never hold on to a chunk it has not copied (the relay may reuse nothing, but readers must not
// assume ownership beyond the call).

/** c2s: from the dialing peer into the member behind the listener; s2c: the member's replies. */
export type Direction = 'c2s' | 's2c';

export interface ConnectionInfo {
  /** Unique per relay/pcap run, e.g. "n2#17" or "pcap:10.0.0.1:5555>10.0.0.2:2380". */
  id: string;
  /** The member behind the listener (the server side of the connection). */
  member: string;
  remoteAddress?: string;
  remotePort?: number;
  /** ms since epoch when the connection was accepted / its first packet was captured. */
  startedAt: number;
}

export interface Tap {
  /** A chunk in one direction; `t` = ms since epoch when it was read (live) or captured (pcap). */
  data(dir: Direction, chunk: Buffer, t: number): void;
  /** The connection ended (either side); no more data calls follow. */
  end(t: number): void;
}

/** Makes a Tap for a new connection, or returns undefined to relay it unread. */
export type TapFactory = (conn: ConnectionInfo) => Tap | undefined;
