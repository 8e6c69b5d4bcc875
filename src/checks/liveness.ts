// RG013 no-leader / election-storm / livelock and RG014 replication-lag (warnings).

import type { Finding, NodeId, RaftEvent } from '../events/types.js';
import type { ClusterView, LeaderTerm } from '../cluster/view.js';
import type { Thresholds } from '../engine.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG013: CodeInfo = {
  code: 'RG013',
  name: 'no-leader',
  severity: 'warning',
  rule: 'A healthy cluster has a leader nearly all the time and elects rarely; long leaderless periods, frequent elections or terms rising without a leader mean unavailability.',
  recommendation:
    'Check member health and the network between members; if elections repeat, raise the election timeout relative to heartbeat gaps and disk latency (see RG015), and enable PreVote and CheckQuorum.',
};

export const RG014: CodeInfo = {
  code: 'RG014',
  name: 'replication-lag',
  severity: 'warning',
  rule: 'Followers should keep up with the leader; one that falls far behind weakens fault tolerance and will need a snapshot.',
  recommendation:
    'Check the follower\'s disk and network throughput and the leader\'s send window (max inflight / batch size); if it stays behind, look for a slow disk or an overloaded host.',
};

interface LagTrack {
  target: number;
  since: number;
  raisedEntries: boolean;
  raisedTime: boolean;
  episode: number;
}

export class LivenessDetector implements Detector {
  readonly codes = [RG013, RG014];
  private lastLeaderActivity = NaN;
  private termAtActivity = 0;
  private episode = 0;
  private noLeaderRaised = false;
  private livelockRaised = false;
  private readonly elections: number[] = [];
  private lastStormAt = -Infinity;
  private lagLeader?: LeaderTerm;
  private readonly lag = new Map<NodeId, LagTrack>();

  constructor(
    private readonly ledger: FindingLedger,
    private readonly th: Thresholds,
  ) {}

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    if (Number.isNaN(this.lastLeaderActivity)) {
      this.lastLeaderActivity = view.now;
      this.termAtActivity = view.clusterTerm;
    }
    const lt = view.lt;
    let out: Finding[] | undefined;
    if (lt && lt.term >= view.clusterTerm && lt.leader.term === lt.term) {
      this.lastLeaderActivity = view.now;
      this.termAtActivity = lt.term;
      if (this.noLeaderRaised || this.livelockRaised) this.episode++;
      this.noLeaderRaised = false;
      this.livelockRaised = false;
    }
    if (view.newLeaderTerm && lt && lt.term === view.topLeaderTerm) out = this.election(view, out);
    return out;
  }

  private election(view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const w = this.th.electionStormWindowMs;
    const el = this.elections;
    el.push(view.now);
    while (el.length && view.now - el[0] > w) el.shift();
    if (el.length > this.th.electionStormCount + 1) el.shift();
    if (el.length > this.th.electionStormCount && view.now - this.lastStormAt > w) {
      this.lastStormAt = view.now;
      if (this.ledger.claim(`RG013|storm|${view.now}`)) {
        out = push(
          out,
          makeFinding(
            RG013,
            view.now,
            view.topLeaderTerm,
            [],
            `${el.length} elections within ${Math.round((view.now - el[0]) / 1000)} s (threshold ${this.th.electionStormCount} per ${Math.round(w / 1000)} s).`,
            [ev(`new leader ${view.currentLeader?.leader.id} in term ${view.topLeaderTerm}`)],
            { kind: 'election-storm', elections: el.length, windowMs: w },
          ),
        );
      }
    }
    return out;
  }

  onTick(_t: number, view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    if (!Number.isNaN(this.lastLeaderActivity)) {
      const quiet = view.now - this.lastLeaderActivity;
      if (!this.noLeaderRaised && quiet > this.th.noLeaderMs) {
        this.noLeaderRaised = true;
        if (this.ledger.claim(`RG013|none|${this.episode}`)) {
          out = push(
            out,
            makeFinding(
              RG013,
              view.now,
              view.clusterTerm,
              [],
              `No leader activity observed for ${Math.round(quiet)} ms (threshold ${this.th.noLeaderMs} ms); cluster term is ${view.clusterTerm}.`,
              [ev(`last leader traffic at t=${this.lastLeaderActivity} in term ${this.termAtActivity}`)],
              { kind: 'no-leader', sinceMs: quiet, since: this.lastLeaderActivity },
            ),
          );
        }
      }
      if (!this.livelockRaised && view.clusterTerm - this.termAtActivity >= this.th.livelockTerms) {
        this.livelockRaised = true;
        if (this.ledger.claim(`RG013|livelock|${this.episode}`)) {
          out = push(
            out,
            makeFinding(
              RG013,
              view.now,
              view.clusterTerm,
              [],
              `Terms rose from ${this.termAtActivity} to ${view.clusterTerm} with no leader elected (election livelock).`,
              [ev(`last leader traffic at t=${this.lastLeaderActivity} in term ${this.termAtActivity}`)],
              { kind: 'livelock', fromTerm: this.termAtActivity, toTerm: view.clusterTerm },
            ),
          );
        }
      }
    }
    return this.replication(view, out);
  }

  private replication(view: ClusterView, out: Finding[] | undefined): Finding[] | undefined {
    const lt = view.currentLeader;
    if (!lt || !view.isObserved(lt.leader.id) || lt.leader.term !== lt.term) return out;
    if (lt !== this.lagLeader) {
      // The previous leader's lag episodes end with its leadership.
      const prev = this.lagLeader;
      if (prev) {
        for (const [f, s] of this.lag) {
          if (s.raisedEntries || s.raisedTime) this.ledger.clear(`RG014|${prev.leader.id}|${prev.term}|${f}|${s.episode}`, view.now);
        }
      }
      this.lagLeader = lt;
      this.lag.clear();
    }
    const ids = view.voterIds;
    for (let i = 0; i < ids.length; i++) {
      const f = ids[i]!;
      if (f === lt.leader.id) continue;
      const m = lt.match.get(f);
      let s = this.lag.get(f);
      if (!s) {
        s = { target: lt.lastIndex, since: view.now, raisedEntries: false, raisedTime: false, episode: 0 };
        this.lag.set(f, s);
      }
      const have = m ?? 0;
      if (have >= s.target) {
        if (s.raisedTime || s.raisedEntries) {
          this.ledger.clear(`RG014|${lt.leader.id}|${lt.term}|${f}|${s.episode}`, view.now);
          s.episode++;
        }
        s.raisedEntries = false;
        s.raisedTime = false;
        s.target = lt.lastIndex;
        s.since = view.now;
        if (have >= s.target) continue;
      }
      const behindEntries = m === undefined ? 0 : lt.lastIndex - m;
      const behindMs = view.now - s.since;
      const entriesHit = behindEntries > this.th.lagEntries;
      const timeHit = behindMs > this.th.lagMs;
      if ((entriesHit || timeHit) && !s.raisedEntries && !s.raisedTime) {
        s.raisedEntries = entriesHit;
        s.raisedTime = timeHit;
        const key = `RG014|${lt.leader.id}|${lt.term}|${f}|${s.episode}`;
        if (!this.ledger.claim(key)) continue;
        const fnd = makeFinding(
          RG014,
          view.now,
          lt.term,
          [f, lt.leader.id],
          m === undefined
            ? `${f} has not acknowledged any append of leader ${lt.leader.id} (term ${lt.term}) for ${Math.round(behindMs)} ms.`
            : `${f} trails leader ${lt.leader.id}: matchIndex ${m} vs leader's last index ${lt.lastIndex} (${behindEntries} entries), index ${s.target} unacknowledged for ${Math.round(behindMs)} ms.`,
          [ev(`leader's last index ${lt.lastIndex}`, lt.lastIndexEv), ev(`${f}'s latest acknowledgement`, lt.matchEv.get(f))],
          { follower: f, leader: lt.leader.id, behindEntries, behindMs, matchIndex: m, leaderLastIndex: lt.lastIndex },
        );
        this.ledger.openFinding(key, fnd);
        out = push(out, fnd);
      }
    }
    return out;
  }
}
