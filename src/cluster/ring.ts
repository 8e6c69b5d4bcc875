// Fixed-size windows keyed by log index. Slot = index mod size; a slot remembers which index it
// holds, so a newer index simply evicts the one `size` below it. No scans, no growth: memory is
// bounded by the window, never by log length. Indices older than the window are forgotten, which
// only ever makes the checks quieter (they need both facts to prove anything).

import type { AppendEvent, Entry } from '../events/types.js';
import { appendFromFields } from '../events/fast-line.js';

/**
 * index -> term (and an optional reference) for the most recent `size` indices.
 *
 * Storage starts small and doubles (up to `size`) the first time two indices that a full window
 * would both keep meet in one slot, so a leader term that sends a handful of entries costs a few
 * hundred bytes, not two `size`-long arrays: a capture with many short terms (crash-heavy clusters,
 * the simulator) otherwise allocates 64 KiB per term. What it keeps is exactly what a full-size
 * window keeps: a collision that a full window would also have (indices a multiple of `size` apart)
 * is resolved the same way, newer index wins.
 */
export class TermWindow<R = unknown> {
  private idx: Float64Array;
  private term: Float64Array;
  private ref: (R | undefined)[];
  private readonly withRefs: boolean;
  private cap: number;
  readonly size: number;
  /** Number of occupied slots (for memory tests). */
  used = 0;

  constructor(size: number, withRefs = false) {
    this.size = Math.max(1, Math.floor(size));
    this.withRefs = withRefs;
    this.cap = Math.min(this.size, 64);
    this.idx = new Float64Array(this.cap).fill(-1);
    this.term = new Float64Array(this.cap);
    this.ref = withRefs ? new Array<R | undefined>(this.cap) : [];
  }

  /** Term at `index`, or -1 when not known (never seen or outside the window). */
  get(index: number): number {
    const s = index % this.cap;
    return this.idx[s] === index ? this.term[s] : -1;
  }

  getRef(index: number): R | undefined {
    const s = index % this.cap;
    return this.idx[s] === index ? this.ref[s] : undefined;
  }

  /** Stores term at index unless the slot already holds a newer index. Returns false when ignored. */
  set(index: number, term: number, ref?: R): boolean {
    let s = index % this.cap;
    let held = this.idx[s];
    while (held >= 0 && held !== index && this.cap < this.size && (held - index) % this.size !== 0) {
      this.grow();
      s = index % this.cap;
      held = this.idx[s];
    }
    if (held > index) return false;
    if (held < 0) this.used++;
    this.idx[s] = index;
    this.term[s] = term;
    if (this.withRefs) this.ref[s] = ref;
    return true;
  }

  private grow(): void {
    const oldIdx = this.idx;
    const oldTerm = this.term;
    const oldRef = this.ref;
    const cap = Math.min(this.size, this.cap * 2);
    this.cap = cap;
    this.idx = new Float64Array(cap).fill(-1);
    this.term = new Float64Array(cap);
    this.ref = this.withRefs ? new Array<R | undefined>(cap) : [];
    this.used = 0;
    for (let i = 0; i < oldIdx.length; i++) {
      const index = oldIdx[i];
      if (index < 0) continue;
      const s = index % cap;
      const held = this.idx[s];
      if (held > index) continue; // only possible once cap === size: what a full window keeps
      if (held < 0) this.used++;
      this.idx[s] = index;
      this.term[s] = oldTerm[i];
      if (this.withRefs) this.ref[s] = oldRef[i];
    }
  }
}

/**
 * What the digest window remembers of an (index, term): the entry's digest, and the first append
 * that carried it (the evidence if another digest turns up). The append is kept as its contract
 * fields, not the object: every new index keeps one for a whole window of indices, long enough to
 * be copied out of V8's young generation and promoted, and the objects (with their entries array,
 * time and id) were ~21 of the 33 MB promoted per 1M simulator events (measured). Kept as fields,
 * the entry and id stay; `ev` rebuilds the append in the capture fast path's shape (for an append
 * that path read, equal to the original field for field; for one from elsewhere, its contract
 * fields).
 */
export class EntrySeen {
  term = 0;
  digest = '';
  private t = 0;
  private from = '';
  private to = '';
  private evTerm = 0;
  private id: string | undefined = undefined;
  private prevIndex = 0;
  private prevTerm = 0;
  private commit = 0;
  /** The append's only entry, or (for an append of several) its entries array. */
  private entry: Entry | undefined = undefined;
  private entries: Entry[] | undefined = undefined;

  set(term: number, digest: string, ev: AppendEvent): this {
    this.term = term;
    this.digest = digest;
    this.t = ev.t;
    this.from = ev.from;
    this.to = ev.to;
    this.evTerm = ev.term;
    this.id = ev.id;
    this.prevIndex = ev.prevIndex;
    this.prevTerm = ev.prevTerm;
    this.commit = ev.commit;
    const list = ev.entries;
    if (list.length === 1) {
      this.entry = list[0];
      this.entries = undefined;
    } else {
      this.entry = undefined;
      this.entries = list;
    }
    return this;
  }

  /** The append that carried the entry (rebuilt; see the class comment). */
  get ev(): AppendEvent {
    const entries = this.entry !== undefined ? [this.entry] : this.entries!;
    return appendFromFields(this.t, this.from, this.to, this.evTerm, this.id, this.prevIndex, this.prevTerm, entries, this.commit);
  }
}

/** Digest window for log matching: index -> (term, digest, first append) for the newest version per slot. */
export class EntryWindow {
  private readonly idx: Float64Array;
  private readonly rec: (EntrySeen | undefined)[];
  /** Same index with a different term (an overwritten uncommitted entry): kept aside, capped. */
  private readonly other = new Map<string, EntrySeen>();
  private readonly otherCap: number;
  readonly size: number;
  used = 0;

  constructor(size: number) {
    this.size = Math.max(1, Math.floor(size));
    this.idx = new Float64Array(this.size).fill(-1);
    this.rec = new Array<EntrySeen | undefined>(this.size);
    this.otherCap = Math.max(16, Math.min(1024, this.size));
  }

  get sideSize(): number {
    return this.other.size;
  }

  /**
   * Records (index, term, digest) carried by `ev`. Returns the earlier record with the same index
   * and term but a different digest, if any (a log-matching violation); undefined otherwise.
   */
  observe(index: number, term: number, digest: string, ev: AppendEvent): EntrySeen | undefined {
    const s = index % this.size;
    const held = this.idx[s];
    if (held > index) return undefined; // older than the window
    if (held === index) {
      const r = this.rec[s]!;
      if (r.term === term) return r.digest === digest ? undefined : r;
      const key = index + ':' + term;
      const o = this.other.get(key);
      if (o) return o.digest === digest ? undefined : o;
      if (this.other.size >= this.otherCap) this.other.clear();
      this.other.set(key, new EntrySeen().set(term, digest, ev));
      return undefined;
    }
    if (held < 0) this.used++;
    this.idx[s] = index;
    const r = this.rec[s];
    if (r) r.set(term, digest, ev);
    else this.rec[s] = new EntrySeen().set(term, digest, ev);
    return undefined;
  }
}
