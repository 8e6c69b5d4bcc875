// Member identity for the HashiCorp dialect. HashiCorp raft names peers by their *advertised* raft
// address: it is what the cluster configuration holds and what the Leader / Candidate / Addr fields
// carry on the wire (shared/research/hashicorp-raft.md §2). With RaftGuard in front, each member
// advertises its RaftGuard listener, so the listener address (or the `advertise` address configured
// for it, when members reach RaftGuard through NAT or DNS) names the member.

export interface AddressedMember {
  id: string;
  /** host:port the members advertise for this member. */
  address: { host: string; port: number };
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '[::]', '']);

function hostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2] ?? '').toLowerCase(), port: Number(m[3]) };
}

export class MemberAddresses {
  private readonly exact = new Map<string, string>();
  /** Members whose listener is on an unspecified host (0.0.0.0): known by port alone. */
  private readonly byPort = new Map<number, string | null>();
  private readonly cache = new Map<string, string>();

  constructor(members: AddressedMember[], private readonly maxCached = 1024) {
    for (const m of members) {
      const host = m.address.host.toLowerCase();
      this.exact.set(`${host}:${m.address.port}`, m.id);
      if (UNSPECIFIED.has(host)) {
        // Two members on one port behind different unspecified binds cannot be told apart by port.
        this.byPort.set(m.address.port, this.byPort.has(m.address.port) ? null : m.id);
      }
    }
  }

  /** The member an advertised address names, else the address itself (as etcd names unknown IDs by hex). */
  name(address: string): string {
    const hit = this.cache.get(address);
    if (hit !== undefined) return hit;
    let out = address;
    const hp = hostPort(address);
    if (hp) {
      out = this.exact.get(`${hp.host}:${hp.port}`) ?? this.byPort.get(hp.port) ?? address;
    }
    // Addresses come from the wire: bound what is remembered about them.
    if (this.cache.size < this.maxCached) this.cache.set(address, out);
    return out;
  }
}
