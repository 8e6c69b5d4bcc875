// A bounded sample of a long stream of numbers, for percentiles in constant memory.
// Deterministic (fixed-seed xorshift), so a replay reports the same percentiles every time.

export class Reservoir {
  private readonly samples: number[] = [];
  private seen = 0;
  private rng = 0x9e3779b9;
  private min = Infinity;
  private max = -Infinity;
  private sum = 0;

  constructor(private readonly capacity = 4096) {}

  add(v: number): void {
    this.seen++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.samples.length < this.capacity) {
      this.samples.push(v);
      return;
    }
    // Algorithm R: keep each new value with probability capacity/seen.
    this.rng ^= this.rng << 13;
    this.rng ^= this.rng >>> 17;
    this.rng ^= this.rng << 5;
    const j = (this.rng >>> 0) % this.seen;
    if (j < this.capacity) this.samples[j] = v;
  }

  get count(): number {
    return this.seen;
  }

  /** q in [0, 1]; nearest-rank on the sample (exact while count ≤ capacity). */
  quantile(q: number): number | undefined {
    return this.quantileOf(this.sorted(), q);
  }

  /**
   * The sample in ascending order. A Float64Array sorts numerically in native code; Array#sort with a
   * comparator called back into JS for every comparison and boxed each difference (measured: ~6 MB
   * allocated by the comparator at the end of a 300k-event replay, which sorts every follower's sample twice).
   */
  private sorted(): Float64Array {
    return Float64Array.from(this.samples).sort();
  }

  private quantileOf(sorted: Float64Array, q: number): number | undefined {
    if (sorted.length === 0) return undefined;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank];
  }

  stats(): { count: number; min?: number; p50?: number; p99?: number; max?: number; mean?: number } {
    if (this.seen === 0) return { count: 0 };
    const sorted = this.sorted();
    return {
      count: this.seen,
      min: this.min,
      p50: this.quantileOf(sorted, 0.5),
      p99: this.quantileOf(sorted, 0.99),
      max: this.max,
      mean: this.sum / this.seen,
    };
  }
}
