// RG001 election-safety and RG002 double-vote: at most one leader per term, one vote per term.

import type { Finding, RaftEvent, VoteRespEvent } from '../events/types.js';
import type { ClusterView } from '../cluster/view.js';
import { isIndex } from '../cluster/view.js';
import { TermMap } from '../cluster/term-map.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG001: CodeInfo = {
  code: 'RG001',
  name: 'election-safety',
  severity: 'critical',
  rule: 'Raft allows at most one leader per term (Election Safety); two nodes sent AppendEntries/heartbeats carrying the same term.',
  recommendation:
    'Treat data written in this term as suspect. Check for lost persistent state (term/vote not fsynced), cloned data directories, or duplicate node ids; stop the node that should not be leader and compare logs.',
};

export const RG002: CodeInfo = {
  code: 'RG002',
  name: 'double-vote',
  severity: 'critical',
  rule: 'A node may grant at most one (non-pre) vote per term; it must persist votedFor before answering.',
  recommendation:
    'Check that votedFor and currentTerm are persisted (fsync) before the vote response is sent, and that the node did not restart from an old or empty data directory.',
};

const KEEP_TERMS = 64;
const KEEP_VOTES = 1024;

export class ElectionDetector implements Detector {
  readonly codes = [RG001, RG002];
  /** The first leader message seen per term (see cluster/term-map.ts for why not a Map). */
  private readonly leaderOf = new TermMap<RaftEvent>();
  private lastTerm = -1;
  private lastLeader = '';
  private readonly votes = new Map<string, VoteRespEvent>();

  constructor(private readonly ledger: FindingLedger) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    if (e.type === 'append' || e.type === 'heartbeat') {
      if (e.term === this.lastTerm && e.from === this.lastLeader) return undefined;
      if (!isIndex(e.term) || e.term <= 0) return undefined;
      const first = this.leaderOf.get(e.term);
      if (first === undefined) {
        this.leaderOf.set(e.term, e);
        if (this.leaderOf.size > KEEP_TERMS) this.leaderOf.deleteMin();
        this.lastTerm = e.term;
        this.lastLeader = e.from;
        return undefined;
      }
      if (first.from === e.from) {
        this.lastTerm = e.term;
        this.lastLeader = e.from;
        return undefined;
      }
      const pair = first.from < e.from ? `${first.from}|${e.from}` : `${e.from}|${first.from}`;
      if (!this.ledger.claim(`RG001|${e.term}|${pair}`)) return undefined;
      return [
        makeFinding(
          RG001,
          view.now,
          e.term,
          [first.from, e.from],
          `Two leaders in term ${e.term}: ${first.from} and ${e.from} both sent leader messages with that term.`,
          [ev(`${first.from} acted as leader of term ${e.term}`, first), ev(`${e.from} acted as leader of the same term ${e.term}`, e)],
        ),
      ];
    }
    if (e.type === 'vote_resp' && e.granted === true && e.pre !== true) {
      if (!isIndex(e.term) || e.term <= 0 || typeof e.to !== 'string' || e.to === '') return undefined;
      const key = e.from + '\u0000' + e.term;
      const first = this.votes.get(key);
      if (first === undefined) {
        this.votes.set(key, e);
        if (this.votes.size > KEEP_VOTES) {
          const oldest = this.votes.keys().next().value as string;
          this.votes.delete(oldest);
        }
        return undefined;
      }
      if (first.to === e.to) return undefined;
      const pair = first.to < e.to ? `${first.to}|${e.to}` : `${e.to}|${first.to}`;
      if (!this.ledger.claim(`RG002|${e.from}|${e.term}|${pair}`)) return undefined;
      let out: Finding[] | undefined;
      out = push(
        out,
        makeFinding(
          RG002,
          view.now,
          e.term,
          [e.from, first.to, e.to],
          `${e.from} granted its term-${e.term} vote to both ${first.to} and ${e.to}.`,
          [ev(`${e.from} granted its vote in term ${e.term} to ${first.to}`, first), ev(`${e.from} granted its vote in the same term to ${e.to}`, e)],
        ),
      );
      return out;
    }
    return undefined;
  }

  onTick(): Finding[] | undefined {
    return undefined;
  }
}
