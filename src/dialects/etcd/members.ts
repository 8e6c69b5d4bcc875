// Member identity for the etcd dialect: hex member ID → node name, and the voting set as far as the
// wire tells it. Shared by every connection of one createEtcdTap, so a name learned on one
// connection (a `/members` response) applies to all. Bounded: at most `maxMembers` names and a small
// window of recent configuration entries.

import { ConfChangeType, type RawConfChange } from './raftpb.js';

/** Normalises a hex member ID to etcd's own form: lowercase, no 0x, no leading zeros. */
export function normaliseHexId(id: string): string {
  const s = id.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{1,16}$/.test(s)) throw new Error(`member ID "${id}" is not a 64-bit hex number`);
  return BigInt('0x' + s).toString(16);
}

/** A JSON document's decimal uint64 → hex, from the raw digits (never through a JS number). */
export function decimalIdToHex(decimal: string): string {
  if (!/^[0-9]{1,20}$/.test(decimal)) throw new Error(`"${decimal}" is not a decimal uint64`);
  const v = BigInt(decimal);
  if (v >= 1n << 64n) throw new Error(`"${decimal}" does not fit in 64 bits`);
  return v.toString(16);
}

export interface MemberInfo {
  idHex: string;
  name: string;
  peerURLs: string[];
  isLearner: boolean;
}

/**
 * Parses a `/members` JSON body (an array of {id, name, peerURLs, clientURLs, isLearner}).
 * The decimal IDs exceed 2^53, so they are quoted in the raw text before JSON.parse sees them.
 */
export function parseMembersJson(text: string): MemberInfo[] {
  const quoted = text.replace(/("id"\s*:\s*)([0-9]+)/g, '$1"$2"');
  const doc: unknown = JSON.parse(quoted);
  if (!Array.isArray(doc)) throw new Error('expected a JSON array of members');
  return doc.map((m: unknown, k) => {
    if (typeof m !== 'object' || m === null) throw new Error(`members[${k}] is not an object`);
    const r = m as Record<string, unknown>;
    if (typeof r['id'] !== 'string') throw new Error(`members[${k}].id is missing`);
    return {
      idHex: decimalIdToHex(r['id']),
      name: typeof r['name'] === 'string' ? r['name'] : '',
      peerURLs: Array.isArray(r['peerURLs']) ? r['peerURLs'].filter((u): u is string => typeof u === 'string') : [],
      isLearner: r['isLearner'] === true,
    };
  });
}

export class MemberNames {
  private readonly configured = new Map<string, string>();
  private readonly learned = new Map<string, string>();

  constructor(
    config: Record<string, string> = {},
    private readonly maxMembers = 1024,
  ) {
    for (const [hex, name] of Object.entries(config)) this.configured.set(normaliseHexId(hex), name);
  }

  /** The node name for a hex ID: configured, else learned from `/members`, else the hex ID itself. */
  name(idHex: string): string {
    return this.configured.get(idHex) ?? this.learned.get(idHex) ?? idHex;
  }

  learn(idHex: string, name: string): void {
    if (name === '' || this.configured.has(idHex)) return;
    if (!this.learned.has(idHex) && this.learned.size >= this.maxMembers) return;
    this.learned.set(idHex, name);
  }

  /** All known (hex, name) pairs. */
  entries(): [string, string][] {
    const out = new Map(this.learned);
    for (const [k, v] of this.configured) out.set(k, v);
    return [...out];
  }
}

const RECENT_CONFIGS = 32;

/**
 * The voting set, as hex IDs, anchored at a log index. Config entries are applied on top of the
 * latest known set only when they are newer than it; entries re-sent (to each follower, or again on
 * retry) are answered from a small window keyed by (index, digest), so repetition never applies a
 * change twice, and a conflicting rewrite at the same index gets no voters rather than wrong ones.
 */
export class VoterTracker {
  private base: { voters: string[]; index: number; fromMembers?: boolean } | undefined;
  private readonly recent = new Map<number, { digest: string; voters: string[] }>();

  constructor(initial?: string[]) {
    if (initial && initial.length > 0) this.base = { voters: [...new Set(initial)].sort(), index: 0 };
  }

  get known(): readonly string[] | undefined {
    return this.base?.voters;
  }

  private highestCommit = 0;

  /** A leader's commit index seen on the wire: anchors a `/members` answer in the log (see below). */
  noteCommit(commit: number): void {
    if (commit > this.highestCommit) this.highestCommit = commit;
  }

  /**
   * A membership seen outside the log (a `/members` response): used only if nothing better is known.
   * It reflects at least everything committed so far, so it is anchored at the highest commit seen:
   * older config entries replayed later (a new member catching up) are not answered from it.
   */
  setFromMembers(voters: string[]): void {
    if (!this.base || this.base.fromMembers) {
      this.base = { voters: [...new Set(voters)].sort(), index: this.highestCommit, fromMembers: true };
    }
  }

  /** A snapshot's ConfState at `index`. */
  setFromSnapshot(voters: string[], index: number): void {
    if (voters.length === 0) return;
    if (!this.base || index >= this.base.index) this.base = { voters: [...new Set(voters)].sort(), index };
  }

  /** The voters after the config entry at `index` applies, when derivable. */
  configEntry(index: number, digest: string, change: RawConfChange | undefined): string[] | undefined {
    const seen = this.recent.get(index);
    if (seen) return seen.digest === digest ? seen.voters : undefined;
    if (!change || !this.base || index <= this.base.index) return undefined;
    const set = new Set(this.base.voters);
    if (!change.leaveJoint) {
      for (const c of change.changes) {
        if (c.type === ConfChangeType.AddNode) set.add(c.nodeId);
        else if (c.type === ConfChangeType.RemoveNode || c.type === ConfChangeType.AddLearnerNode) set.delete(c.nodeId);
        // UpdateNode changes no membership.
      }
    }
    const voters = [...set].sort();
    this.base = { voters, index };
    this.recent.set(index, { digest, voters });
    if (this.recent.size > RECENT_CONFIGS) this.recent.delete(this.recent.keys().next().value as number);
    return voters;
  }
}
