// Per-term records for the newest few terms (the view's leader terms, the checks' per-term state,
// the summary's leader table): a map from term to record that holds at most a few dozen to a few
// hundred entries, is asked almost only about the newest term, and drops its oldest term as new
// ones arrive.
//
// Why not a JS Map: with one record added and one deleted per term (every few hundred events in a
// crash-heavy capture), a Map kept the records it had dropped reachable for V8's young-generation
// collector, and every event those records still referenced (a leader term holds its last appends
// to each follower) survived a scavenge and was copied into the old generation. Measured on a
// 1M-event simulator capture with the view alone: 95 MB promoted and 340 ms of scavenges with a
// Map for the view's leader terms, 19 MB and 145 ms with this class; the same for the whole engine
// with every per-term Map replaced: 128 → 54 MB promoted, 480 → 263 ms of scavenges. Two plain arrays
// hold only what is in them, and a lookup of the newest term is one comparison.

/** Terms in the order they were added, each with its record. */
export class TermMap<V> {
  private readonly terms: number[] = [];
  private readonly records: V[] = [];

  get size(): number {
    return this.terms.length;
  }

  /** The record of `term`; searched from the newest end, where the term asked for nearly always is. */
  get(term: number): V | undefined {
    const ts = this.terms;
    for (let i = ts.length - 1; i >= 0; i--) if (ts[i] === term) return this.records[i];
    return undefined;
  }

  /** Sets the record of `term` (a new term goes at the newest end). */
  set(term: number, record: V): void {
    const ts = this.terms;
    for (let i = ts.length - 1; i >= 0; i--) {
      if (ts[i] === term) {
        this.records[i] = record;
        return;
      }
    }
    ts.push(term);
    this.records.push(record);
  }

  delete(term: number): boolean {
    const ts = this.terms;
    for (let i = 0; i < ts.length; i++) {
      if (ts[i] === term) {
        ts.splice(i, 1);
        this.records.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Removes the lowest term and returns its record (undefined when empty). */
  deleteMin(): V | undefined {
    const ts = this.terms;
    if (ts.length === 0) return undefined;
    let at = 0;
    for (let i = 1; i < ts.length; i++) if (ts[i]! < ts[at]!) at = i;
    ts.splice(at, 1);
    return this.records.splice(at, 1)[0];
  }

  /** The i-th term in insertion order (0 = oldest), for loops that must not allocate. */
  termAt(i: number): number {
    return this.terms[i]!;
  }

  recordAt(i: number): V {
    return this.records[i]!;
  }

  values(): V[] {
    return this.records.slice();
  }
}
