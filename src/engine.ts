// The engine: cluster view + checks behind one pure interface. Events in, findings out.
// The live runner, `raftguard replay`, the simulator and the benchmarks all drive this same
// object, which is what makes a live run and the replay of its capture agree.
// No I/O and no clock in here: time arrives on events and ticks.

import type { Finding, NodeId, NoopResult, RaftEvent } from './events/types.js';

/** Thresholds for the time- and count-based checks. Times in milliseconds. */
export interface Thresholds {
  /** RG010: how long a new leader may sit on majority-held earlier-term entries with no own-term entry. */
  stallMs: number;
  /**
   * RG010 in active mode: how long after RaftGuard's no-op was sent the stall may persist before the
   * finding escalates (default: electionTimeoutMs, which any working cluster keeps well above one
   * heartbeat interval plus a round trip, the time a landed no-op needs to show as commit on the wire).
   */
  noopVerifyMs: number;
  /** RG013: longest acceptable time with no leader. */
  noLeaderMs: number;
  /** RG013: elections (new terms with a leader) per window above which it is a storm. */
  electionStormCount: number;
  electionStormWindowMs: number;
  /** RG014: a follower trailing the leader's last index by more than this many entries... */
  lagEntries: number;
  /** RG014: ...or for longer than this. */
  lagMs: number;
  /** RG015: the election timeout the cluster is configured with (for margin checks). */
  electionTimeoutMs: number;
  /** RG015: warn when the p99 heartbeat gap exceeds this fraction of the election timeout. */
  heartbeatMarginRatio: number;
  /** Per-node window of (index -> term, digest) kept for log-matching checks. */
  logWindow: number;
  /**
   * How late a message may be observed relative to another one the same node sent on another
   * connection (reordering, a backlogged connection). Critical checks that compare messages not
   * causally related (RG007, RG009, RG006, RG008) wait or require a gap above this.
   */
  reorderToleranceMs: number;
  /**
   * How much earlier than the message it answers an observation may be stamped. A node acts on a
   * message only after receiving it, and one observer stamping on one clock sees the cause first; this
   * allows for stamping jitter, or for several observers' clocks when their captures are merged.
   * Used where the checks rely on cause before effect (RG006: the acks a commit was computed from).
   */
  observerSkewMs: number;
  /** RG011: a new leader may lag the cluster's commit this long before it is reported. */
  transitionLagMs: number;
  /** RG012: grace after a higher term appears before a node still acting as leader is reported (default: electionTimeoutMs). */
  staleLeaderGraceMs: number;
  /** RG013: terms rising by at least this many with no leader is a livelock. */
  livelockTerms: number;
  /** Time-based checks run at most this often on event-driven time (ticks always run them). */
  evalEveryMs: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  stallMs: 2000,
  noopVerifyMs: 1000,
  noLeaderMs: 5000,
  electionStormCount: 4,
  electionStormWindowMs: 15 * 60 * 1000,
  lagEntries: 1000,
  lagMs: 10_000,
  electionTimeoutMs: 1000,
  heartbeatMarginRatio: 0.5,
  logWindow: 4096,
  reorderToleranceMs: 1000,
  observerSkewMs: 10,
  transitionLagMs: 1000,
  staleLeaderGraceMs: 1000,
  livelockTerms: 5,
  evalEveryMs: 20,
};

export interface EngineOptions {
  /** Voting members at start (capture header `nodes`); absent = learned from traffic. */
  nodes?: NodeId[];
  /** Members whose inbound traffic is observed; absent = all members. */
  observed?: NodeId[];
  thresholds?: Partial<Thresholds>;
}

/** Per-node state as reconstructed from the wire. */
export interface NodeState {
  id: NodeId;
  term: number;
  role: 'leader' | 'candidate' | 'follower' | 'unknown';
  /** Leader this node follows (or is) in its current term, if known. */
  leader?: NodeId;
  lastIndex: number;
  lastTerm: number;
  commit: number;
  /** t of the last message seen from this node. */
  lastSeen: number;
  voter: boolean;
}

export interface LeaderState {
  id: NodeId;
  term: number;
  /** When the node was first seen acting as leader of `term`. */
  since: number;
  /** matchIndex per follower, as far as observed. */
  match: Record<NodeId, number>;
  lastIndex: number;
  commit: number;
  /** When a majority of voters (counting the leader) had accepted an append of this term. */
  establishedAt?: number;
  /** Index of the leader's first entry of its own term, when seen. */
  firstOwnIndex?: number;
}

export interface ClusterSnapshot {
  t: number;
  term: number;
  leader?: LeaderState;
  nodes: NodeState[];
  voters: NodeId[];
  /** Whether every voter's traffic is observed (checks needing that are active). */
  complete: boolean;
  /** Highest commit index any node is known to have reached. */
  maxCommit: number;
  /** Findings that describe a condition still in progress (RG010, RG011, RG014), oldest first. */
  open?: Finding[];
  /** Recently cleared conditions with when they cleared (bounded), oldest first. */
  cleared?: { finding: Finding; clearedAt: number }[];
  /** RG010 state per recent leader term (for the no-op injector). */
  stalls?: StallInfo[];
}

/** RG010 state of one (leader, term), as the no-op injector needs it. */
export interface StallInfo {
  leader: NodeId;
  term: number;
  open: boolean;
  /** When a majority of voters had accepted an append of this term (leadership established). */
  establishedAt?: number;
  hazardSince?: number;
  raisedAt?: number;
  clearedAt?: number;
  stalledFrom?: number;
  stalledIndex?: number;
  /** When the hazard was first seen in this term (hazardSince resets when an own-term entry appears). */
  firstHazardAt?: number;
  /** What RaftGuard's no-op injector did about it, from the `noop` events. */
  action?: StallAction;
  /** The finding escalated: the stall persisted after an injection, or the injection failed. */
  escalated?: boolean;
  /** What cleared it: `noop` = the first own-term entry appeared after RaftGuard's injection was sent. */
  clearedBy?: 'noop' | 'own-term-entry';
}

/** The injector's decisions for one (leader, term), as recorded in its `noop` events. */
export interface StallAction {
  kind: 'noop';
  /** The latest decision. */
  result: NoopResult;
  reason: string;
  dryRun: boolean;
  sentAt?: number;
  okAt?: number;
  failedAt?: number;
  /** Every decision, oldest first (a handful at most: skipped, or sent then ok/failed). */
  decisions: { t: number; result: NoopResult; reason: string }[];
}

export interface Engine {
  /** Apply one event; returns the findings it raised (possibly empty). */
  apply(ev: RaftEvent): Finding[];
  /** Advance time with no event (silence is information: stalls, no leader). */
  tick(t: number): Finding[];
  /**
   * At the end of the input: judge what is held waiting for the reorder tolerance or the observer
   * skew as of time t, without treating the time after the last event as silence (no stall, no
   * no-leader, no lag is invented). The engine's clock stays at the last event.
   */
  settle(t: number): Finding[];
  /** The reconstructed view now. */
  snapshot(): ClusterSnapshot;
}

export { createEngine } from './checks/index.js';
