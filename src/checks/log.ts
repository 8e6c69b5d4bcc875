// RG003 log-matching, RG004 committed-entry-overwritten, and the cross-term half of RG009
// (two different entries committed at one index). Facts come only from a leader's own log as it
// sent it (append entries, prevIndex/prevTerm, snapshot) and from leaders' advertised commits.

import type { AppendEvent, Finding, RaftEvent } from '../events/types.js';
import type { ClusterView } from '../cluster/view.js';
import { isIndex } from '../cluster/view.js';
import { EntryWindow } from '../cluster/ring.js';
import type { CodeInfo, Detector, FindingLedger } from './detector.js';
import { ev, makeFinding, push } from './detector.js';

export const RG003: CodeInfo = {
  code: 'RG003',
  name: 'log-matching',
  severity: 'critical',
  rule: 'Two log entries with the same index and term must be identical (Log Matching); only one leader creates entries of a term, each index once.',
  recommendation:
    'Logs have diverged. Stop writes, compare the members\' logs at this index, and look for a leader that re-created entries after losing its log, or two leaders in one term (see RG001).',
};

export const RG004: CodeInfo = {
  code: 'RG004',
  name: 'committed-entry-overwritten',
  severity: 'critical',
  rule: 'A leader must hold every entry committed in earlier terms (Leader Completeness); it may overwrite only uncommitted follower entries.',
  recommendation:
    'A committed write is being replaced: data loss. Freeze the cluster, keep every member\'s data directory, and check the election that produced this leader (RG008, RG007) and how the earlier commit was decided (RG005, RG006).',
};

export const RG009X: CodeInfo = {
  code: 'RG009',
  name: 'commit-regression',
  severity: 'critical',
  rule: 'Once an entry is committed at an index, no other entry may ever be committed there (State Machine Safety).',
  recommendation:
    'Members have applied different commands at the same index: their state machines have diverged. Stop writes, find which members applied which entry, and restore the minority from a healthy member.',
};

export class LogDetector implements Detector {
  readonly codes = [RG003, RG004, RG009X];
  readonly entries: EntryWindow;

  constructor(
    private readonly ledger: FindingLedger,
    logWindow: number,
  ) {
    this.entries = new EntryWindow(logWindow);
  }

  onEvent(e: RaftEvent, view: ClusterView): Finding[] | undefined {
    let out: Finding[] | undefined;
    // Index loops throughout: for-of over these (nearly always empty) arrays allocated an iterator
    // per event here (measured ~20 bytes per event).
    if (e.type === 'append' && Array.isArray(e.entries) && isIndex(e.term)) {
      const list = e.entries;
      for (let i = 0; i < list.length; i++) {
        const en = list[i];
        if (en === null || typeof en !== 'object') continue;
        const d = en.digest;
        if (typeof d !== 'string' || d === '' || !isIndex(en.index) || !isIndex(en.term) || en.term > e.term) continue;
        const other = this.entries.observe(en.index, en.term, d, e);
        if (other && this.ledger.claim(`RG003|${en.index}|${en.term}`)) {
          const first = other.ev;
          out = push(
            out,
            makeFinding(
              RG003,
              view.now,
              en.term,
              uniq([first.from, e.from]),
              `Entry ${en.index} of term ${en.term} was sent with two different payloads (digest ${other.digest} vs ${d}).`,
              [
                ev(`${first.from} sent entry ${en.index} term ${en.term} with digest ${other.digest}`, first),
                ev(`${e.from} sent entry ${en.index} term ${en.term} with digest ${d}`, e),
              ],
              { index: en.index, entryTerm: en.term, digests: [other.digest, d] },
            ),
          );
        }
      }
    }
    const overwrites = view.overwrites;
    for (let i = 0; i < overwrites.length; i++) {
      const o = overwrites[i]!;
      if (!this.ledger.claim(`RG004|${o.index}|${o.leaderTerm}|${o.term}`)) continue;
      out = push(
        out,
        makeFinding(
          RG004,
          view.now,
          o.leaderTerm,
          uniq([o.committedEv.from, o.ev.from]),
          `Leader ${o.ev.from} of term ${o.leaderTerm} holds entry ${o.index} with term ${o.term}, but index ${o.index} was already committed with term ${o.committedTerm} (committed by the leader of term ${o.committedByTerm}).`,
          [
            ev(`index ${o.index} known committed with term ${o.committedTerm} (leader of term ${o.committedByTerm} advertised commit ≥ ${o.index}, or a snapshot covered it)`, o.committedEv),
            ev(`${o.ev.from}, leader of term ${o.leaderTerm}, sends a different entry (term ${o.term}) at index ${o.index}`, o.ev),
          ],
          { index: o.index, committedTerm: o.committedTerm, newTerm: o.term, committedByTerm: o.committedByTerm },
        ),
      );
    }
    const lostAcked = view.lostAcked;
    for (let i = 0; i < lostAcked.length; i++) {
      const l = lostAcked[i]!;
      if (!this.ledger.claim(`RG004F|${l.follower}|${l.term}`)) continue;
      out = push(
        out,
        makeFinding(
          RG004,
          view.now,
          l.term,
          [l.follower, l.leader],
          `${l.follower} acknowledged holding index ${l.match} of leader ${l.leader} in term ${l.term}, then rejected an append at index ${l.prevIndex} (committed) in the same term: it removed or replaced entries at or below the commit index.`,
          [
            ev(`${l.follower} acknowledged index ${l.match} to ${l.leader} in term ${l.term}`, l.ackEv),
            ev(`${l.leader} sends an append with prevIndex ${l.prevIndex}, which ${l.follower} had acknowledged`, l.request),
            ev(`${l.follower} rejects it, still in term ${l.term}: the entry at ${l.prevIndex} is no longer in its log`, l.reject),
          ],
          { follower: l.follower, prevIndex: l.prevIndex, acknowledged: l.match },
        ),
      );
    }
    const conflicts = view.conflicts;
    for (let i = 0; i < conflicts.length; i++) {
      const c = conflicts[i]!;
      const lo = Math.min(c.term, c.otherTerm);
      const hi = Math.max(c.term, c.otherTerm);
      if (!this.ledger.claim(`RG009X|${c.index}|${lo}|${hi}`)) continue;
      out = push(
        out,
        makeFinding(
          RG009X,
          view.now,
          Math.max(c.byTerm, c.otherByTerm),
          uniq([c.otherEv.from, c.ev.from]),
          `Two different entries were committed at index ${c.index}: one of term ${c.otherTerm} (by the leader of term ${c.otherByTerm}) and one of term ${c.term} (by the leader of term ${c.byTerm}).`,
          [
            ev(`index ${c.index} committed with entry term ${c.otherTerm}`, c.otherEv),
            ev(`index ${c.index} committed again with entry term ${c.term}`, c.ev),
          ],
          { index: c.index, terms: [c.otherTerm, c.term], byTerms: [c.otherByTerm, c.byTerm] },
        ),
      );
    }
    return out;
  }

  onTick(): Finding[] | undefined {
    return undefined;
  }
}

export function uniq(ids: string[]): string[] {
  const out: string[] = [];
  for (const i of ids) if (!out.includes(i)) out.push(i);
  return out;
}
