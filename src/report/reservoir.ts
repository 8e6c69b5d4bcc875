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
    if (this.samples.length === 0) return undefined;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[rank];
  }

  stats(): { count: number; min?: number; p50?: number; p99?: number; max?: number; mean?: number } {
    if (this.seen === 0) return { count: 0 };
    return {
      count: this.seen,
      min: this.min,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: this.max,
      mean: this.sum / this.seen,
    };
  }
}
