/**
 * A route's rate limits for one request: every rule must admit it, in order. Buckets are
 * `<route>|<by>|<value>`: per client address, user (passport subject), API key id or the route.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { CompiledRoute } from '../config/compile.ts';
import type { Principal, RateLimiter, RateLimitVerdict } from '../contracts.ts';

export interface RateLimitOutcome {
  /** `limited`: 429; `unavailable`: 503 (store down, failing closed). */
  result: 'ok' | 'limited' | 'unavailable';
  /** The verdict to report in headers: the refusing one, else the one with least remaining. */
  verdict?: RateLimitVerdict;
}

const OK: RateLimitOutcome = Object.freeze({ result: 'ok' });

export async function applyRateLimits(
  limiter: RateLimiter,
  route: CompiledRoute,
  ip: string,
  principal: Principal | undefined,
  failureMode: 'open' | 'closed',
): Promise<RateLimitOutcome> {
  if (route.rateLimits.length === 0) return OK;
  let tightest: RateLimitVerdict | undefined;
  for (const rule of route.rateLimits) {
    let value: string;
    if (rule.by === 'route') value = '-';
    else if (rule.by === 'ip') value = ip;
    else if (rule.by === 'user')
      value = principal === undefined ? `ip:${ip}` : `sub:${principal.subject}`;
    else if (principal?.apiKeyId !== undefined) value = principal.apiKeyId;
    else continue; // `by: apiKey` limits API-key callers only
    let verdict: RateLimitVerdict;
    try {
      verdict = await limiter.hit(`${route.key}|${rule.by}|${value}`, rule);
    } catch {
      // A limiter that throws is a store that cannot be asked.
      verdict = {
        allowed: failureMode === 'open',
        limit: rule.limit,
        remaining: 0,
        resetSec: rule.windowSec,
        unavailable: true,
      };
    }
    if (!verdict.allowed) {
      return { result: verdict.unavailable === true ? 'unavailable' : 'limited', verdict };
    }
    if (
      verdict.unavailable !== true &&
      (tightest === undefined || verdict.remaining < tightest.remaining)
    ) {
      tightest = verdict;
    }
  }
  return tightest === undefined ? OK : { result: 'ok', verdict: tightest };
}

/**
 * RateLimit headers (IETF draft, `RateLimit-Limit/Remaining/Reset`) and Retry-After on refusal.
 * The lead swaps this for the rate-limit package's `rateLimitHeaders` when merging.
 */
export function rateLimitHeaders(
  verdict: RateLimitVerdict | undefined,
): OutgoingHttpHeaders | undefined {
  if (verdict === undefined || verdict.unavailable === true) return undefined;
  const out: OutgoingHttpHeaders = {
    'ratelimit-limit': String(verdict.limit),
    'ratelimit-remaining': String(Math.max(0, verdict.remaining)),
    'ratelimit-reset': String(Math.max(1, Math.ceil(verdict.resetSec))),
  };
  if (!verdict.allowed) out['retry-after'] = String(Math.max(1, Math.ceil(verdict.resetSec)));
  return out;
}
