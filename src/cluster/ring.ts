// Fixed-size windows keyed by log index. Slot = index mod size; a slot remembers which index it
// holds, so a newer index simply evicts the one `size` below it. No scans, no growth: memory is
// bounded by the window, never by log length. Indices older than the window are forgotten, which
// only ever makes the checks quieter (they need both facts to prove anything).

/** index -> term (and an optional reference) for the most recent `size` indices. */
export class TermWindow<R = unknown> {
  private readonly idx: Float64Array;
  private readonly term: Float64Array;
  private readonly ref: (R | undefined)[];
  readonly size: number;
  /** Number of occupied slots (for memory tests). */
  used = 0;

  constructor(size: number, withRefs = false) {
    this.size = Math.max(1, Math.floor(size));
    this.idx = new Float64Array(this.size).fill(-1);
    this.term = new Float64Array(this.size);
    this.ref = withRefs ? new Array<R | undefined>(this.size) : [];
  }

  /** Term at `index`, or -1 when not known (never seen or outside the window). */
  get(index: number): number {
    const s = index % this.size;
    return this.idx[s] === index ? this.term[s] : -1;
  }

  getRef(index: number): R | undefined {
    const s = index % this.size;
    return this.idx[s] === index ? this.ref[s] : undefined;
  }

  /** Stores term at index unless the slot already holds a newer index. Returns false when ignored. */
  set(index: number, term: number, ref?: R): boolean {
    const s = index % this.size;
    const held = this.idx[s];
    if (held > index) return false;
    if (held < 0) this.used++;
    this.idx[s] = index;
    this.term[s] = term;
    if (this.ref.length !== 0 || ref !== undefined) this.ref[s] = ref;
    return true;
  }
}

/** Digest window for log matching: index -> (term, digest, event) for the newest version per slot. */
export interface EntrySeen<E> {
  term: number;
  digest: string;
  ev: E;
}

export class EntryWindow<E> {
  private readonly idx: Float64Array;
  private readonly rec: (EntrySeen<E> | undefined)[];
  /** Same index with a different term (an overwritten uncommitted entry): kept aside, capped. */
  private readonly other = new Map<string, EntrySeen<E>>();
  private readonly otherCap: number;
  readonly size: number;
  used = 0;

  constructor(size: number) {
    this.size = Math.max(1, Math.floor(size));
    this.idx = new Float64Array(this.size).fill(-1);
    this.rec = new Array<EntrySeen<E> | undefined>(this.size);
    this.otherCap = Math.max(16, Math.min(1024, this.size));
  }

  get sideSize(): number {
    return this.other.size;
  }

  /**
   * Records (index, term, digest). Returns the earlier record with the same index and term but a
   * different digest, if any (a log-matching violation); undefined otherwise.
   */
  observe(index: number, term: number, digest: string, ev: E): EntrySeen<E> | undefined {
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
      this.other.set(key, { term, digest, ev });
      return undefined;
    }
    if (held < 0) this.used++;
    this.idx[s] = index;
    const r = this.rec[s];
    if (r) {
      r.term = term;
      r.digest = digest;
      r.ev = ev;
    } else {
      this.rec[s] = { term, digest, ev };
    }
    return undefined;
  }
}
