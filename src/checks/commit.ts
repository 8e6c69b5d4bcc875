// RG005 previous-term-commit, RG006 commit-without-quorum, and the per-node half of RG009
// (a leader's commit going backwards within its term).
//
// Only commits a leader ADVANCES are judged: it must have advertised a lower commit earlier in the
// same term (so the value was computed during this term, not carried over from an earlier one),
// and the new commit must exceed everything already known committed in the cluster.

import type { AppendEvent, Finding, RaftEvent } from '../events/types.js';
import type { ClusterView, LeaderTerm } from '../cluster/view.js';
import { isIndex, notInQuorumFor } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG005: CodeInfo = {
  code: 'RG005',
  name: 'previous-term-commit',
  severity: 'critical',
  rule: 'A leader may commit by counting replicas only entries of its own term; earlier-term entries commit only indirectly, below a committed own-term entry (Raft §5.4.2, Figure 8).',
  recommendation:
    'The implementation counts replicas of old-term entries. Fix the commit rule to require log[N].term == currentTerm, and have new leaders append a no-op entry on election. Until then, committed data can be overwritten by a later leader.',
};

export const RG006: CodeInfo = {
  code: 'RG006',
  name: 'commit-without-quorum',
  severity: 'critical',
  rule: 'A leader may advance its commit index to N only when a majority of voters hold index N.',
  recommendation:
    'The leader declared entries committed before a majority stored them. Check the quorum computation (voter set, joint configurations, counting of learners) and that followers acknowledge only after persisting.',
};

export const RG009N: CodeInfo = {
  code: 'RG009',
  name: 'commit-regression',
  severity: 'critical',
  rule: 'A leader\'s commit index never decreases during its term.',
  recommendation:
    'The leader lowered the commit index it advertises; followers may have applied entries the leader no longer considers committed. Check how the commit index is recomputed (it must be max(old, new)).',
};

interface PendingCommit {
  lt: LeaderTerm;
  commit: number;
  ev: AppendEvent;
  t: number;
  prevCommit: number;
}

interface PendingQuorum extends PendingCommit {
  /**
   * Voters (besides the leader) whose ack of the commit index was observed by t + observerSkewMs:
   * refreshed on every event up to then, never after, so later acks (which cannot have caused the
   * commit) do not count.
   */
  holders: Set<string>;
}

interface PendingOldTerm extends PendingCommit {
  entryTerm: number;
  /** The message reached beyond the commit, so the value was the leader's real commit. */
  unclamped: boolean;
  clusterBefore: number;
  /** Majority index as of t + observerSkewMs (refreshed on every event up to then, never after). */
  majorityIndex: number;
}

function lastOf(e: AppendEvent): number {
  let last = isIndex(e.prevIndex) ? e.prevIndex : 0;
  if (Array.isArray(e.entries)) for (const x of e.entries) if (x && isIndex(x.index) && x.index > last) last = x.index;
  return last;
}

interface PendingRegression {
  lt: LeaderTerm;
  ev: AppendEvent;
  t: number;
}

export class CommitDetector implements Detector {
  readonly codes = [RG005, RG006, RG009N];
  private readonly pending: PendingQuorum[] = [];
  private readonly pending5: PendingOldTerm[] = [];
  private readonly regress: PendingRegression[] = [];

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    if (this.pending.length !== 0 || this.pending5.length !== 0) this.observeWithinSkew(view);
    if (this.pending.length !== 0) out = this.checkPending(view, out);
    if (this.pending5.length !== 0) out = this.checkOldTerm(view, out);
    if (e.type !== 'append') return out;
    const lt = view.lt;
    if (!lt || !isIndex(e.commit) || e.commit <= 0) return out;
    const c = e.commit;
    if (c < lt.commit) return this.onLower(e, lt, view, out);
    if (c !== lt.commit || c <= view.prevLeaderCommit) return out; // not an advance
    // The lower commit must be one that cannot be a per-message clamp (see LeaderTerm.minTrueCommit).
    if (c <= view.prevMaxCommit || !(lt.minTrueCommit < c) || !lt.minTrueCommitEv) return out;
    const L = lt.leader.id;
    // RG005: the entry at the new commit index is of an earlier term. Terms in a log never
    // decrease, so no entry of the leader's term exists at or below it. If the message carried
    // nothing above the commit, the value may be clamped (the real commit may be higher, on an
    // own-term entry): then it is judged after the reorder tolerance, and only when the leader is
    // not known to hold any own-term entry.
    const et = lt.log.get(c);
    if (et > 0 && et < lt.term && !this.ledger.has(`RG005|${L}|${lt.term}`)) {
      const last = lastOf(e);
      if (this.pending5.length >= 16) this.pending5.shift();
      this.pending5.push({ lt, commit: c, ev: e, t: view.now, prevCommit: view.prevLeaderCommit, entryTerm: et, unclamped: c < last, clusterBefore: view.prevMaxCommit, majorityIndex: view.majorityIndex(lt) });
    }
    // RG006: needs every voter's traffic and a settled voter set.
    if (
      view.complete &&
      view.votersSettled &&
      view.voters.has(L) &&
      view.lastConfigIndex <= view.prevLeaderCommit &&
      (view.majorityIndex(lt) < c || notInQuorumFor(lt.followers.get(e.to), c) !== undefined)
    ) {
      // The leader computed the commit from acks it had received, so they were observed before this
      // message (up to the observer's stamping skew): judge once that skew has passed, counting acks
      // observed by then.
      if (this.pending.length >= 16) this.pending.shift();
      const p: PendingQuorum = { lt, commit: c, ev: e, t: view.now, prevCommit: view.prevLeaderCommit, holders: new Set() };
      this.refreshHolders(p, view);
      this.pending.push(p);
    }
    return out;
  }

  /** Acks and majority index as observed up to each pending judgement's t + observerSkewMs. */
  private observeWithinSkew(view: ClusterView): void {
    const skew = this.th.observerSkewMs;
    for (const p of this.pending) if (view.now - p.t <= skew) this.refreshHolders(p, view);
    for (const p of this.pending5) if (!p.unclamped && view.now - p.t <= skew) p.majorityIndex = view.majorityIndex(p.lt);
  }

  private refreshHolders(p: PendingQuorum, view: ClusterView): void {
    const ids = view.voterIds;
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i]!;
      if (v === p.lt.leader.id || p.holders.has(v)) continue;
      const m = p.lt.match.get(v);
      if (m !== undefined && m >= p.commit && !notInQuorumFor(p.lt.followers.get(v), p.commit)) p.holders.add(v);
    }
  }

  private onLower(e: AppendEvent, lt: LeaderTerm, view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    // Reordering across connections (and a backlogged connection) shows old commits late while the
    // leader keeps advertising its real commit. A regression is only believed when the leader has
    // not stood by its higher commit for longer than the tolerance, seen on two messages.
    const tol = this.th.reorderToleranceMs;
    if (view.now - lt.commitLastAt <= tol) return out;
    // A deposed leader's backlogged messages arrive late too: judge only a leader still in its term.
    if (lt.leader.term !== lt.term || view.clusterTerm !== lt.term) return out;
    // Implementations may clamp the commit they send to what the follower holds (etcd heartbeats do:
    // min(match, commit)); only a follower that already acknowledged the higher commit index can
    // prove a regression.
    const fm = lt.match.get(e.to);
    if (fm === undefined || fm < lt.commit) return out;
    const L = lt.leader.id;
    const key = `RG009N|${L}|${lt.term}`;
    if (this.ledger.has(key)) return out;
    const first = this.regress.find((r) => r.lt === lt);
    if (!first) {
      if (this.regress.length >= 16) this.regress.shift();
      this.regress.push({ lt, ev: e, t: view.now });
      return out;
    }
    if (first.ev.to === e.to && view.now - first.t < tol / 2) return out;
    if (!this.ledger.claim(key)) return out;
    return push(
      out,
      makeFinding(
        RG009N,
        view.now,
        lt.term,
        [L],
        `Leader ${L} of term ${lt.term} advertised commit ${lt.commit}, then ${e.commit} (and ${first.ev.commit} before), with no message standing by ${lt.commit} for ${Math.round(view.now - lt.commitLastAt)} ms.`,
        [
          ev(`${L} advertised commit ${lt.commit} in term ${lt.term}`, lt.commitEv),
          ev(`${L} later advertised a lower commit ${first.ev.commit}`, first.ev),
          ev(`${L} again advertised a lower commit ${e.commit}`, e),
        ],
        { highCommit: lt.commit, lowCommit: e.commit },
      ),
    );
  }

  /**
   * Judged after observerSkewMs (the acks the leader counted were received, so observed, before it
   * sent the commit; acks observed later did not cause it). A follower counts toward the quorum of index c when it acknowledged c in the term
   * and was not told commit >= c on its own channel before being sent c (see FollowerTrack.early).
   */
  private checkPending(view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const tol = this.th.observerSkewMs;
    while (this.pending.length !== 0 && view.now - this.pending[0].t > tol) {
      const p = this.pending.shift()!;
      if (!view.complete) continue;
      // A commit above every index the leader was ever seen sending is either garbage from the
      // decoder or beyond proof from the wire: stay silent.
      if (p.commit > p.lt.lastIndex) continue;
      const L = p.lt.leader.id;
      let count = view.voters.has(L) ? 1 : 0;
      const evidence = [ev(`${L} advertises commit ${p.commit} in term ${p.lt.term} (was ${p.prevCommit})`, p.ev)];
      const ids = view.voterIds;
      for (let i = 0; i < ids.length; i++) {
        const v = ids[i]!;
        if (v === L) continue;
        if (p.holders.has(v)) {
          count++;
          continue;
        }
        const m = p.lt.match.get(v);
        const early = notInQuorumFor(p.lt.followers.get(v), p.commit);
        if (early) evidence.push(ev(`${v} was told commit >= ${p.commit} before any append carrying index ${p.commit} was sent to it`, early));
        else if (m === undefined) evidence.push(ev(`${v}: no successful append response in term ${p.lt.term} observed`));
        else if (m >= p.commit) evidence.push(ev(`${v} acknowledged index ${m} only ${Math.round((p.lt.matchEv.get(v)?.t ?? view.now) - p.t)} ms after the commit was sent (observer skew ${tol} ms): that ack cannot have counted toward it`, p.lt.matchEv.get(v)));
        else evidence.push(ev(`${v}: highest matchIndex in term ${p.lt.term} is ${m}`, p.lt.matchEv.get(v)));
      }
      if (count >= view.quorum) continue;
      if (!this.ledger.claim(`RG006|${L}|${p.lt.term}`)) continue;
      out = push(
        out,
        makeFinding(
          RG006,
          view.now,
          p.lt.term,
          [L],
          `Leader ${L} of term ${p.lt.term} advertised commit ${p.commit}, but only ${count} of ${view.voters.size} voters (quorum ${view.quorum}) can have held index ${p.commit} when it did.`,
          evidence,
          { commit: p.commit, holders: count, quorum: view.quorum, majorityIndex: view.majorityIndex(p.lt), voters: [...view.voters] },
        ),
      );
    }
    return out;
  }

  /**
   * A commit carried by a message with nothing above it may be a clamp of a higher real commit. A
   * correct leader's higher commit N sits on an own-term entry that a majority acknowledged before
   * the leader sent the message, so those acks were observed by then (up to observerSkewMs). If the
   * majority index at that moment leaves no index above c that could be of the leader's term, the
   * commit really is c.
   */
  private ownCommitPossible(p: PendingOldTerm, view: ClusterView): boolean {
    if (!view.complete || !view.votersSettled || !view.voters.has(p.lt.leader.id)) return true;
    const lt = p.lt;
    // What the leader's log holds at an index never changes within its term, so terms learned
    // after the message only sharpen the answer; the acks counted stop at the skew.
    const hi = Math.min(p.majorityIndex, p.commit + lt.log.size);
    for (let i = p.commit + 1; i <= hi; i++) {
      const t = lt.log.get(i);
      if (t < 0 || t >= lt.term) return true; // unknown, or of the leader's term
    }
    return false;
  }

  private checkOldTerm(view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const tol = this.th.reorderToleranceMs;
    // Judged once both the reorder tolerance and the observer skew (the acks counted) have passed.
    const wait = Math.max(tol, this.th.observerSkewMs);
    while (this.pending5.length !== 0 && view.now - this.pending5[0].t > wait) {
      const p = this.pending5.shift()!;
      const lt = p.lt;
      if (!p.unclamped && this.ownCommitPossible(p, view)) continue;
      const L = lt.leader.id;
      if (!this.ledger.claim(`RG005|${L}|${lt.term}`)) continue;
      out = push(
        out,
        makeFinding(
          RG005,
          view.now,
          lt.term,
          [L],
          `Leader ${L} of term ${lt.term} advanced its commit from ${p.prevCommit} to ${p.commit}, but entry ${p.commit} is of term ${p.entryTerm}: it committed an earlier-term entry with no entry of its own term at or below it, beyond anything committed before (${p.clusterBefore}).`,
          [
            ev(`${L} advertised commit ${lt.minTrueCommit} earlier in term ${lt.term}, in a message reaching beyond it (so not clamped)`, lt.minTrueCommitEv),
            ev(`${L} advances commit to ${p.commit}; its log holds entry ${p.commit} with term ${p.entryTerm} < ${lt.term}`, p.ev),
            ev(
              p.unclamped
                ? `that message carries entries above ${p.commit}, so ${p.commit} is the leader's real commit`
                : p.majorityIndex <= p.commit
                  ? `when it was sent, a majority had acknowledged only up to index ${p.majorityIndex}: no higher commit can hide behind ${p.commit}`
                  : `when it was sent, a majority had acknowledged up to index ${p.majorityIndex}, with no entry of term ${lt.term} in (${p.commit}, ${p.majorityIndex}]: no higher own-term commit can hide behind ${p.commit}`,
            ),
          ],
          { commit: p.commit, entryTerm: p.entryTerm, previousCommit: p.prevCommit, clusterCommitBefore: p.clusterBefore },
        ),
      );
    }
    return out;
  }

  onSettle(view: ClusterView): Finding[] | undefined {
    return this.onTick(view.now, view);
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    if (this.pending.length !== 0) out = this.checkPending(view, out);
    if (this.pending5.length !== 0) out = this.checkOldTerm(view, out);
    return out;
  }
}
