// RG008 vote-for-stale-log.
//
// The voter's log at vote time is known only through its own successful answers: an append_resp
// (or snapshot_resp) of term T0 < T (the vote's term) proves it then held the T0 leader's entry at
// the match index, so its last (term, index) was at least that. Appends of terms >= T may come from
// the candidate itself and say nothing about vote time; appends of a term between T0 and T could
// have changed the voter's log (even shortened it), so their presence makes the check stay silent.
// Acks travel on other connections than the vote: judge after the reorder tolerance.

import type { Finding, NodeId, RaftEvent, VoteEvent, VoteRespEvent } from '../events/types.js';
import type { AckFact, ClusterView } from '../cluster/view.js';
import { isIndex } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG008: CodeInfo = {
  code: 'RG008',
  name: 'vote-for-stale-log',
  severity: 'critical',
  rule: 'A node may grant its vote only to a candidate whose log is at least as up-to-date as its own (last term, then last index) (Raft §5.4.1).',
  recommendation:
    'Fix the up-to-date comparison in the vote handler (compare lastLogTerm first, then lastLogIndex, against the voter\'s own last entry). A leader elected this way can overwrite committed entries.',
};

interface PendingGrant {
  resp: VoteRespEvent;
  t: number;
}

const KEEP_REQUESTS = 256;

export class VoteDetector implements Detector {
  readonly codes = [RG008];
  private readonly requests = new Map<string, VoteEvent>();
  private readonly pending: PendingGrant[] = [];

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    if (e.type === 'vote' && e.pre !== true && isIndex(e.term) && isIndex(e.lastIndex) && isIndex(e.lastTerm)) {
      const key = e.from + '\u0000' + e.term;
      if (!this.requests.has(key)) {
        this.requests.set(key, e);
        if (this.requests.size > KEEP_REQUESTS) this.requests.delete(this.requests.keys().next().value as string);
      }
    } else if (e.type === 'vote_resp' && e.granted === true && e.pre !== true && isIndex(e.term) && typeof e.to === 'string') {
      if (this.pending.length >= 64) this.pending.shift();
      this.pending.push({ resp: e, t: view.now });
    }
    return this.pending.length === 0 ? undefined : this.evaluate(view);
  }

  onSettle(view: ClusterView): Finding[] | undefined {
    return this.onTick(view.now, view);
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    return this.pending.length === 0 ? undefined : this.evaluate(view);
  }

  private evaluate(view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    const tol = this.th.reorderToleranceMs;
    while (this.pending.length !== 0 && view.now - this.pending[0].t > tol) {
      const p = this.pending.shift()!;
      const f = this.judge(p.resp, view);
      if (f) out = push(out, f);
    }
    return out;
  }

  private judge(resp: VoteRespEvent, view: ClusterView): Finding | undefined {
    const V: NodeId = resp.from;
    const C: NodeId = resp.to;
    const T = resp.term;
    if (!view.isObserved(V) || !view.isObserved(C)) return undefined;
    const req = this.requests.get(C + '\u0000' + T);
    if (!req) return undefined;
    const voter = view.nodes.get(V);
    if (!voter) return undefined;
    let fact: AckFact | undefined;
    for (const a of voter.acks) if (a.term < T && (!fact || a.term > fact.term)) fact = a;
    if (!fact || fact.entryTerm <= 0 || fact.match <= 0) return undefined;
    const recv = voter.recvTerms;
    if (recv.length >= 8 && recv[0] > fact.term) return undefined; // history too short to rule out changes
    for (const r of recv) if (r > fact.term && r < T) return undefined;
    const stale = req.lastTerm < fact.entryTerm || (req.lastTerm === fact.entryTerm && req.lastIndex < fact.match);
    if (!stale) return undefined;
    if (!this.ledger.claim(`RG008|${V}|${T}`)) return undefined;
    return makeFinding(
      RG008,
      view.now,
      T,
      [V, C],
      `${V} granted its term-${T} vote to ${C}, whose last entry (term ${req.lastTerm}, index ${req.lastIndex}) is behind ${V}'s log: ${V} had confirmed holding index ${fact.match} of term ${fact.entryTerm} in term ${fact.term}.`,
      [
        ev(`${V} confirmed holding index ${fact.match} (entry term ${fact.entryTerm}) in term ${fact.term}`, fact.ev),
        ev(`${C} asks for votes in term ${T} with last (term ${req.lastTerm}, index ${req.lastIndex})`, req),
        ev(`${V} grants the vote`, resp),
      ],
      { voterMatch: fact.match, voterEntryTerm: fact.entryTerm, candidateLastIndex: req.lastIndex, candidateLastTerm: req.lastTerm },
    );
  }
}
