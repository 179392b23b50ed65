/**
 * Response headers for a route's rate limits, per draft-ietf-httpapi-ratelimit-headers (-11,
 * May 2026): `RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>` and
 * `RateLimit: "<name>";r=<remaining>;t=<seconds>`, both Structured Field lists whose item is a
 * String naming the policy, plus `Retry-After` (delay-seconds) on a refusal.
 *
 * Only the most restrictive limit is reported: a client that respects it respects all of them,
 * and one item keeps the headers short. No `pk` (partition key) is sent: it would echo the
 * bucket, which names the client address or subject. Verdicts the store could not give
 * (`unavailable`) carry no real counts, so they add no `RateLimit` item; a refusal among them
 * still gets its `Retry-After`.
 */
import type { RateLimitRule, RateLimitVerdict } from '../contracts.ts';

/** One rule of a route and what it said about the request. */
export interface RateLimitOutcome {
  rule: RateLimitRule;
  verdict: RateLimitVerdict;
}

/** The policy's name in the headers: what it counts and over which window, e.g. `ip-60s`. */
export function policyName(rule: RateLimitRule): string {
  return `${rule.by}-${rule.windowSec}s`;
}

/** An sf-string: quotes and backslashes escaped (names are ASCII by construction). */
function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** Which outcome binds: a refusal that lasts longest, else the fewest requests left. */
function mostRestrictive(outcomes: readonly RateLimitOutcome[]): RateLimitOutcome | undefined {
  let worst: RateLimitOutcome | undefined;
  for (const outcome of outcomes) {
    if (worst === undefined) {
      worst = outcome;
      continue;
    }
    const a = outcome.verdict;
    const b = worst.verdict;
    const tighter =
      a.allowed !== b.allowed
        ? !a.allowed
        : a.allowed && a.remaining !== b.remaining
          ? a.remaining < b.remaining
          : a.resetSec > b.resetSec;
    if (tighter) worst = outcome;
  }
  return worst;
}

/**
 * Headers (lower-case names) for the outcomes of a request's rate limits: `ratelimit-policy` and
 * `ratelimit` for the most restrictive one, `retry-after` when any refused (the longest wait:
 * every limit must admit the retry).
 */
export function rateLimitHeaders(outcomes: readonly RateLimitOutcome[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const worst = mostRestrictive(outcomes.filter((o) => o.verdict.unavailable !== true));
  if (worst !== undefined) {
    const name = sfString(policyName(worst.rule));
    const { verdict } = worst;
    headers['ratelimit-policy'] = `${name};q=${worst.rule.limit};w=${worst.rule.windowSec}`;
    headers.ratelimit = `${name};r=${verdict.remaining};t=${verdict.resetSec}`;
  }
  let retryAfter = 0;
  for (const { verdict } of outcomes)
    if (!verdict.allowed) retryAfter = Math.max(retryAfter, verdict.resetSec);
  if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
  return headers;
}
