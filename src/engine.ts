// The engine: cluster view + checks behind one pure interface. Events in, findings out.
// The live runner, `raftguard replay`, the simulator and the benchmarks all drive this same
// object, which is what makes a live run and the replay of its capture agree.
// No I/O and no clock in here: time arrives on events and ticks.

import type { Finding, NodeId, RaftEvent } from './events/types.js';

/** Thresholds for the time- and count-based checks. Times in milliseconds. */
export interface Thresholds {
  /** RG010: how long a new leader may sit on majority-held earlier-term entries with no own-term entry. */
  stallMs: number;
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
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  stallMs: 2000,
  noLeaderMs: 5000,
  electionStormCount: 4,
  electionStormWindowMs: 15 * 60 * 1000,
  lagEntries: 1000,
  lagMs: 10_000,
  electionTimeoutMs: 1000,
  heartbeatMarginRatio: 0.5,
  logWindow: 4096,
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
}

export interface Engine {
  /** Apply one event; returns the findings it raised (possibly empty). */
  apply(ev: RaftEvent): Finding[];
  /** Advance time with no event (silence is information: stalls, no leader). */
  tick(t: number): Finding[];
  /** The reconstructed view now. */
  snapshot(): ClusterSnapshot;
}

export { createEngine } from './checks/index.js';
