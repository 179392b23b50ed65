/**
 * The rate limiter of a gateway that runs as one replica: the sliding-window counter
 * (sliding-window.ts) in a Map. With several replicas each would admit its own `limit`: use the
 * Redis limiter there.
 *
 * Memory is bounded by `maxBuckets`: the Map is kept in least-recently-used order (a hit moves
 * its bucket to the end) and the oldest bucket is dropped when a new one would pass the cap. Idle
 * buckets are not swept on a timer; they are the first to go. Dropping a bucket that is still
 * counting forgets its count, so a flood of more than `maxBuckets` distinct live buckets (more
 * distinct clients than the cap within two windows) can let a forgotten client in again early:
 * the cap trades that for a gateway that cannot be made to grow without bound. Each bucket costs
 * its name (at most MAX_BUCKET_LENGTH characters) and about 150 bytes.
 */
import type { RateLimiter, RateLimitRule, RateLimitVerdict } from '../contracts.ts';
import { boundedBucket } from './bucket.ts';
import { admits, checkRule, rolled, type WindowCounts, windowVerdict } from './sliding-window.ts';

export interface MemoryRateLimiterOptions {
  /** Most buckets kept at once; default 100,000. */
  maxBuckets?: number;
}

interface Bucket extends WindowCounts {
  /** The aligned window index `current` counts. */
  window: number;
  windowMs: number;
}

export const DEFAULT_MAX_BUCKETS = 100_000;

export function memoryRateLimiter(options: MemoryRateLimiterOptions = {}): RateLimiter {
  const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  if (!Number.isInteger(maxBuckets) || maxBuckets < 1)
    throw new TypeError(`memoryRateLimiter: maxBuckets must be a positive integer`);
  const buckets = new Map<string, Bucket>();

  function decide(name: string, rule: RateLimitRule, now: number): RateLimitVerdict {
    const windowMs = rule.windowSec * 1000;
    const stored = buckets.get(name);
    if (stored !== undefined) buckets.delete(name);
    // A bucket whose window length changed starts afresh: its counts meant other windows.
    const known = stored !== undefined && stored.windowMs === windowMs ? stored : undefined;
    // A clock stepped back stays in the window already counted rather than forgetting it.
    const index = Math.max(Math.floor(now / windowMs), known?.window ?? 0);
    const elapsed = Math.max(0, now - index * windowMs);
    const counts = known ? rolled(known.window, known, index) : { current: 0, previous: 0 };
    const allowed = admits(counts, elapsed, windowMs, rule.limit);
    if (allowed) counts.current++;
    buckets.set(name, {
      window: index,
      windowMs,
      current: counts.current,
      previous: counts.previous,
    });
    if (buckets.size > maxBuckets) buckets.delete(buckets.keys().next().value!);
    return windowVerdict(allowed, counts, elapsed, windowMs, rule.limit);
  }

  return {
    async hit(bucket, rule, now = Date.now()) {
      checkRule(rule);
      if (!Number.isFinite(now) || now < 0)
        throw new TypeError('rate limit: now must be epoch milliseconds');
      return decide(boundedBucket(bucket), rule, now);
    },
    async close() {
      buckets.clear();
    },
  };
}
