import type { DecisionLogEntry } from './entry.ts';

/**
 * A fixed-size ring of entries waiting to ship. It never grows: when full, the oldest entry makes
 * room for the newest (fresh traffic matters more than old traffic) and is counted as dropped, and
 * a uniform sample of the dropped entries is kept (reservoir sampling, Vitter's algorithm R) so an
 * edge seen only during an overflow still reaches the control plane.
 *
 * Written by hand rather than taken from a library because the hot path must stay O(1) with no
 * allocation, and the drop accounting is specific to the shipper.
 */
export class DecisionLogRing {
  readonly capacity: number;
  readonly #slots: (DecisionLogEntry | undefined)[];
  #head = 0;
  #size = 0;
  readonly #sample: (DecisionLogEntry | undefined)[];
  #dropped = 0;
  #totalDropped = 0;

  constructor(capacity: number, sampleSize: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TypeError(`capacity must be a positive integer, got ${capacity}`);
    }
    if (!Number.isInteger(sampleSize) || sampleSize < 0) {
      throw new TypeError(`sampleSize must be a non-negative integer, got ${sampleSize}`);
    }
    this.capacity = capacity;
    this.#slots = new Array(capacity).fill(undefined);
    this.#sample = new Array(sampleSize).fill(undefined);
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** Entries dropped since the last `takeDropped()`. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Entries dropped since the ring was made. */
  get totalDropped(): number {
    return this.#totalDropped;
  }

  /** Adds an entry; O(1). When full, the oldest entry is dropped (counted and sampled). */
  push(entry: DecisionLogEntry): void {
    const capacity = this.capacity;
    if (this.#size === capacity) {
      this.drop(this.#slots[this.#head]!);
      this.#slots[this.#head] = entry;
      this.#head = this.#head + 1 === capacity ? 0 : this.#head + 1;
      return;
    }
    let tail = this.#head + this.#size;
    if (tail >= capacity) tail -= capacity;
    this.#slots[tail] = entry;
    this.#size++;
  }

  /** Counts an entry as dropped and offers it to the sample. */
  drop(entry: DecisionLogEntry): void {
    this.dropCount(1);
    const seen = this.#dropped;
    const size = this.#sample.length;
    if (size === 0) return;
    if (seen <= size) {
      this.#sample[seen - 1] = entry;
    } else {
      const j = Math.floor(Math.random() * seen);
      if (j < size) this.#sample[j] = entry;
    }
  }

  /** Counts `n` new drops without sampling them. */
  dropCount(n: number): void {
    this.#dropped += n;
    this.#totalDropped += n;
  }

  /**
   * Puts back a drop count and sample taken by `takeDropped()` whose batch then failed for good:
   * they were already counted in `totalDropped`, so only the pending count grows.
   */
  restoreDropped(dropped: number, sample: readonly DecisionLogEntry[]): void {
    this.#dropped += dropped;
    let s = 0;
    for (let i = 0; i < this.#sample.length && s < sample.length; i++) {
      if (this.#sample[i] === undefined) this.#sample[i] = sample[s++];
    }
  }

  /** Removes and returns up to `max` of the oldest entries, oldest first. */
  take(max: number): DecisionLogEntry[] {
    const n = Math.min(max, this.#size);
    const out: DecisionLogEntry[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.#slots[this.#head]!;
      this.#slots[this.#head] = undefined;
      this.#head = this.#head + 1 === this.capacity ? 0 : this.#head + 1;
    }
    this.#size -= n;
    return out;
  }

  /** Returns and resets the drop count and sample since the last call. */
  takeDropped(): { dropped: number; sample: DecisionLogEntry[] } {
    const dropped = this.#dropped;
    const sample: DecisionLogEntry[] = [];
    for (let i = 0; i < this.#sample.length; i++) {
      const e = this.#sample[i];
      if (e !== undefined) sample.push(e);
      this.#sample[i] = undefined;
    }
    this.#dropped = 0;
    return { dropped, sample };
  }
}
