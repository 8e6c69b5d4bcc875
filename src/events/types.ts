// The event contract: capture format v1 (DESIGN.md §3) and findings (DESIGN.md §4).
// These types are shared with outside tooling; change them only with a format version bump.
// Optional fields added here are additive: readers ignore fields they do not know.

export type NodeId = string;

export type EntryKind = 'data' | 'noop' | 'config';

/** One log entry as seen on the wire. Payloads are never stored: `digest` stands for them. */
export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  /** Short hex hash of the payload, when the dialect can compute one. */
  digest?: string;
  /** Payload size in bytes. */
  size?: number;
  /**
   * For `kind: "config"` entries whose new voting membership the dialect could decode:
   * the voters after this entry applies. Absent when unknown.
   */
  voters?: NodeId[];
}

/** Fields every event carries. */
export interface EventBase {
  /** Milliseconds since capture start. */
  t: number;
  from: NodeId;
  to: NodeId;
  /** The sender's term carried by the message. */
  term: number;
  /** Optional id pairing a response with its request. */
  id?: string;
}

export interface AppendEvent extends EventBase {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  /** leaderCommit. */
  commit: number;
}

export interface AppendRespEvent extends EventBase {
  type: 'append_resp';
  success: boolean;
  /** Last index known to match the leader's log, when success. */
  match?: number;
  /** Conflict / reject hint, when the implementation sends one. */
  hint?: number;
}

/** A heartbeat that carries no log position (etcd's MsgHeartbeat): `commit` may be below the leader's. */
export interface HeartbeatEvent extends EventBase {
  type: 'heartbeat';
  commit: number;
}

export interface HeartbeatRespEvent extends EventBase {
  type: 'heartbeat_resp';
}

export interface VoteEvent extends EventBase {
  type: 'vote';
  lastIndex: number;
  lastTerm: number;
  /** True for PreVote. */
  pre: boolean;
}

export interface VoteRespEvent extends EventBase {
  type: 'vote_resp';
  granted: boolean;
  pre: boolean;
}

export interface SnapshotEvent extends EventBase {
  type: 'snapshot';
  lastIndex: number;
  lastTerm: number;
  /** Voting members in the snapshot's configuration, when decoded. */
  voters?: NodeId[];
}

export interface SnapshotRespEvent extends EventBase {
  type: 'snapshot_resp';
  success: boolean;
  match?: number;
}

export interface TimeoutNowEvent extends EventBase {
  type: 'timeout_now';
}

export type NoopResult = 'sent' | 'ok' | 'failed' | 'skipped';

/** Written by the no-op injector: one per decision. `from` is "raftguard", `to` the target leader. */
export interface NoopEvent extends EventBase {
  type: 'noop';
  result: NoopResult;
  reason: string;
}

export type RaftEvent =
  | AppendEvent
  | AppendRespEvent
  | HeartbeatEvent
  | HeartbeatRespEvent
  | VoteEvent
  | VoteRespEvent
  | SnapshotEvent
  | SnapshotRespEvent
  | TimeoutNowEvent
  | NoopEvent;

export type EventType = RaftEvent['type'];

export const EVENT_TYPES: readonly EventType[] = [
  'append',
  'append_resp',
  'heartbeat',
  'heartbeat_resp',
  'vote',
  'vote_resp',
  'snapshot',
  'snapshot_resp',
  'timeout_now',
  'noop',
];

/** Line 1 of a capture file. */
export interface CaptureHeader {
  raftguard: 'capture';
  version: 1;
  cluster: string;
  /** Voting members when the capture starts; absent = learned from traffic. */
  nodes?: NodeId[];
  /**
   * Members whose inbound peer traffic is observed. Absent = every member in `nodes`
   * (RaftGuard in front of every member). Checks that need every member's traffic stay
   * silent when this does not cover the whole membership.
   */
  observed?: NodeId[];
  /** Wall-clock time (ms since epoch) of t = 0, for display only. */
  startedAt?: number;
  /** Free-form origin, e.g. "raftguard run", "sim seed=42", "pcap:file.pcapng". */
  source?: string;
  /**
   * Check thresholds the writer ran with (names as in the config's `thresholds:`), so a replay
   * judges time the way the live run did. A replay's --config overrides them.
   */
  thresholds?: Record<string, number>;
}

export const CAPTURE_VERSION = 1;

export type Severity = 'critical' | 'warning' | 'info';

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** One piece of proof: a message seen on the wire, and why it matters. */
export interface EvidenceItem {
  note: string;
  event?: RaftEvent;
}

export interface Finding {
  code: string;
  name: string;
  severity: Severity;
  /** Time (ms since capture start) the finding was raised. */
  t: number;
  term?: number;
  nodes: NodeId[];
  message: string;
  recommendation: string;
  evidence: EvidenceItem[];
  /** Extra machine-readable facts (durations, indices) specific to the code. */
  details?: Record<string, unknown>;
}
