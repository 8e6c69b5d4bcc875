// RG007 term-regression and RG012 stale-leader.
//
// Messages a node sent to different peers (or on different connections to one peer) can be
// observed out of order, and a backlogged connection can deliver old messages late. A term
// regression is therefore believed only when the node has sent nothing at its highest term for
// longer than the reorder tolerance, and the lower term shows on two messages (two peers, or two
// moments half a tolerance apart): a node that lost its persistent state keeps using the old term.

import type { Finding, NodeId, RaftEvent } from '../events/types.js';
import type { ClusterView } from '../cluster/view.js';
import { isIndex } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG007: CodeInfo = {
  code: 'RG007',
  name: 'term-regression',
  severity: 'critical',
  rule: 'currentTerm is persistent state and never decreases; a node whose term goes backwards lost its persistent state and may vote twice or accept stale leaders.',
  recommendation:
    'Check that the node\'s data directory survived the restart and that term/vote are fsynced before any message is sent. Remove and re-add the member with a clean data directory if its state was lost.',
};

export const RG012: CodeInfo = {
  code: 'RG012',
  name: 'stale-leader',
  severity: 'warning',
  rule: 'A leader that has not heard of a newer term keeps serving as leader; reads it serves may be stale and its writes cannot commit.',
  recommendation:
    'The node is probably on the minority side of a partition. Enable CheckQuorum / leader lease checks so it steps down, route clients to the current leader, and investigate the network between members.',
};

interface TermTrack {
  max: number;
  lastAtMax: number;
  maxEv?: RaftEvent;
  /** First lower-term message that qualified, awaiting confirmation. */
  pending?: RaftEvent;
  pendingAt: number;
}

export class TermDetector implements Detector {
  readonly codes = [RG007, RG012];
  private readonly track = new Map<NodeId, TermTrack>();

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    if (e.type === 'noop') return undefined;
    if ((e.type === 'vote' || e.type === 'vote_resp') && e.pre === true) return undefined;
    const term = e.term;
    if (!isIndex(term) || term <= 0) return undefined;
    let tr = this.track.get(e.from);
    if (!tr) {
      tr = { max: term, lastAtMax: view.now, maxEv: e, pendingAt: 0 };
      this.track.set(e.from, tr);
    } else if (term > tr.max) {
      tr.max = term;
      tr.lastAtMax = view.now;
      tr.maxEv = e;
      tr.pending = undefined;
    } else if (term === tr.max) {
      tr.lastAtMax = view.now;
      tr.pending = undefined;
    } else {
      out = this.lower(e, tr, view);
    }
    if ((e.type === 'append' || e.type === 'heartbeat') && view.clusterTerm > term) {
      const above = view.clusterTerms.firstAbove(term);
      const grace = this.th.staleLeaderGraceMs;
      // Only a node that itself still acts in this term: an old message delivered late from a node
      // already seen in a newer term is not a stale leader.
      const sender = view.nodes.get(e.from);
      if (above !== undefined && view.now - above > grace && sender && sender.term === term) {
        if (this.ledger.claim(`RG012|${e.from}|${term}`)) {
          out = push(
            out,
            makeFinding(
              RG012,
              view.now,
              term,
              [e.from],
              `${e.from} still acts as leader of term ${term} ${Math.round(view.now - above)} ms after term ${view.clusterTerm} appeared in the cluster.`,
              [ev(`${e.from} sends leader traffic with term ${term}`, e)],
              { staleTerm: term, clusterTerm: view.clusterTerm, sinceMs: view.now - above },
            ),
          );
        }
      }
    }
    return out;
  }

  private lower(e: RaftEvent, tr: TermTrack, view: ClusterView): Finding[] | undefined {
    const tol = this.th.reorderToleranceMs;
    if (view.now - tr.lastAtMax <= tol) return undefined;
    if (!tr.pending) {
      tr.pending = e;
      tr.pendingAt = view.now;
      return undefined;
    }
    if (tr.pending.to === e.to && view.now - tr.pendingAt < tol / 2) return undefined;
    if (!this.ledger.claim(`RG007|${e.from}|${tr.max}`)) return undefined;
    const f = makeFinding(
      RG007,
      view.now,
      e.term,
      [e.from],
      `${e.from} went back from term ${tr.max} to term ${e.term}: it sent nothing at term ${tr.max} for ${Math.round(view.now - tr.lastAtMax)} ms and now sends term ${tr.pending.term} and ${e.term}.`,
      [
        ev(`${e.from} at term ${tr.max}`, tr.maxEv),
        ev(`${e.from} sends with lower term ${tr.pending.term}`, tr.pending),
        ev(`${e.from} again sends with lower term ${e.term}`, e),
      ],
      { fromTerm: tr.max, toTerm: e.term, silentMs: view.now - tr.lastAtMax },
    );
    return [f];
  }

  onTick(): Finding[] | undefined {
    return undefined;
  }
}
