/**
 * A log-linear latency histogram (HdrHistogram's bucketing): values in nanoseconds are kept with
 * `SUB_BITS` bits of precision (≤ 1/64 relative error at 6 bits), in a fixed array, so that
 * histograms from many workers merge by adding counts, without loss. Serializable as plain JSON.
 */
export const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Values up to 2^47 ns (~39 hours). */
const MAX_EXP = 47;
export const NBUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB;

function bucketOf(v: number): number {
  if (v < SUB) return Math.max(0, Math.floor(v));
  const e = Math.floor(Math.log2(v)); // v in [2^e, 2^(e+1))
  const shift = e - SUB_BITS;
  const sub = Math.floor(v / 2 ** shift) - SUB; // in [0, SUB)
  return Math.min(NBUCKETS - 1, (shift + 1) * SUB + sub);
}

/** Lowest value of bucket `b`, and its width. */
function bucketRange(b: number): [number, number] {
  if (b < SUB) return [b, 1];
  const shift = Math.floor(b / SUB) - 1;
  const sub = b % SUB;
  return [(SUB + sub) * 2 ** shift, 2 ** shift];
}

export interface HistogramJSON {
  /** Sparse counts: [bucket, count] pairs. */
  buckets: [number, number][];
  count: number;
  min: number;
  max: number;
  sum: number;
  sumsq: number;
}

export class Histogram {
  readonly counts = new Float64Array(NBUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;
  sumsq = 0;

  /** Record one value (nanoseconds). */
  record(ns: number): void {
    const v = ns < 0 ? 0 : ns;
    this.counts[bucketOf(v)]++;
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sum += v;
    this.sumsq += v * v;
  }

  merge(o: Histogram | HistogramJSON): this {
    if (o instanceof Histogram) {
      for (let b = 0; b < NBUCKETS; b++) this.counts[b] += o.counts[b];
    } else {
      for (const [b, c] of o.buckets) this.counts[b] += c;
    }
    this.count += o.count;
    this.min = Math.min(this.min, o.min);
    this.max = Math.max(this.max, o.max);
    this.sum += o.sum;
    this.sumsq += o.sumsq;
    return this;
  }

  static from(j: HistogramJSON): Histogram {
    return new Histogram().merge(j);
  }

  toJSON(): HistogramJSON {
    const buckets: [number, number][] = [];
    for (let b = 0; b < NBUCKETS; b++) if (this.counts[b]) buckets.push([b, this.counts[b]]);
    return { buckets, count: this.count, min: this.count ? this.min : 0, max: this.max, sum: this.sum, sumsq: this.sumsq };
  }

  mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  stddev(): number {
    if (this.count < 2) return 0;
    const m = this.mean();
    return Math.sqrt(Math.max(0, this.sumsq / this.count - m * m));
  }

  /** The value at percentile `p` (0..100): the midpoint of the bucket holding that rank, clamped to [min, max]. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < NBUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) {
        const [lo, w] = bucketRange(b);
        return Math.min(this.max, Math.max(this.min, lo + (w - 1) / 2));
      }
    }
    return this.max;
  }
}
