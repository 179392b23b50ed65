/**
 * The retry budget, written by hand because cockatiel has none: its retry policy bounds the
 * retries of ONE call, not the share of retries across calls, and a fleet where every call
 * retries three times triples the load on an upstream that is already failing (a retry storm).
 *
 * A token bucket in the manner of Finagle's RetryBudget: over a sliding window of 10 s, retries
 * may be at most `ratio` × requests + `minPerSec` × 10 (the reserve lets a quiet client still
 * retry). Counts live in ten one-second buckets, so memory is fixed whatever the traffic.
 */
const WINDOW_SEC = 10;

export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #requests = new Float64Array(WINDOW_SEC);
  readonly #retries = new Float64Array(WINDOW_SEC);
  /** The second (Date.now() / 1000, floored) the newest bucket stands for. */
  #second = 0;

  constructor(ratio: number, minPerSec: number) {
    this.#ratio = ratio;
    this.#reserve = minPerSec * WINDOW_SEC;
  }

  /** Counts a call (its first attempt). */
  deposit(now = Date.now()): void {
    this.#requests[this.#advance(now)]! += 1;
  }

  /** Takes one retry from the budget; false when it is spent (then do not retry). */
  withdraw(now = Date.now()): boolean {
    const slot = this.#advance(now);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < WINDOW_SEC; i++) {
      requests += this.#requests[i]!;
      retries += this.#retries[i]!;
    }
    if (retries + 1 > this.#ratio * requests + this.#reserve) return false;
    this.#retries[slot]! += 1;
    return true;
  }

  /** Clears the buckets the clock has moved past; returns the current bucket. */
  #advance(now: number): number {
    const second = Math.floor(now / 1000);
    const gap = second - this.#second;
    if (gap > 0) {
      for (let s = Math.max(this.#second + 1, second - WINDOW_SEC + 1); s <= second; s++) {
        this.#requests[s % WINDOW_SEC] = 0;
        this.#retries[s % WINDOW_SEC] = 0;
      }
      this.#second = second;
    }
    // A clock that stepped back keeps counting into the newest bucket.
    return this.#second % WINDOW_SEC;
  }
}
