/**
 * The rate-limit algorithm both limiters share: a sliding-window counter over windows aligned to
 * the epoch (window `i` covers `[i·W, (i+1)·W)` milliseconds).
 *
 * Why this one and not GCRA or a plain fixed window:
 * - The promise is "never more than `limit` in a window", and the window is the aligned one the
 *   `RateLimit` header's `t` counts down to. A request is admitted only while
 *   `current + floor(previous · (W − elapsed) / W) < limit`, so `current` (the admissions of this
 *   aligned window) can never pass `limit`: exact, whatever the load or the number of replicas.
 * - A fixed window is exact per window too, but lets a client spend a whole quota at the end of
 *   one window and another at the start of the next: 2× in a moment. Here the previous window's
 *   count still weighs at the start of the next and fades linearly, so the same client gets
 *   admissions spread over the window instead of a second burst.
 * - GCRA (burst tolerance = `limit`) is smooth and O(1) too, but after an idle spell it admits a
 *   full burst of `limit` and then keeps admitting at `limit / W`: up to `2·limit − 1` inside one
 *   window. Shrinking its burst to 1 makes it exact but turns the quota into strict pacing (a
 *   second request within `W / limit` is refused), which is not what `limit per windowSec` means.
 * State per bucket is O(1): the window index and two counts. The weight is floored so that under
 * steady overload exactly `limit` requests per window get through (an unfloored weight would cap
 * it at `limit − 1`, which halves a limit of 2). The Lua script in redis.ts is the same
 * arithmetic on the same doubles; the verdict is computed here for both.
 */
import type { RateLimitRule, RateLimitVerdict } from '../contracts.ts';

/** Largest `limit` of a rule (SPEC: 1..1e9). */
export const MAX_LIMIT = 1_000_000_000;
/** Longest `windowSec` of a rule (SPEC: 1..86400). */
export const MAX_WINDOW_SEC = 86_400;

/** One bucket's counts: admissions in aligned window `window` and in the one before it. */
export interface WindowCounts {
  current: number;
  previous: number;
}

/** Caller misuse (a rule the document validation should have refused) throws TypeError. */
export function checkRule(rule: RateLimitRule): void {
  const { by, limit, windowSec } = rule;
  if (by !== 'ip' && by !== 'user' && by !== 'apiKey' && by !== 'route')
    throw new TypeError(
      `rate limit: by must be ip, user, apiKey or route, got ${String(by).slice(0, 32)}`,
    );
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new TypeError(`rate limit: limit must be an integer 1..${MAX_LIMIT}, got ${limit}`);
  if (!Number.isInteger(windowSec) || windowSec < 1 || windowSec > MAX_WINDOW_SEC)
    throw new TypeError(
      `rate limit: windowSec must be an integer 1..${MAX_WINDOW_SEC}, got ${windowSec}`,
    );
}

/** Counts as seen from window `index`, given what was stored for window `stored`. */
export function rolled(stored: number, counts: WindowCounts, index: number): WindowCounts {
  if (stored === index) return counts;
  // One window on: this window's count becomes the previous one; any further and both are stale.
  return { current: 0, previous: stored === index - 1 ? counts.current : 0 };
}

/** The previous window's share still counted `elapsedMs` into the current window. */
function weight(previous: number, elapsedMs: number, windowMs: number): number {
  return Math.floor((previous * (windowMs - elapsedMs)) / windowMs);
}

/** Whether one more request is admitted. */
export function admits(
  counts: WindowCounts,
  elapsedMs: number,
  windowMs: number,
  limit: number,
): boolean {
  return counts.current + weight(counts.previous, elapsedMs, windowMs) < limit;
}

/**
 * Milliseconds from now until a request would be admitted, for a refused one (no admissions in
 * between: refused requests are not counted).
 */
function retryAfterMs(counts: WindowCounts, elapsedMs: number, windowMs: number, limit: number) {
  const { current, previous } = counts;
  if (current < limit && previous > 0) {
    // The fading weight drops below `limit − current` once previous·(W − e)/W < limit − current.
    const at = Math.floor(windowMs - ((limit - current) * windowMs) / previous) + 1;
    if (at < windowMs) return Math.max(1, at - elapsedMs);
  }
  // Next window: `current` becomes the previous count and fades from its start.
  const at = current < limit ? 0 : Math.floor(windowMs * (1 - limit / current)) + 1;
  return windowMs - elapsedMs + at;
}

/**
 * The verdict after the decision: `counts` are the bucket's counts after it (the admitted request
 * included), `elapsedMs` how far into the aligned window it was made.
 */
export function windowVerdict(
  allowed: boolean,
  counts: WindowCounts,
  elapsedMs: number,
  windowMs: number,
  limit: number,
): RateLimitVerdict {
  if (allowed) {
    const left = limit - counts.current - weight(counts.previous, elapsedMs, windowMs);
    return {
      allowed,
      limit,
      remaining: Math.max(0, left),
      resetSec: Math.max(1, Math.ceil((windowMs - elapsedMs) / 1000)),
    };
  }
  const waitMs = retryAfterMs(counts, elapsedMs, windowMs, limit);
  return { allowed, limit, remaining: 0, resetSec: Math.max(1, Math.ceil(waitMs / 1000)) };
}

/** What a limiter answers when it could not ask its store: the failure mode decides. */
export function unavailableVerdict(rule: RateLimitRule, open: boolean): RateLimitVerdict {
  return { allowed: open, limit: rule.limit, remaining: 0, resetSec: 1, unavailable: true };
}
