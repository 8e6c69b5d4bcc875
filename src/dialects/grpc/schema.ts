// Loading a gRPC Raft schema: parse the .proto files with protobufjs, find the configured methods,
// and resolve each logical Raft field (term, leader_id, ...) to a concrete protobuf field.
// Every problem is collected, so a config with three mistakes reports all three at once.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import protobuf from 'protobufjs';

/** The Raft RPCs the dialect knows. */
export type RaftRpc = 'append' | 'vote' | 'preVote' | 'snapshot' | 'timeoutNow';

/** Messages whose fields are mapped. */
export type MessageRole =
  | 'appendRequest'
  | 'appendResponse'
  | 'voteRequest'
  | 'voteResponse'
  | 'snapshotRequest'
  | 'snapshotResponse'
  | 'timeoutNowRequest'
  | 'entry';

export type FieldKind = 'int' | 'id' | 'bool' | 'entries' | 'bytes' | 'entryType';

interface LogicalField {
  kind: FieldKind;
  required: boolean;
  /** Accepted names besides the logical name in camelCase and snake_case. */
  aliases?: string[];
}

/** The logical fields per message, in camelCase. Defaults match each name in camelCase or snake_case. */
export const LOGICAL_FIELDS: Record<MessageRole, Record<string, LogicalField>> = {
  appendRequest: {
    term: { kind: 'int', required: true },
    leaderId: { kind: 'id', required: true, aliases: ['leader', 'from'] },
    prevLogIndex: { kind: 'int', required: true, aliases: ['prev_index', 'prevIndex'] },
    prevLogTerm: { kind: 'int', required: true, aliases: ['prev_term', 'prevTerm'] },
    entries: { kind: 'entries', required: true },
    leaderCommit: { kind: 'int', required: true, aliases: ['commit', 'commit_index', 'commitIndex'] },
  },
  appendResponse: {
    term: { kind: 'int', required: true },
    success: { kind: 'bool', required: true },
    matchIndex: { kind: 'int', required: false, aliases: ['match', 'last_log_index', 'lastLogIndex'] },
    conflictIndex: { kind: 'int', required: false, aliases: ['reject_hint', 'rejectHint', 'hint'] },
  },
  voteRequest: {
    term: { kind: 'int', required: true },
    candidateId: { kind: 'id', required: true, aliases: ['candidate', 'from'] },
    lastLogIndex: { kind: 'int', required: true, aliases: ['last_index', 'lastIndex'] },
    lastLogTerm: { kind: 'int', required: true, aliases: ['last_term', 'lastTerm'] },
    preVote: { kind: 'bool', required: false, aliases: ['pre', 'prevote'] },
  },
  voteResponse: {
    term: { kind: 'int', required: true },
    voteGranted: { kind: 'bool', required: true, aliases: ['granted'] },
  },
  snapshotRequest: {
    term: { kind: 'int', required: true },
    leaderId: { kind: 'id', required: true, aliases: ['leader', 'from'] },
    lastIncludedIndex: { kind: 'int', required: true, aliases: ['last_index', 'lastIndex'] },
    lastIncludedTerm: { kind: 'int', required: true, aliases: ['last_term', 'lastTerm'] },
    offset: { kind: 'int', required: false },
    done: { kind: 'bool', required: false },
  },
  snapshotResponse: {
    term: { kind: 'int', required: true },
    success: { kind: 'bool', required: false },
  },
  timeoutNowRequest: {
    term: { kind: 'int', required: false },
    leaderId: { kind: 'id', required: true, aliases: ['leader', 'from'] },
  },
  entry: {
    index: { kind: 'int', required: true },
    term: { kind: 'int', required: true },
    type: { kind: 'entryType', required: false, aliases: ['kind', 'entry_type', 'entryType'] },
    data: { kind: 'bytes', required: true, aliases: ['payload', 'command'] },
  },
};

/** Default method paths: the reference schema, proto/raft.proto. */
export const REFERENCE_METHODS: Record<RaftRpc, string> = {
  append: '/raft.v1.Raft/AppendEntries',
  vote: '/raft.v1.Raft/RequestVote',
  preVote: '/raft.v1.Raft/PreVote',
  snapshot: '/raft.v1.Raft/InstallSnapshot',
  timeoutNow: '/raft.v1.Raft/TimeoutNow',
};

export interface SchemaConfig {
  /** .proto files; relative paths are resolved against `baseDir` (default: the process cwd). */
  protoFiles: string[];
  /** Directories searched for `import`s, after the importing file's own directory. */
  includeDirs?: string[];
  baseDir?: string;
  /**
   * Fully-qualified method path per RPC, e.g. "/raft.v1.Raft/AppendEntries". A method given here must
   * exist. Absent = the reference schema's path, used only if the schema has it. Set to null to ignore.
   */
  /** Keys: a RaftRpc, or an alias from METHOD_ALIASES (appendEntries, requestVote, installSnapshot). */
  methods?: Partial<Record<RaftRpc, string | null>> & Record<string, string | null | undefined>;
  /**
   * Per message (a MessageRole, or an alias from ROLE_ALIASES such as appendEntriesRequest), logical
   * field (camelCase, see LOGICAL_FIELDS) -> field name in the .proto.
   */
  fields?: Partial<Record<MessageRole, Record<string, string>>> & Record<string, Record<string, string> | undefined>;
  /** Entry type enum value names that mean no-op / config (default: names containing NOOP / CONF). */
  entryKinds?: { noop?: string[]; config?: string[] };
  /**
   * Fully-qualified message type of a CONFIG entry's data with a `repeated string voters` field, to
   * report the new membership. Default: "raft.v1.Configuration" when the schema has it.
   */
  configMessage?: string | null;
}

/** A logical field bound to the concrete protobuf field. */
export interface BoundField {
  name: string;
  kind: FieldKind;
  /** For entryType: enum value number -> name. */
  enumNames?: Record<number, string>;
}

export interface BoundMessage {
  type: protobuf.Type;
  fields: Record<string, BoundField | undefined>;
}

export interface BoundMethod {
  rpc: RaftRpc;
  path: string;
  request: BoundMessage;
  /** Absent for TimeoutNow (its response carries nothing the event contract uses). */
  response?: BoundMessage;
  /** For append: the Entry message. */
  entry?: BoundMessage;
}

export interface LoadedSchema {
  root: protobuf.Root;
  methods: Map<string, BoundMethod>;
  configType?: protobuf.Type;
  noopNames?: Set<string>;
  configNames?: Set<string>;
}

export class GrpcDialectConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`gRPC dialect config: ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
    this.name = 'GrpcDialectConfigError';
  }
}

const INT_TYPES = new Set(['uint64', 'int64', 'uint32', 'int32', 'fixed64', 'sfixed64', 'fixed32', 'sfixed32', 'sint64', 'sint32']);

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Parses the files and their imports into one root; collects every missing file and parse error. */
function parseFiles(cfg: SchemaConfig, problems: string[]): protobuf.Root {
  const root = new protobuf.Root();
  const seen = new Set<string>();
  const base = cfg.baseDir ?? process.cwd();
  const includeDirs = (cfg.includeDirs ?? []).map((d) => resolve(base, d));
  const visit = (file: string, from?: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!existsSync(file)) {
      problems.push(from ? `${from}: imported file ${file} not found` : `proto file not found: ${file}`);
      return;
    }
    let parsed: protobuf.IParserResult;
    try {
      // keepCase: field names stay as written in the .proto, so mappings name them as users see them.
      parsed = protobuf.parse(readFileSync(file, 'utf8'), root, { keepCase: true });
    } catch (err) {
      // protobufjs reports "(line N)"; prefix the file so the message says where.
      problems.push(`${file}: parse error: ${(err as Error).message}`);
      return;
    }
    for (const imp of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      if (imp.startsWith('google/protobuf/')) {
        try {
          root.loadSync(imp, { keepCase: true }); // bundled well-known types
        } catch (err) {
          problems.push(`${file}: import ${imp}: ${(err as Error).message}`);
        }
        continue;
      }
      const candidates = [join(dirname(file), imp), ...includeDirs.map((d) => join(d, imp))];
      const found = candidates.find((c) => existsSync(c));
      if (found) visit(found, file);
      else problems.push(`${file}: import "${imp}" not found (looked in ${candidates.map(dirname).join(', ')})`);
    }
  };
  if (!cfg.protoFiles || cfg.protoFiles.length === 0) problems.push('protoFiles: at least one .proto file is required');
  for (const f of cfg.protoFiles ?? []) visit(isAbsolute(f) ? f : resolve(base, f));
  try {
    root.resolveAll();
  } catch (err) {
    problems.push(`resolving types: ${(err as Error).message}`);
  }
  return root;
}

function bindMessage(type: protobuf.Type, role: MessageRole, mapping: Record<string, string> | undefined, where: string, problems: string[]): BoundMessage {
  const logical = LOGICAL_FIELDS[role];
  const out: BoundMessage = { type, fields: {} };
  for (const key of Object.keys(mapping ?? {})) {
    if (!(key in logical)) problems.push(`${where}: fields.${role}.${key}: unknown logical field (expected one of ${Object.keys(logical).join(', ')})`);
  }
  for (const [name, spec] of Object.entries(logical)) {
    const explicit = mapping?.[name];
    let field: protobuf.Field | undefined;
    if (explicit !== undefined) {
      field = type.fields[explicit] ?? type.fields[snake(explicit)] ?? type.fields[camel(explicit)];
      if (!field) {
        problems.push(`${where}: fields.${role}.${name} = "${explicit}": no such field in message ${type.fullName.slice(1)} (fields: ${Object.keys(type.fields).join(', ')})`);
        continue;
      }
    } else {
      const names = [name, snake(name), ...(spec.aliases ?? [])];
      for (const n of names) {
        field = type.fields[n] ?? type.fields[snake(n)] ?? type.fields[camel(n)];
        if (field) break;
      }
      if (!field) {
        if (spec.required) {
          problems.push(`${where}: message ${type.fullName.slice(1)} has no field for ${name} (tried ${names.map(snake).join(', ')}; map it with fields.${role}.${name})`);
        }
        continue;
      }
    }
    field.resolve();
    const typeProblem = checkFieldType(field, spec.kind);
    if (typeProblem) {
      problems.push(`${where}: ${type.fullName.slice(1)}.${field.name} (for ${name}) ${typeProblem}`);
      continue;
    }
    const bound: BoundField = { name: field.name, kind: spec.kind };
    if (spec.kind === 'entryType' && field.resolvedType instanceof protobuf.Enum) {
      bound.enumNames = { ...field.resolvedType.valuesById };
    }
    out.fields[name] = bound;
  }
  return out;
}

function checkFieldType(field: protobuf.Field, kind: FieldKind): string | undefined {
  const repeated = field.repeated;
  switch (kind) {
    case 'int':
      return !repeated && INT_TYPES.has(field.type) ? undefined : `must be a scalar integer field, is ${repeated ? 'repeated ' : ''}${field.type}`;
    case 'id':
      return !repeated && (field.type === 'string' || INT_TYPES.has(field.type)) ? undefined : `must be a string or integer node id, is ${field.type}`;
    case 'bool':
      return !repeated && field.type === 'bool' ? undefined : `must be bool, is ${field.type}`;
    case 'bytes':
      return !repeated && (field.type === 'bytes' || field.type === 'string') ? undefined : `must be bytes, is ${field.type}`;
    case 'entries':
      return repeated && field.resolvedType instanceof protobuf.Type ? undefined : `must be a repeated message field, is ${repeated ? 'repeated ' : ''}${field.type}`;
    case 'entryType':
      return !repeated && (field.resolvedType instanceof protobuf.Enum || INT_TYPES.has(field.type)) ? undefined : `must be an enum or integer, is ${field.type}`;
  }
}

const ROLES: Record<RaftRpc, [MessageRole, MessageRole | undefined]> = {
  append: ['appendRequest', 'appendResponse'],
  vote: ['voteRequest', 'voteResponse'],
  preVote: ['voteRequest', 'voteResponse'],
  snapshot: ['snapshotRequest', 'snapshotResponse'],
  timeoutNow: ['timeoutNowRequest', undefined],
};

/** Method keys also accepted under the RPCs' own names (as a YAML config is likely to spell them). */
export const METHOD_ALIASES: Record<string, RaftRpc> = {
  appendEntries: 'append',
  requestVote: 'vote',
  installSnapshot: 'snapshot',
};

/** Message role keys also accepted under the reference schema's message names. */
export const ROLE_ALIASES: Record<string, MessageRole> = {
  appendEntriesRequest: 'appendRequest',
  appendEntriesResponse: 'appendResponse',
  requestVoteRequest: 'voteRequest',
  requestVoteResponse: 'voteResponse',
  installSnapshotRequest: 'snapshotRequest',
  installSnapshotResponse: 'snapshotResponse',
};

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Folds aliases (appendEntries -> append, AppendEntriesRequest -> appendRequest) into canonical keys. */
function normalise(cfg: SchemaConfig, problems: string[]): SchemaConfig {
  const rpcs = Object.keys(REFERENCE_METHODS);
  const methods: Partial<Record<RaftRpc, string | null>> = {};
  for (const [key, v] of Object.entries(cfg.methods ?? {})) {
    if (v === undefined) continue;
    const k = (rpcs.includes(key) ? key : METHOD_ALIASES[key] ?? METHOD_ALIASES[lowerFirst(key)] ?? (rpcs.includes(lowerFirst(key)) ? lowerFirst(key) : undefined)) as RaftRpc | undefined;
    if (!k) problems.push(`methods.${key}: unknown RPC (expected one of ${[...rpcs, ...Object.keys(METHOD_ALIASES)].join(', ')})`);
    else if (k in methods) problems.push(`methods.${key}: ${k} is configured twice`);
    else methods[k] = v;
  }
  const roles = Object.keys(LOGICAL_FIELDS);
  const fields: Partial<Record<MessageRole, Record<string, string>>> = {};
  for (const [key, v] of Object.entries(cfg.fields ?? {})) {
    if (v === undefined) continue;
    const k = (roles.includes(key) ? key : ROLE_ALIASES[key] ?? ROLE_ALIASES[lowerFirst(key)] ?? (roles.includes(lowerFirst(key)) ? lowerFirst(key) : undefined)) as MessageRole | undefined;
    if (!k) problems.push(`fields.${key}: unknown message (expected one of ${[...roles, ...Object.keys(ROLE_ALIASES)].join(', ')})`);
    else if (k in fields) problems.push(`fields.${key}: ${k} is configured twice`);
    else fields[k] = v;
  }
  return { ...cfg, methods, fields };
}

/** Loads and checks a schema; throws GrpcDialectConfigError listing every problem found. */
export function loadSchema(config: SchemaConfig): LoadedSchema {
  const problems: string[] = [];
  const cfg = normalise(config, problems);
  const root = parseFiles(cfg, problems);
  const methods = new Map<string, BoundMethod>();
  const rpcs = Object.keys(REFERENCE_METHODS) as RaftRpc[];
  for (const rpc of rpcs) {
    const configured = cfg.methods?.[rpc];
    if (configured === null) continue;
    const path = configured ?? REFERENCE_METHODS[rpc];
    const where = `methods.${rpc} (${path})`;
    const m = /^\/([A-Za-z_][\w.]*)\/([A-Za-z_]\w*)$/.exec(path);
    if (!m) {
      problems.push(`${where}: expected "/package.Service/Method"`);
      continue;
    }
    const svc = root.lookup(m[1]!);
    const method = svc instanceof protobuf.Service ? svc.methods[m[2]!] : undefined;
    if (!method) {
      if (configured !== undefined) {
        const services = listServices(root);
        problems.push(`${where}: method not found in the schema (methods found: ${services.length ? services.join(', ') : 'none'})`);
      }
      continue;
    }
    let req: protobuf.Type, res: protobuf.Type;
    try {
      method.resolve();
      req = method.resolvedRequestType!;
      res = method.resolvedResponseType!;
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      continue;
    }
    const [reqRole, resRole] = ROLES[rpc];
    const bm: BoundMethod = { rpc, path, request: bindMessage(req, reqRole, cfg.fields?.[reqRole], where, problems) };
    if (resRole) bm.response = bindMessage(res, resRole, cfg.fields?.[resRole], where, problems);
    if (rpc === 'append') {
      const entriesField = bm.request.fields.entries;
      const entryType = entriesField ? req.fields[entriesField.name]?.resolvedType : undefined;
      if (entryType instanceof protobuf.Type) bm.entry = bindMessage(entryType, 'entry', cfg.fields?.entry, where, problems);
    }
    methods.set(path, bm);
  }
  if (methods.size === 0 && problems.length === 0) {
    problems.push(`no Raft method found: configure methods.append / methods.vote (methods in the schema: ${listServices(root).join(', ') || 'none'})`);
  }
  const schema: LoadedSchema = { root, methods };
  if (cfg.configMessage !== null) {
    const name = cfg.configMessage ?? 'raft.v1.Configuration';
    const t = root.lookup(name);
    if (t instanceof protobuf.Type && t.fields.voters?.repeated) schema.configType = t;
    else if (cfg.configMessage !== undefined) problems.push(`configMessage: ${name}: no message with a repeated "voters" field`);
  }
  if (cfg.entryKinds?.noop) schema.noopNames = new Set(cfg.entryKinds.noop);
  if (cfg.entryKinds?.config) schema.configNames = new Set(cfg.entryKinds.config);
  if (problems.length) throw new GrpcDialectConfigError(problems);
  return schema;
}

function listServices(root: protobuf.Root): string[] {
  const out: string[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) for (const m of obj.methodsArray) out.push(`/${obj.fullName.slice(1)}/${m.name}`);
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) walk(obj as protobuf.NamespaceBase);
    }
  };
  walk(root);
  return out;
}
