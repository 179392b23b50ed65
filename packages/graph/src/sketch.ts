/**
 * A mergeable latency sketch with bounded relative error (the DDSketch idea: logarithmic
 * buckets, so any quantile is within ±1% of a true sample value). Written here rather than
 * taken from `@datadog/sketches-js` because the edge hot path needs exactly one `Math.log` and a
 * Map increment per span, and the sketch must serialize to plain JSON (baselines, `GET /v1/graph`)
 * instead of that library's protobuf form. Storage grows with the log of the value range, never
 * with the number of samples.
 */

/** Relative accuracy of every quantile the sketch returns. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Values at or below this (ms) count as zero: below any latency worth telling apart. */
const MIN_VALUE = 1e-6;

/** The JSON form of a sketch: bucket index → count, as `[index, count]` pairs sorted by index. */
export interface LatencySketchJSON {
  count: number;
  zero: number;
  sum: number;
  max: number;
  bins: [number, number][];
}

/** Latency histogram in milliseconds, mergeable across readers, shards and control-plane nodes. */
export class LatencySketch {
  count = 0;
  zero = 0;
  sum = 0;
  max = 0;
  readonly bins = new Map<number, number>();

  /** Records one latency in milliseconds; negative and non-finite values are ignored. */
  add(ms: number): void {
    if (!(ms >= 0) || ms === Number.POSITIVE_INFINITY) return;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    if (ms <= MIN_VALUE) {
      this.zero++;
      return;
    }
    const index = Math.ceil(Math.log(ms) / LOG_GAMMA);
    this.bins.set(index, (this.bins.get(index) ?? 0) + 1);
  }

  merge(other: LatencySketch | LatencySketchJSON): void {
    this.count += other.count;
    this.zero += other.zero;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
    const entries = other instanceof LatencySketch ? other.bins.entries() : other.bins;
    for (const [index, n] of entries) this.bins.set(index, (this.bins.get(index) ?? 0) + n);
  }

  /** The q-quantile (0..1) in ms, or undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(0, Math.min(this.count - 1, Math.ceil(q * this.count) - 1));
    if (rank < this.zero) return 0;
    let seen = this.zero;
    const indices = [...this.bins.keys()].sort((a, b) => a - b);
    for (const index of indices) {
      seen += this.bins.get(index)!;
      if (seen > rank) {
        // The bucket (γ^(i-1), γ^i] is represented by the value with equal relative error to
        // both ends.
        return Math.min(this.max, (2 * GAMMA ** index) / (1 + GAMMA));
      }
    }
    return this.max;
  }

  toJSON(): LatencySketchJSON {
    const bins = [...this.bins.entries()].sort((a, b) => a[0] - b[0]);
    return { count: this.count, zero: this.zero, sum: this.sum, max: this.max, bins };
  }

  static fromJSON(json: LatencySketchJSON): LatencySketch {
    const sketch = new LatencySketch();
    sketch.merge(json);
    return sketch;
  }
}

/** Reads a sketch from untrusted JSON (a baseline), or returns undefined when it is not one. */
export function parseSketch(value: unknown): LatencySketchJSON | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const nums = ['count', 'zero', 'sum', 'max'] as const;
  if (!nums.every((k) => typeof v[k] === 'number' && Number.isFinite(v[k]))) return undefined;
  if (!Array.isArray(v.bins)) return undefined;
  const bins: [number, number][] = [];
  for (const b of v.bins) {
    if (!Array.isArray(b) || !Number.isInteger(b[0]) || !Number.isInteger(b[1])) return undefined;
    bins.push([b[0], b[1]]);
  }
  return {
    count: v.count as number,
    zero: v.zero as number,
    sum: v.sum as number,
    max: v.max as number,
    bins,
  };
}
