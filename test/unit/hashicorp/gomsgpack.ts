// A test-side encoder that writes what go-msgpack 0.5.5 with a default MsgpackHandle writes
// (shared/research/hashicorp-raft.md §3.4): structs as maps with keys in sorted byte order, strings
// and []byte both as old-spec raw (fixstr 0xa0-0xbf, 0xda, 0xdb; never str8 or bin), nil as 0xc0,
// unsigned ints in their smallest form (fixint, cc, cd, ce, cf). Used to build byte streams for the
// decoder; the byte-exact vectors from the fact sheet are tested on their own, so this encoder is
// checked against real captures' bytes too.

export type GoValue = null | boolean | number | bigint | string | Uint8Array | GoValue[] | { [k: string]: GoValue };

export function enc(v: GoValue): Buffer {
  const out: number[] = [];
  write(v, out);
  return Buffer.from(out);
}

function uint(n: bigint, out: number[]): void {
  if (n < 0n) throw new Error('negative');
  if (n < 128n) out.push(Number(n));
  else if (n < 256n) out.push(0xcc, Number(n));
  else if (n < 65536n) out.push(0xcd, Number(n >> 8n), Number(n & 255n));
  else if (n < 1n << 32n) out.push(0xce, ...bytes(n, 4));
  else out.push(0xcf, ...bytes(n, 8));
}

function bytes(n: bigint, k: number): number[] {
  const r: number[] = [];
  for (let i = k - 1; i >= 0; i--) r.push(Number((n >> BigInt(i * 8)) & 255n));
  return r;
}

function raw(b: Uint8Array, out: number[]): void {
  const n = b.length;
  if (n < 32) out.push(0xa0 | n);
  else if (n < 65536) out.push(0xda, n >> 8, n & 255);
  else out.push(0xdb, ...bytes(BigInt(n), 4));
  for (const x of b) out.push(x);
}

function write(v: GoValue, out: number[]): void {
  if (v === null) out.push(0xc0);
  else if (v === true) out.push(0xc3);
  else if (v === false) out.push(0xc2);
  else if (typeof v === 'number') uint(BigInt(v), out);
  else if (typeof v === 'bigint') uint(v, out);
  else if (typeof v === 'string') raw(Buffer.from(v, 'utf8'), out);
  else if (v instanceof Uint8Array) raw(v, out);
  else if (Array.isArray(v)) {
    const n = v.length;
    if (n < 16) out.push(0x90 | n);
    else if (n < 65536) out.push(0xdc, n >> 8, n & 255);
    else out.push(0xdd, ...bytes(BigInt(n), 4));
    for (const x of v) write(x, out);
  } else {
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const n = keys.length;
    if (n < 16) out.push(0x80 | n);
    else out.push(0xde, n >> 8, n & 255);
    for (const k of keys) {
      raw(Buffer.from(k, 'utf8'), out);
      write(v[k]!, out);
    }
  }
}

// Go structs of raft 1.1.2 (keys as captured), with defaults like the Go zero values.

export interface LogSpec {
  Index: number | bigint;
  Term: number | bigint;
  Type: number;
  Data?: Uint8Array | string | null;
  Extensions?: Uint8Array | null;
}

export const logEntry = (l: LogSpec): GoValue => ({ Data: l.Data ?? null, Extensions: l.Extensions ?? null, Index: l.Index, Term: l.Term, Type: l.Type });

export function appendEntries(o: { Term: number | bigint; Leader: string; PrevLogEntry?: number | bigint; PrevLogTerm?: number | bigint; LeaderCommitIndex?: number | bigint; Entries?: LogSpec[] | null }): Buffer {
  return Buffer.concat([
    Buffer.from([0]),
    enc({
      Entries: o.Entries === undefined || o.Entries === null ? null : o.Entries.map(logEntry),
      Leader: Buffer.from(o.Leader),
      LeaderCommitIndex: o.LeaderCommitIndex ?? 0,
      PrevLogEntry: o.PrevLogEntry ?? 0,
      PrevLogTerm: o.PrevLogTerm ?? 0,
      ProtocolVersion: 3,
      Term: o.Term,
    }),
  ]);
}

export function appendResp(o: { Term: number; LastLog: number; Success: boolean; NoRetryBackoff?: boolean }, error = ''): Buffer {
  return Buffer.concat([enc(error), enc({ LastLog: o.LastLog, NoRetryBackoff: o.NoRetryBackoff ?? false, ProtocolVersion: 3, Success: o.Success, Term: o.Term })]);
}

export function requestVote(o: { Term: number; Candidate: string; LastLogIndex: number; LastLogTerm: number; LeadershipTransfer?: boolean }): Buffer {
  return Buffer.concat([
    Buffer.from([1]),
    enc({ Candidate: Buffer.from(o.Candidate), LastLogIndex: o.LastLogIndex, LastLogTerm: o.LastLogTerm, LeadershipTransfer: o.LeadershipTransfer ?? false, ProtocolVersion: 3, Term: o.Term }),
  ]);
}

export function voteResp(o: { Term: number; Granted: boolean }): Buffer {
  return Buffer.concat([enc(''), enc({ Granted: o.Granted, Peers: null, ProtocolVersion: 3, Term: o.Term })]);
}

export function configuration(servers: { ID: string; Address: string; Suffrage?: number }[]): Buffer {
  return enc({ Servers: servers.map((s) => ({ Address: Buffer.from(s.Address), ID: Buffer.from(s.ID), Suffrage: s.Suffrage ?? 0 })) });
}

export function installSnapshot(o: { Term: number; Leader: string; LastLogIndex: number; LastLogTerm: number; Size: number; Configuration?: Buffer; ConfigurationIndex?: number }, data: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([2]),
    enc({
      Configuration: o.Configuration ?? null,
      ConfigurationIndex: o.ConfigurationIndex ?? 0,
      LastLogIndex: o.LastLogIndex,
      LastLogTerm: o.LastLogTerm,
      Leader: Buffer.from(o.Leader),
      Peers: null,
      ProtocolVersion: 3,
      Size: o.Size,
      SnapshotVersion: 1,
      Term: o.Term,
    }),
    data,
  ]);
}

export function snapshotResp(o: { Term: number; Success: boolean }): Buffer {
  return Buffer.concat([enc(''), enc({ ProtocolVersion: 0, Success: o.Success, Term: o.Term })]);
}

export const timeoutNow = (): Buffer => Buffer.concat([Buffer.from([3]), enc({ ProtocolVersion: 3 })]);
export const timeoutNowResp = (): Buffer => Buffer.concat([enc(''), enc({ ProtocolVersion: 0 })]);
