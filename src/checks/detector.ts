// The shape every detector family shares, and the bookkeeping for raising a finding once per
// distinct occurrence and tracking which findings are still open.

import type { EvidenceItem, Finding, NodeId, RaftEvent, Severity } from '../events/types.js';
import type { ClusterView } from '../cluster/view.js';

export interface CodeInfo {
  code: string;
  name: string;
  severity: Severity;
  /** The rule in plain words. */
  rule: string;
  recommendation: string;
}

export interface Detector {
  /** Codes this family raises. */
  readonly codes: readonly CodeInfo[];
  /** Called after the view applied `ev`. */
  onEvent(ev: RaftEvent, view: ClusterView): Finding[] | undefined;
  /** Called when time advances without an event (and, throttled, after events). */
  onTick(t: number, view: ClusterView): Finding[] | undefined;
  /**
   * Families that hold suspicious events until the reorder tolerance or the observer skew has
   * passed judge them up to `view.now` here, without running any silence-based check (see
   * Engine.settle).
   */
  onSettle?(view: ClusterView): Finding[] | undefined;
}

export interface TrackedFinding {
  key: string;
  finding: Finding;
  raisedAt: number;
  clearedAt?: number;
}

const MAX_KEYS = 20_000;
const MAX_CLEARED = 256;
/** Safety net: open conditions are cleared by their detectors; never hold more than this. */
const MAX_OPEN = 1024;

/** Dedupe keys and the open/cleared ledger, shared by all detectors of one engine. */
export class FindingLedger {
  private readonly seen = new Set<string>();
  readonly open = new Map<string, TrackedFinding>();
  readonly cleared: TrackedFinding[] = [];

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Records the key; false if it was already raised. */
  claim(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= MAX_KEYS) {
      // Forget the oldest half: an occurrence that old cannot recur in practice.
      let drop = MAX_KEYS >> 1;
      for (const k of this.seen) {
        if (drop-- <= 0) break;
        this.seen.delete(k);
      }
    }
    this.seen.add(key);
    return true;
  }

  /** Marks a finding as open (a condition that can clear later). */
  openFinding(key: string, f: Finding): void {
    if (this.open.size >= MAX_OPEN) this.clear(this.open.keys().next().value as string, f.t);
    this.open.set(key, { key, finding: f, raisedAt: f.t });
  }

  clear(key: string, t: number): TrackedFinding | undefined {
    const tr = this.open.get(key);
    if (!tr) return undefined;
    this.open.delete(key);
    // The finding already handed out stays as it was; the cleared record gets its own copy to
    // which the detector adds how it ended.
    tr.finding = { ...tr.finding, details: { ...tr.finding.details } };
    tr.clearedAt = t;
    this.cleared.push(tr);
    if (this.cleared.length > MAX_CLEARED) this.cleared.shift();
    return tr;
  }
}

export function ev(note: string, event?: RaftEvent): EvidenceItem {
  return event === undefined ? { note } : { note, event };
}

export function makeFinding(
  info: CodeInfo,
  t: number,
  term: number | undefined,
  nodes: NodeId[],
  message: string,
  evidence: EvidenceItem[],
  details?: Record<string, unknown>,
): Finding {
  const f: Finding = {
    code: info.code,
    name: info.name,
    severity: info.severity,
    t,
    nodes,
    message: `${message} Rule: ${info.rule}`,
    recommendation: info.recommendation,
    evidence,
  };
  if (term !== undefined) f.term = term;
  if (details !== undefined) f.details = details;
  return f;
}

/** Appends to a lazily created result array (no allocation on the common no-finding path). */
export function push(out: Finding[] | undefined, f: Finding): Finding[] {
  if (out === undefined) return [f];
  out.push(f);
  return out;
}
