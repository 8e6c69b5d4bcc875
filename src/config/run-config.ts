// The `raftguard run` configuration: parsed and validated at start-up, every problem reported at
// once with its path and line in the file.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isScalar, isSeq } from 'yaml';
import type { Thresholds } from '../engine.js';
import { ConfigReader, readThresholds } from './load.js';

export type DialectName = 'grpc' | 'etcd' | 'hashicorp';
export const DIALECTS: DialectName[] = ['grpc', 'etcd', 'hashicorp'];

export interface HostPort {
  host: string;
  port: number;
}

export interface MemberConfig {
  id: string;
  /** Where RaftGuard listens for this member's peer traffic (the address peers are told). */
  listen: HostPort;
  /** The member's real peer address. */
  target: HostPort;
  /** The member's client API, for the no-op injector. */
  client?: HostPort;
  /** etcd member ID (hex), to name members in decoded messages. */
  etcdId?: string;
  /**
   * hashicorp: the raft address the members advertise for this member, when it is not `listen`
   * itself (RaftGuard reached through NAT or a DNS name, or listening on 0.0.0.0). HashiCorp raft
   * names peers by this address on the wire (Leader, Candidate, configurations).
   */
  advertise?: HostPort;
}

export interface GrpcSection {
  proto: string[];
  methods: Record<string, string>;
  fields: Record<string, Record<string, string>>;
}

export interface RunConfig {
  file: string;
  cluster: string;
  dialect: DialectName;
  grpc?: GrpcSection;
  members: MemberConfig[];
  thresholds: Partial<Thresholds>;
  mode: 'passive' | 'active';
  /**
   * false: relay only, no passive reader at all (no events, no checks). For measuring what decoding
   * costs on top of the relay, or for running the data plane alone while diagnosing it. Default true.
   */
  decode?: boolean;
  capture?: { path: string; maxBytes: number; keep: number };
  admin: { listen: HostPort; token?: string };
  log: { level: string };
  /** The raw noop section, validated by the injector when active mode lands. */
  noop?: unknown;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseHostPort(v: unknown): HostPort | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/]+)):(\d{1,5})$/.exec(v.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

/** "100MB", "1GiB", "4096" (bytes). */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1 << 20, gb: 1e9, gib: 1 << 30 };
  return Math.round(Number(m[1]) * mult[unit]!);
}

export function loadRunConfig(file: string, env: NodeJS.ProcessEnv = process.env): RunConfig {
  const r = ConfigReader.fromFile(file);
  const base = dirname(resolve(file));
  const scalar = (path: string[]): unknown => {
    const n = r.node(path);
    return isScalar(n) ? n.value : n;
  };
  const need = (path: string[], what: string): unknown => {
    const v = scalar(path);
    if (v === undefined || v === null) r.problem(path.join('.'), r.node(path.slice(0, -1)), `missing: expected ${what}`);
    return v;
  };
  const allowed = new Set(['cluster', 'dialect', 'grpc', 'members', 'thresholds', 'mode', 'decode', 'capture', 'admin', 'log', 'noop']);
  for (const [k, node] of r.entries([])) {
    if (!allowed.has(k)) r.problem(k, node, `unknown key; expected one of: ${[...allowed].join(', ')}`);
  }

  const cluster = need(['cluster'], 'a cluster name');
  if (cluster !== undefined && typeof cluster !== 'string') r.problem('cluster', r.node(['cluster']), 'expected a string');

  const dialect = need(['dialect'], `one of ${DIALECTS.join(', ')}`);
  if (dialect !== undefined && !DIALECTS.includes(dialect as DialectName)) {
    r.problem('dialect', r.node(['dialect']), `unknown dialect "${String(dialect)}"; expected one of ${DIALECTS.join(', ')}`);
  }

  // members
  const members: MemberConfig[] = [];
  const mNode = r.node(['members']);
  if (!isSeq(mNode) || mNode.items.length === 0) {
    r.problem('members', mNode, 'expected a list of members (id, listen, target[, client])');
  } else {
    const ids = new Set<string>();
    const listens = new Set<string>();
    const advertised = new Set<string>();
    mNode.items.forEach((_, i) => {
      const at = (k: string): string => `members[${i}].${k}`;
      const get = (k: string): unknown => scalar(['members', String(i), k]);
      const nodeOf = (k: string): unknown => r.node(['members', String(i), k]) ?? r.node(['members', String(i)]);
      for (const [k, node] of r.entries(['members', String(i)])) {
        if (!['id', 'listen', 'target', 'client', 'etcdId', 'advertise'].includes(k)) r.problem(at(k), node, 'unknown key; expected id, listen, target, client, etcdId or advertise');
      }
      const id = get('id');
      if (typeof id !== 'string' || id === '') r.problem(at('id'), nodeOf('id'), 'expected a member id string');
      else if (ids.has(id)) r.problem(at('id'), nodeOf('id'), `duplicate member id "${id}"`);
      else ids.add(id);
      const addr = (k: string, required: boolean): HostPort | undefined => {
        const v = get(k);
        if (v === undefined && !required) return undefined;
        if (typeof v === 'string' && /^https:\/\//i.test(v)) {
          r.problem(at(k), nodeOf(k), 'TLS peer URLs are not supported yet: RaftGuard relays plain TCP and cannot decode TLS; use http:// peer URLs or leave this member out');
          return undefined;
        }
        const hp = parseHostPort(typeof v === 'string' ? v.replace(/^http:\/\//i, '') : v);
        if (!hp) r.problem(at(k), nodeOf(k), `expected host:port (e.g. 127.0.0.1:7001), got ${JSON.stringify(v)}`);
        return hp;
      };
      const listen = addr('listen', true);
      const target = addr('target', true);
      const client = addr('client', false);
      if (listen) {
        const key = `${listen.host}:${listen.port}`;
        if (listen.port !== 0 && listens.has(key)) r.problem(at('listen'), nodeOf('listen'), `listen address ${key} used twice`);
        listens.add(key);
      }
      const etcdId = get('etcdId');
      if (etcdId !== undefined && !(typeof etcdId === 'string' && /^[0-9a-f]{1,16}$/i.test(etcdId))) {
        r.problem(at('etcdId'), nodeOf('etcdId'), 'expected the etcd member ID in hex (as `etcdctl member list` prints it)');
      }
      let advertise: HostPort | undefined;
      if (get('advertise') !== undefined) {
        if (dialect !== 'hashicorp') {
          r.problem(at('advertise'), nodeOf('advertise'), `advertise is the raft address HashiCorp raft members advertise; it means nothing to dialect ${String(dialect)}`);
        } else {
          const v = get('advertise');
          advertise = parseHostPort(v);
          if (!advertise) r.problem(at('advertise'), nodeOf('advertise'), `expected the host:port the members advertise for this member (raft.NewTCPTransport's advertise address), got ${JSON.stringify(v)}`);
          else if (/^(0\.0\.0\.0|::)$/.test(advertise.host)) r.problem(at('advertise'), nodeOf('advertise'), 'an unspecified address (0.0.0.0, ::) cannot be advertised: HashiCorp raft refuses it; give the address peers dial');
        }
      }
      if (dialect === 'hashicorp') {
        const named = advertise ?? listen;
        if (named) {
          const key = `${named.host.toLowerCase()}:${named.port}`;
          if (named.port !== 0 && advertised.has(key)) r.problem(at(advertise ? 'advertise' : 'listen'), nodeOf(advertise ? 'advertise' : 'listen'), `raft address ${key} names two members (HashiCorp raft tells members apart by it)`);
          advertised.add(key);
        }
      }
      if (typeof id === 'string' && listen && target) {
        members.push({ id, listen, target, ...(client ? { client } : {}), ...(typeof etcdId === 'string' ? { etcdId: etcdId.toLowerCase() } : {}), ...(advertise ? { advertise } : {}) });
      }
    });
  }

  // grpc
  let grpc: GrpcSection | undefined;
  if (dialect === 'grpc') {
    const protoV = r.node(['grpc', 'proto']);
    const protos: string[] = [];
    const list = isSeq(protoV) ? protoV.items.map((x) => (isScalar(x) ? x.value : x)) : [scalar(['grpc', 'proto'])];
    for (const p of list) {
      if (typeof p !== 'string') {
        r.problem('grpc.proto', protoV ?? r.node(['grpc']), 'expected the path of the .proto file(s) describing the peer service');
        continue;
      }
      const abs = resolve(base, p);
      if (!existsSync(abs)) r.problem('grpc.proto', protoV, `no such file: ${abs}`);
      protos.push(abs);
    }
    const methods: Record<string, string> = {};
    for (const [k, node] of r.entries(['grpc', 'methods'])) {
      const v = isScalar(node) ? node.value : undefined;
      if (typeof v !== 'string' || !/^\/[\w.]+\/\w+$/.test(v)) r.problem(`grpc.methods.${k}`, node, 'expected a gRPC method path such as /raft.v1.Raft/AppendEntries');
      else methods[k] = v;
    }
    const fields: Record<string, Record<string, string>> = {};
    for (const [msg] of r.entries(['grpc', 'fields'])) {
      fields[msg] = {};
      for (const [k, node] of r.entries(['grpc', 'fields', msg])) {
        const v = isScalar(node) ? node.value : undefined;
        if (typeof v !== 'string') r.problem(`grpc.fields.${msg}.${k}`, node, 'expected a field name');
        else fields[msg]![k] = v;
      }
    }
    grpc = { proto: protos, methods, fields };
  }

  const thresholds = readThresholds(r);

  const mode = scalar(['mode']) ?? 'passive';
  if (mode !== 'passive' && mode !== 'active') r.problem('mode', r.node(['mode']), 'expected passive or active');

  const decode = scalar(['decode']) ?? true;
  if (typeof decode !== 'boolean') r.problem('decode', r.node(['decode']), 'expected true (default) or false (relay only, nothing decoded)');
  if (decode === false && mode === 'active') r.problem('decode', r.node(['decode']), 'active mode needs decoding (it acts on what it decodes); remove decode: false or use mode: passive');

  let capture: RunConfig['capture'];
  if (r.node(['capture']) !== undefined) {
    const p = scalar(['capture', 'path']);
    const maxBytes = parseBytes(scalar(['capture', 'maxBytes']) ?? '256MiB');
    const keep = scalar(['capture', 'keep']) ?? 5;
    if (typeof p !== 'string') r.problem('capture.path', r.node(['capture']), 'expected the capture file path');
    if (maxBytes === undefined) r.problem('capture.maxBytes', r.node(['capture', 'maxBytes']), 'expected a size such as 256MiB');
    if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 1) r.problem('capture.keep', r.node(['capture', 'keep']), 'expected a whole number ≥ 1');
    if (typeof p === 'string' && maxBytes !== undefined && typeof keep === 'number') capture = { path: resolve(base, p), maxBytes, keep };
  }

  const adminListen = scalar(['admin', 'listen']) ?? '127.0.0.1:9900';
  const admin = parseHostPort(adminListen);
  if (!admin) r.problem('admin.listen', r.node(['admin', 'listen']), `expected host:port, got ${JSON.stringify(adminListen)}`);
  const tokenV = scalar(['admin', 'token']) ?? env.RAFTGUARD_ADMIN_TOKEN;
  if (tokenV !== undefined && typeof tokenV !== 'string') r.problem('admin.token', r.node(['admin', 'token']), 'expected a string');
  const token = typeof tokenV === 'string' && tokenV !== '' ? tokenV : undefined;
  if (admin && !/^(127\.|localhost$|::1$)/.test(admin.host) && !token) {
    r.problem('admin.token', r.node(['admin']), `admin.listen ${admin.host} is not loopback: a bearer token is required (admin.token or RAFTGUARD_ADMIN_TOKEN)`);
  }

  const level = scalar(['log', 'level']) ?? 'info';
  if (typeof level !== 'string' || !LOG_LEVELS.includes(level)) r.problem('log.level', r.node(['log', 'level']), `expected one of ${LOG_LEVELS.join(', ')}`);

  const noop = r.node(['noop']) === undefined ? undefined : r.doc.toJS().noop;

  r.throwIfProblems();
  return {
    file,
    cluster: cluster as string,
    dialect: dialect as DialectName,
    ...(grpc ? { grpc } : {}),
    members,
    thresholds,
    mode: mode as 'passive' | 'active',
    ...(decode === false ? { decode: false } : {}),
    ...(capture ? { capture } : {}),
    admin: { listen: admin!, ...(token ? { token } : {}) },
    log: { level: level as string },
    ...(noop !== undefined ? { noop } : {}),
  };
}
