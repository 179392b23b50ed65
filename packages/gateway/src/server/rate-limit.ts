/**
 * A route's rate limits for one request: every rule must admit it, in order. Buckets are
 * ratelimit/bucket.ts's `bucketKey` (per client address, user, API key id or the route), headers
 * are ratelimit/headers.ts's `rateLimitHeaders`.
 *
 * What a verdict the store could not give (`unavailable`) means is decided HERE, by the config's
 * `spec.rateLimit.failureMode`, not by the limiter: the config is hot-reloaded, the limiter (and
 * its Redis connection) lives as long as the process. A limiter's own `allowed` on such a
 * verdict is ignored.
 */
import type { CompiledRoute } from '../config/compile.ts';
import type { Principal, RateLimiter, RateLimitVerdict } from '../contracts.ts';
import { bucketKey } from '../ratelimit/bucket.ts';
import { type RateLimitOutcome, rateLimitHeaders } from '../ratelimit/headers.ts';

export interface RateLimitResult {
  /** `limited`: 429; `unavailable`: 503 (store down, failing closed). */
  result: 'ok' | 'limited' | 'unavailable';
  /** RateLimit / RateLimit-Policy / Retry-After headers for the answer (empty when none). */
  headers: Record<string, string>;
}

const NONE: RateLimitResult = Object.freeze({ result: 'ok', headers: Object.freeze({}) });

export async function applyRateLimits(
  limiter: RateLimiter,
  route: CompiledRoute,
  ip: string,
  principal: Principal | undefined,
  failureMode: 'open' | 'closed',
): Promise<RateLimitResult> {
  if (route.rateLimits.length === 0) return NONE;
  const ctx = {
    ip,
    ...(principal === undefined ? {} : { user: principal.subject }),
    ...(principal?.apiKeyId === undefined ? {} : { apiKeyId: principal.apiKeyId }),
  };
  const outcomes: RateLimitOutcome[] = [];
  for (const rule of route.rateLimits) {
    let verdict: RateLimitVerdict;
    try {
      verdict = await limiter.hit(bucketKey(route.key, rule, ctx), rule);
    } catch {
      // A limiter that throws is a store that cannot be asked.
      verdict = { allowed: false, limit: rule.limit, remaining: 0, resetSec: 1, unavailable: true };
    }
    if (verdict.unavailable === true) verdict = { ...verdict, allowed: failureMode === 'open' };
    outcomes.push({ rule, verdict });
    if (!verdict.allowed) {
      return {
        result: verdict.unavailable === true ? 'unavailable' : 'limited',
        headers: rateLimitHeaders(outcomes),
      };
    }
  }
  return { result: 'ok', headers: rateLimitHeaders(outcomes) };
}
