// Validation of capture lines against the event contract (DESIGN.md §3).
// Strict about the fields a check reads, lenient about everything else: unknown extra fields are
// ignored so captures can carry more than we read. Returns a problem naming the field instead of
// throwing, so a reader can report the line and go on.

import type { CaptureHeader, Entry, RaftEvent } from './types.js';
import { CAPTURE_VERSION } from './types.js';

export interface FieldProblem {
  field: string;
  expected: string;
}

const ENTRY_KINDS = new Set(['data', 'noop', 'config']);
const NOOP_RESULTS = new Set(['sent', 'ok', 'failed', 'skipped']);

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `number ${v}`;
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function problem(field: string, expected: string, got: unknown): FieldProblem {
  return { field, expected: `${expected}, got ${describe(got)}` };
}

function checkEntry(e: unknown, i: number): FieldProblem | undefined {
  if (typeof e !== 'object' || e === null) return problem(`entries[${i}]`, 'an object', e);
  const o = e as Record<string, unknown>;
  if (!isIndex(o.index)) return problem(`entries[${i}].index`, 'a non-negative integer', o.index);
  if (!isIndex(o.term)) return problem(`entries[${i}].term`, 'a non-negative integer', o.term);
  if (!ENTRY_KINDS.has(o.kind as string)) return problem(`entries[${i}].kind`, '"data", "noop" or "config"', o.kind);
  if (o.digest !== undefined && typeof o.digest !== 'string') return problem(`entries[${i}].digest`, 'a hex string', o.digest);
  if (o.size !== undefined && !isIndex(o.size)) return problem(`entries[${i}].size`, 'a non-negative integer', o.size);
  if (o.voters !== undefined && !(Array.isArray(o.voters) && o.voters.every((v) => typeof v === 'string'))) {
    return problem(`entries[${i}].voters`, 'an array of node ids', o.voters);
  }
  return undefined;
}

/** Checks one parsed capture line; returns the event (same object) or the first problem found. */
export function validateEvent(o: unknown): RaftEvent | FieldProblem {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return problem('(line)', 'a JSON object', o);
  const e = o as Record<string, unknown>;
  if (typeof e.t !== 'number' || !Number.isFinite(e.t)) return problem('t', 'a number (ms since capture start)', e.t);
  if (typeof e.from !== 'string' || e.from === '') return problem('from', 'a node id string', e.from);
  if (typeof e.to !== 'string' || e.to === '') return problem('to', 'a node id string', e.to);
  if (!isIndex(e.term)) return problem('term', 'a non-negative integer', e.term);
  if (e.id !== undefined && typeof e.id !== 'string') return problem('id', 'a string', e.id);
  switch (e.type) {
    case 'append': {
      if (!isIndex(e.prevIndex)) return problem('prevIndex', 'a non-negative integer', e.prevIndex);
      if (!isIndex(e.prevTerm)) return problem('prevTerm', 'a non-negative integer', e.prevTerm);
      if (!isIndex(e.commit)) return problem('commit', 'a non-negative integer', e.commit);
      if (!Array.isArray(e.entries)) return problem('entries', 'an array of entries', e.entries);
      const entries = e.entries as Entry[];
      for (let i = 0; i < entries.length; i++) {
        const p = checkEntry(entries[i], i);
        if (p) return p;
        if (entries[i]!.index !== e.prevIndex + 1 + i) {
          return problem(`entries[${i}].index`, `${e.prevIndex + 1 + i} (prevIndex + ${i + 1}: entries are consecutive)`, entries[i]!.index);
        }
      }
      break;
    }
    case 'append_resp':
    case 'snapshot_resp':
      if (typeof e.success !== 'boolean') return problem('success', 'true or false', e.success);
      if (e.match !== undefined && !isIndex(e.match)) return problem('match', 'a non-negative integer', e.match);
      if (e.hint !== undefined && !isIndex(e.hint)) return problem('hint', 'a non-negative integer', e.hint);
      break;
    case 'heartbeat':
      if (!isIndex(e.commit)) return problem('commit', 'a non-negative integer', e.commit);
      break;
    case 'vote':
      if (!isIndex(e.lastIndex)) return problem('lastIndex', 'a non-negative integer', e.lastIndex);
      if (!isIndex(e.lastTerm)) return problem('lastTerm', 'a non-negative integer', e.lastTerm);
      if (e.pre === undefined) e.pre = false;
      else if (typeof e.pre !== 'boolean') return problem('pre', 'true or false', e.pre);
      break;
    case 'vote_resp':
      if (typeof e.granted !== 'boolean') return problem('granted', 'true or false', e.granted);
      if (e.pre === undefined) e.pre = false;
      else if (typeof e.pre !== 'boolean') return problem('pre', 'true or false', e.pre);
      break;
    case 'snapshot':
      if (!isIndex(e.lastIndex)) return problem('lastIndex', 'a non-negative integer', e.lastIndex);
      if (!isIndex(e.lastTerm)) return problem('lastTerm', 'a non-negative integer', e.lastTerm);
      break;
    case 'heartbeat_resp':
    case 'timeout_now':
      break;
    case 'noop':
      if (!NOOP_RESULTS.has(e.result as string)) return problem('result', '"sent", "ok", "failed" or "skipped"', e.result);
      if (typeof e.reason !== 'string') return problem('reason', 'a string', e.reason);
      break;
    default:
      return problem(
        'type',
        'one of append, append_resp, heartbeat, heartbeat_resp, vote, vote_resp, snapshot, snapshot_resp, timeout_now, noop',
        e.type,
      );
  }
  return e as unknown as RaftEvent;
}

export function isProblem<T extends object>(v: T | FieldProblem): v is FieldProblem {
  return (v as FieldProblem).expected !== undefined;
}

/** Checks a capture header (line 1). */
export function validateHeader(o: unknown): CaptureHeader | FieldProblem {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return problem('(header)', 'a JSON object', o);
  const h = o as Record<string, unknown>;
  if (h.raftguard !== 'capture') return problem('raftguard', '"capture" (line 1 must be the capture header)', h.raftguard);
  if (h.version !== CAPTURE_VERSION) return problem('version', `${CAPTURE_VERSION} (the only capture version this raftguard reads)`, h.version);
  if (typeof h.cluster !== 'string') return problem('cluster', 'a cluster name string', h.cluster);
  for (const f of ['nodes', 'observed'] as const) {
    const v = h[f];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== ''))) {
      return problem(f, 'an array of node id strings', v);
    }
  }
  if (h.thresholds !== undefined) {
    const t = h.thresholds;
    if (typeof t !== 'object' || t === null || Array.isArray(t) || !Object.values(t).every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      return problem('thresholds', 'an object of non-negative numbers', t);
    }
  }
  return h as unknown as CaptureHeader;
}
