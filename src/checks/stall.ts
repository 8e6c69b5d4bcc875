// RG010 previous-term-commit-stall and RG011 transition-commit-lag: the leader-transition hazards.
// RG010 is what the no-op injector acts on, so its open/cleared state and the moment leadership
// was established are exposed (see StallDetector.stallFor / Engine accessors).
// In active mode the injector's decisions come back in as `noop` events; RG010 reads them like any
// other event (so a replay of the capture judges them exactly as the live run did): the finding
// carries what was done, escalates when an injection failed or landed without clearing the stall
// within `noopVerifyMs`, and the cleared record says when it was the injection that cleared it.

import type { Finding, NoopEvent, RaftEvent } from '../events/types.js';
import type { ClusterView, LeaderTerm } from '../cluster/view.js';
import { TermMap } from '../cluster/term-map.js';
import type { StallAction, Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG010: CodeInfo = {
  code: 'RG010',
  name: 'previous-term-commit-stall',
  severity: 'warning',
  rule: 'A new leader can commit entries left from earlier terms only by committing an entry of its own term above them (Raft §5.4.2); without one, they stay uncommitted.',
  recommendation:
    'Make the implementation append a no-op entry on election (etcd and hashicorp/raft do). Meanwhile, one client write to the new leader clears the stall; RaftGuard active mode can send that no-op.',
};

/** The same code, raised again when RaftGuard's own repair did not work: a different next step. */
const RG010_ESCALATED: CodeInfo = {
  ...RG010,
  recommendation:
    'The no-op did not clear the stall: check that the leader replicates to a majority (RG014, follower health) and that the configured client request really appends an entry on the leader; write to the leader by hand meanwhile (raftguard will not retry).',
};

/** Dry-run decisions are `skipped` events whose reason starts with this (the injector writes them). */
export const DRY_RUN_REASON = 'dry run';
export const isDryRun = (reason: string): boolean => reason.startsWith(DRY_RUN_REASON);

export function copyAction(a: StallAction): StallAction {
  return { ...a, decisions: a.decisions.map((d) => ({ ...d })) };
}

export const RG011: CodeInfo = {
  code: 'RG011',
  name: 'transition-commit-lag',
  severity: 'warning',
  rule: 'After a leader change the new leader\'s commit index can be below what the cluster already committed; reads served from its state in that window are stale.',
  recommendation:
    'Serve linearizable reads only after the leader committed an entry of its own term (ReadIndex / a no-op on election); shorten the window by appending the no-op immediately.',
};

export interface StallState {
  leader: string;
  term: number;
  /** When the hazard (majority holds earlier-term entries above commit, no own-term entry) began. */
  hazardSince?: number;
  /** When the hazard was first seen in this term (hazardSince resets once an own-term entry appears). */
  firstHazardAt?: number;
  open: boolean;
  raisedAt?: number;
  clearedAt?: number;
  clearedBy?: 'noop' | 'own-term-entry';
  stalledFrom?: number;
  stalledIndex?: number;
  key?: string;
  finding?: Finding;
  /** The injector's decisions for this (leader, term), from its `noop` events. */
  action?: StallAction;
  /** Those `noop` events, as evidence (bounded like `action.decisions`). */
  noopEvents: NoopEvent[];
  escalated?: boolean;
}

interface LagState {
  raised: boolean;
  key?: string;
  clearedAt?: number;
}

const KEEP = 16;
/** Decisions kept per (leader, term): the injector makes at most one request, so sent + ok/failed (+ a skip). */
const MAX_DECISIONS = 4;

export class StallDetector implements Detector {
  readonly codes = [RG010, RG011];
  /** RG010 and RG011 state per term, newest KEEP terms (see cluster/term-map.ts for why not a Map). */
  readonly stalls = new TermMap<StallState>();
  private readonly lags = new TermMap<LagState>();

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  /** RG010 state for (leader, term), if that leader was seen. */
  stallFor(leader: string, term: number): StallState | undefined {
    const s = this.stalls.get(term);
    return s && s.leader === leader ? s : undefined;
  }

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    if (e.type === 'noop') return this.onNoop(e, view);
    const lt = view.lt;
    if (!lt) return undefined;
    let out = this.evalStall(lt, view, undefined);
    out = this.evalLag(lt, view, out);
    return out;
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    const lt = view.currentLeader;
    if (!lt) return undefined;
    let out = this.evalStall(lt, view, undefined);
    out = this.evalLag(lt, view, out);
    return out;
  }

  private stateOf(lt: LeaderTerm): StallState {
    let s = this.stalls.get(lt.term);
    if (!s || s.leader !== lt.leader.id) {
      s = { leader: lt.leader.id, term: lt.term, open: false, noopEvents: [] };
      this.stalls.set(lt.term, s);
      if (this.stalls.size > KEEP) {
        const old = this.stalls.deleteMin()!;
        if (old.open && old.key) this.ledger.clear(old.key, lt.since);
      }
    }
    return s;
  }

  /** An injector decision about (e.to, e.term): recorded on that stall; a failure may escalate at once. */
  private onNoop(e: NoopEvent, view: ClusterView): Finding[] | undefined {
    const lt = view.leaderTerm(e.term);
    // A decision about a leader never seen in that term has nothing to attach to.
    if (!lt || lt.leader.id !== e.to) return undefined;
    const s = this.stateOf(lt);
    const a = (s.action ??= { kind: 'noop', result: e.result, reason: e.reason, dryRun: false, decisions: [] });
    a.result = e.result;
    a.reason = e.reason;
    if (e.result === 'skipped' && isDryRun(e.reason)) a.dryRun = true;
    if (e.result === 'sent' && a.sentAt === undefined) a.sentAt = e.t;
    if (e.result === 'ok' && a.okAt === undefined) a.okAt = e.t;
    if (e.result === 'failed' && a.failedAt === undefined) a.failedAt = e.t;
    if (a.decisions.length < MAX_DECISIONS) a.decisions.push({ t: e.t, result: e.result, reason: e.reason });
    if (s.noopEvents.length < MAX_DECISIONS) s.noopEvents.push(e);
    if (s.open && s.key) {
      // The finding already handed out stays as it was; the open record shows the latest action.
      const f = this.ledger.open.get(s.key)?.finding;
      if (f) this.replaceOpen(s.key, { ...f, details: { ...f.details, action: copyAction(a) } });
    }
    return lt === view.currentLeader ? this.evalStall(lt, view, undefined) : undefined;
  }

  private replaceOpen(key: string, f: Finding): void {
    const tr = this.ledger.open.get(key);
    if (tr) tr.finding = f;
    else this.ledger.openFinding(key, f);
  }

  private evalStall(lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const s = this.stateOf(lt);
    if (s.clearedAt !== undefined) return out;
    if (s.firstHazardAt !== undefined && lt.firstOwnIndex <= lt.commit && lt.commit >= (s.stalledIndex ?? 0)) {
      this.clearStall(s, lt, view.now);
      return out;
    }
    if (s.open) {
      if (view.currentLeader !== lt && view.currentLeader && view.currentLeader.term > lt.term) {
        // A newer leader took over: the stall of this term is moot.
        s.open = false;
        s.clearedAt = view.now;
        const tr = this.ledger.clear(s.key!, view.now);
        if (tr?.finding.details) tr.finding.details.supersededAt = view.now;
        return out;
      }
      return this.escalate(s, lt, view, out);
    }
    if (s.raisedAt !== undefined) return out;
    out = this.escalate(s, lt, view, out);
    if (s.open) return out;
    if (lt.firstOwnIndex !== Infinity || view.currentLeader !== lt) {
      s.hazardSince = undefined;
      return out;
    }
    const m = view.majorityIndex(lt);
    if (m <= lt.commit) {
      s.hazardSince = undefined;
      return out;
    }
    if (s.hazardSince === undefined) s.hazardSince = view.now;
    if (s.firstHazardAt === undefined) s.firstHazardAt = view.now;
    s.stalledFrom = lt.commit + 1;
    s.stalledIndex = m;
    if (view.now - s.hazardSince < this.th.stallMs) return out;
    // Stamped with the moment the hazard crossed the threshold (not when a tick noticed it), so the
    // live run and the replay of its capture, which tick at different times, raise it at the same t.
    const at = s.hazardSince + this.th.stallMs;
    const L = lt.leader.id;
    const key = `RG010|${L}|${lt.term}`;
    if (!this.ledger.claim(key)) return out;
    s.open = true;
    s.raisedAt = at;
    s.key = key;
    const a = s.action;
    const did = a === undefined ? '' : a.dryRun ? ` RaftGuard (dry run) decided to send a no-op at ${Math.round(a.decisions[0]!.t)} ms and sent nothing.` : ` RaftGuard's no-op: ${a.result} (${a.reason}).`;
    const f = makeFinding(
      RG010,
      at,
      lt.term,
      [L],
      `Leader ${L} of term ${lt.term} has entries ${s.stalledFrom}..${m} from earlier terms on a majority but above its commit ${lt.commit}, and no entry of term ${lt.term} for ${Math.round(at - s.hazardSince)} ms: they cannot commit until it appends one.${did}`,
      this.evidence(lt, s),
      { ...this.details(lt, s), ...(a ? { action: copyAction(a) } : {}) },
    );
    s.finding = f;
    this.ledger.openFinding(key, f);
    return push(out, f);
  }

  private evidence(lt: LeaderTerm, s: StallState) {
    const L = lt.leader.id;
    const evidence = [
      ev(`${L} acts as leader of term ${lt.term}; its commit is ${lt.commit}`, lt.commitEv),
      ev(`${L}'s log reaches index ${lt.lastIndex}, with no entry of term ${lt.term} ${lt.firstOwnIndex === Infinity ? 'sent' : 'committed'}`, lt.lastIndexEv),
    ];
    for (const [f, evt] of lt.matchEv) evidence.push(ev(`${f} holds up to index ${lt.match.get(f)} in term ${lt.term}`, evt));
    for (const e of s.noopEvents) evidence.push(ev(`RaftGuard's no-op decision for ${L} in term ${lt.term}: ${e.result} (${e.reason})`, e));
    return evidence;
  }

  private details(lt: LeaderTerm, s: StallState): Record<string, unknown> {
    return {
      leader: lt.leader.id,
      stalledFrom: s.stalledFrom,
      stalledIndex: s.stalledIndex,
      since: s.hazardSince ?? s.firstHazardAt,
      establishedAt: lt.establishedAt,
      commit: lt.commit,
    };
  }

  /**
   * After an injection was sent: if it failed, or it landed (ok) / has no answer and the stall is still
   * there `noopVerifyMs` later, RG010 escalates (raised now if it was not yet, or raised again with the
   * injection's outcome). Only for the current leader: a newer term makes the stall moot.
   */
  private escalate(s: StallState, lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const a = s.action;
    if (!a || a.sentAt === undefined || s.escalated || s.firstHazardAt === undefined || view.currentLeader !== lt) return out;
    const failed = a.failedAt !== undefined;
    const from = a.okAt ?? a.sentAt;
    const at = failed ? a.failedAt! : from + this.th.noopVerifyMs;
    if (view.now < at) return out;
    const L = lt.leader.id;
    if (!this.ledger.claim(`RG010|${L}|${lt.term}|escalated`)) return out;
    s.escalated = true;
    const stalled = `entries ${s.stalledFrom}..${s.stalledIndex} from earlier terms are still above its commit ${lt.commit}`;
    const what = failed
      ? `RaftGuard's no-op to leader ${L} of term ${lt.term} failed (${a.reason}) and ${stalled}; it is not retried.`
      : `RaftGuard's no-op to leader ${L} of term ${lt.term} ${a.okAt !== undefined ? `was accepted at ${Math.round(a.okAt)} ms` : `was sent at ${Math.round(a.sentAt)} ms and has no answer yet`}, but ${Math.round(at - from)} ms later ${stalled}, with no entry of term ${lt.term} committed: the injection did not clear the stall.`;
    const f = makeFinding(RG010_ESCALATED, at, lt.term, [L], `Escalated: ${what}`, this.evidence(lt, s), {
      ...this.details(lt, s),
      action: copyAction(a),
      escalated: true,
      escalation: failed ? 'injection-failed' : 'stall-persists',
      verifyMs: this.th.noopVerifyMs,
    });
    if (s.open && s.key) {
      this.replaceOpen(s.key, f);
    } else {
      const key = `RG010|${L}|${lt.term}`;
      this.ledger.claim(key);
      s.open = true;
      s.raisedAt = at;
      s.key = key;
      this.ledger.openFinding(key, f);
    }
    s.finding = f;
    return push(out, f);
  }

  private clearStall(s: StallState, lt: LeaderTerm, now: number): void {
    s.clearedAt = now;
    // The injection cleared it when the leader's first entry of its term appeared after it was sent.
    const sentAt = s.action?.sentAt;
    s.clearedBy = sentAt !== undefined && lt.firstOwnEv !== undefined && lt.firstOwnEv.t >= sentAt ? 'noop' : 'own-term-entry';
    if (!s.open) return;
    s.open = false;
    const tr = this.ledger.clear(s.key!, now);
    if (tr?.finding.details) {
      const d = tr.finding.details;
      d.clearedAt = now;
      d.timeToClearMs = now - (s.raisedAt ?? now);
      d.clearedBy = s.clearedBy;
      if (s.action) d.action = copyAction(s.action);
    }
  }

  private evalLag(lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    if (!lt.commitSeen || lt.priorMaxCommit <= 0) return out;
    let s = this.lags.get(lt.term);
    if (!s) {
      s = { raised: false };
      this.lags.set(lt.term, s);
      if (this.lags.size > KEEP) {
        const old = this.lags.deleteMin()!;
        if (old.raised && old.key && old.clearedAt === undefined) this.ledger.clear(old.key, view.now);
      }
    }
    if (s.clearedAt !== undefined) return out;
    if (lt === view.currentLeader) {
      // Older leaders' lag windows ended when this leader took over.
      const lags = this.lags;
      for (let i = 0; i < lags.size; i++) {
        const o = lags.recordAt(i);
        if (lags.termAt(i) < lt.term && o.raised && o.key && o.clearedAt === undefined) {
          o.clearedAt = view.now;
          const tr = this.ledger.clear(o.key, view.now);
          if (tr?.finding.details) tr.finding.details.supersededAt = view.now;
        }
      }
    }
    if (lt.commit >= lt.priorMaxCommit) {
      s.clearedAt = view.now;
      if (s.raised && s.key) {
        const tr = this.ledger.clear(s.key, view.now);
        if (tr?.finding.details) {
          tr.finding.details.durationMs = view.now - lt.since;
          tr.finding.details.ongoing = false;
        }
      }
      return out;
    }
    if (s.raised || view.now - lt.since < this.th.transitionLagMs) return out;
    const L = lt.leader.id;
    const key = `RG011|${L}|${lt.term}`;
    if (!this.ledger.claim(key)) return out;
    s.raised = true;
    s.key = key;
    const f = makeFinding(
      RG011,
      view.now,
      lt.term,
      [L],
      `New leader ${L} of term ${lt.term} has commit ${lt.commit}, below the ${lt.priorMaxCommit} the cluster already reached, for ${Math.round(view.now - lt.since)} ms so far.`,
      [ev(`${L} advertises commit ${lt.commit} as leader of term ${lt.term}`, lt.commitEv)],
      { leader: L, leaderCommit: lt.commit, clusterCommit: lt.priorMaxCommit, since: lt.since, durationMs: view.now - lt.since, ongoing: true },
    );
    this.ledger.openFinding(key, f);
    return push(out, f);
  }
}
