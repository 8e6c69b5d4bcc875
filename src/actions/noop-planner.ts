// The no-op injector's decision logic, pure and deterministic like the checks: a snapshot and a time
// in, decisions out. DESIGN.md §5: one request per (leader, term), only to a leader still acting as
// leader of the newest term and a voting member, once its leadership is established plus a grace (so
// a client write that clears the stall anyway wins), never to anyone else.

import type { ClusterSnapshot } from '../engine.js';
import type { NodeId } from '../events/types.js';

export type NoopDecision =
  | { kind: 'fire'; leader: NodeId; term: number; stalledIndex?: number; reason: string }
  | { kind: 'skip'; leader: NodeId; term: number; reason: string };

export class NoopPlanner {
  /** (leader, term) pairs already decided: at most one request per leader term. */
  private readonly decided = new Set<string>();

  /** Decisions due at `now` (ms, the engine's clock); pairs still inside their grace are not decided yet. */
  decide(snap: ClusterSnapshot, now: number, graceMs: number): NoopDecision[] {
    const out: NoopDecision[] = [];
    for (const s of snap.stalls ?? []) {
      const key = `${s.leader}/${s.term}`;
      if (this.decided.has(key) || s.hazardSince === undefined || s.clearedAt !== undefined) continue;
      const current = snap.leader?.id === s.leader && snap.leader.term === s.term && snap.term === s.term;
      if (!current) {
        this.decided.add(key);
        out.push({ kind: 'skip', leader: s.leader, term: s.term, reason: `leadership moved on (newest term ${snap.term}, leader ${snap.leader?.id ?? 'unknown'})` });
        continue;
      }
      if (snap.voters.length > 0 && !snap.voters.includes(s.leader)) {
        this.decided.add(key);
        out.push({ kind: 'skip', leader: s.leader, term: s.term, reason: `${s.leader} is not a voting member` });
        continue;
      }
      if (s.establishedAt === undefined || now < s.establishedAt + graceMs) continue;
      this.decided.add(key);
      out.push({
        kind: 'fire',
        leader: s.leader,
        term: s.term,
        stalledIndex: s.stalledIndex,
        reason: `${s.leader} holds earlier-term entries above its commit with no entry of term ${s.term}; leadership established at ${Math.round(s.establishedAt)} ms, grace ${Math.round(graceMs)} ms`,
      });
    }
    return out;
  }

  /** For a manual request (`raftguard noop --node`): the same guards, no grace. */
  manual(snap: ClusterSnapshot, node: NodeId): NoopDecision {
    const l = snap.leader;
    if (!l || l.id !== node || l.term !== snap.term) {
      return { kind: 'skip', leader: node, term: snap.term, reason: `${node} is not acting as leader of the newest term ${snap.term} (leader: ${l ? `${l.id} in term ${l.term}` : 'unknown'})` };
    }
    if (snap.voters.length > 0 && !snap.voters.includes(node)) return { kind: 'skip', leader: node, term: l.term, reason: `${node} is not a voting member` };
    const key = `${node}/${l.term}`;
    if (this.decided.has(key)) return { kind: 'skip', leader: node, term: l.term, reason: `a no-op was already decided for ${node} in term ${l.term}` };
    this.decided.add(key);
    return { kind: 'fire', leader: node, term: l.term, reason: 'requested by an operator' };
  }
}
