// Builders for hand-written event sequences. Entries are [index, term, digest?].
import type { Entry, Finding, RaftEvent } from '../../../src/events/types.js';
import { createEngine } from '../../../src/engine.js';
import type { EngineOptions } from '../../../src/engine.js';

export type E = [number, number, string?];

export function entries(list: E[]): Entry[] {
  return list.map(([index, term, digest]) => ({ index, term, kind: 'data' as const, digest: digest ?? `d${index}t${term}` }));
}

export function app(t: number, from: string, to: string, term: number, prevIndex: number, prevTerm: number, ents: E[], commit: number): RaftEvent {
  return { type: 'append', t, from, to, term, prevIndex, prevTerm, entries: entries(ents), commit };
}
export function ok(t: number, from: string, to: string, term: number, match: number): RaftEvent {
  return { type: 'append_resp', t, from, to, term, success: true, match };
}
export function rej(t: number, from: string, to: string, term: number): RaftEvent {
  return { type: 'append_resp', t, from, to, term, success: false };
}
export function hb(t: number, from: string, to: string, term: number, commit: number): RaftEvent {
  return { type: 'heartbeat', t, from, to, term, commit };
}
export function vote(t: number, from: string, to: string, term: number, lastIndex: number, lastTerm: number, pre = false): RaftEvent {
  return { type: 'vote', t, from, to, term, lastIndex, lastTerm, pre };
}
export function grant(t: number, from: string, to: string, term: number, pre = false, granted = true): RaftEvent {
  return { type: 'vote_resp', t, from, to, term, granted, pre };
}

/** A range of entries [from..to] of one term. */
export function range(from: number, to: number, term: number): E[] {
  const out: E[] = [];
  for (let i = from; i <= to; i++) out.push([i, term]);
  return out;
}

export interface Run {
  findings: Finding[];
  engine: ReturnType<typeof createEngine>;
}

/** Feeds events (ticking at each, like replay) and a final tick at `endT` if given. */
export function run(events: RaftEvent[], opts: EngineOptions = { nodes: ['n1', 'n2', 'n3'] }, endT?: number): Run {
  const engine = createEngine(opts);
  const findings: Finding[] = [];
  for (const e of events) {
    findings.push(...engine.apply(e));
    findings.push(...engine.tick(e.t));
  }
  if (endT !== undefined) findings.push(...engine.tick(endT));
  return { findings, engine };
}

export function codes(fs: Finding[]): string[] {
  return fs.map((f) => f.code);
}

export function only(fs: Finding[], code: string): Finding[] {
  return fs.filter((f) => f.code === code);
}

/** Leader `l` of `term` replicates entries [from..to] of its term to followers, all acked, commit advancing. */
export function replicate(t0: number, l: string, followers: string[], term: number, prevIndex: number, prevTerm: number, upto: number, commitBefore: number, entryTerm = term): RaftEvent[] {
  const out: RaftEvent[] = [];
  let t = t0;
  let prev = prevIndex;
  let pt = prevTerm;
  let commit = commitBefore;
  for (let i = prevIndex + 1; i <= upto; i++) {
    for (const f of followers) out.push(app(t, l, f, term, prev, pt, [[i, entryTerm]], commit));
    t += 1;
    for (const f of followers) out.push(ok(t, f, l, term, i));
    t += 1;
    commit = i;
    prev = i;
    pt = entryTerm;
  }
  for (const f of followers) out.push(app(t, l, f, term, prev, pt, [], commit));
  return out;
}

/** Old leader n1 (term 2) leaves 4..5 uncommitted on everyone; n2 wins term 3 at 1001 (the RG010 set-up). */
export function stallHandover(): RaftEvent[] {
  return [
    ...replicate(0, 'n1', ['n2', 'n3'], 2, 0, 0, 3, 0),
    app(20, 'n1', 'n2', 2, 3, 2, range(4, 5, 2), 3),
    app(20, 'n1', 'n3', 2, 3, 2, range(4, 5, 2), 3),
    ok(21, 'n2', 'n1', 2, 5),
    ok(21, 'n3', 'n1', 2, 5),
    vote(1000, 'n2', 'n3', 3, 5, 2),
    grant(1001, 'n3', 'n2', 3),
  ];
}
