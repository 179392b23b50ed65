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
import { isIP } from 'node:net';
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

/**
 * The address a per-IP bucket counts: an IPv4 address as it is (an IPv4-mapped IPv6 one as its
 * IPv4 address), an IPv6 one as its /64 (`2001:db8:1:2::/64`). One IPv6 subscriber usually holds
 * a whole /64, so counting single addresses would give it 2^64 buckets. Anything else (`unknown`)
 * is returned unchanged.
 */
export function rateLimitAddress(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const zone = ip.indexOf('%');
  const groups = ipv6Groups(zone < 0 ? ip : ip.slice(0, zone));
  if (groups === undefined) return ip;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid (isIP === 6) IPv6 address without zone. */
function ipv6Groups(ip: string): number[] | undefined {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // A dotted IPv4 tail is the last two groups.
    const o = last.split('.').map(Number);
    const hi = ((o[0]! << 8) | o[1]!).toString(16);
    const lo = ((o[2]! << 8) | o[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const gap = text.indexOf('::');
  if (gap < 0) {
    const all = parse(text);
    return all.length === 8 ? all : undefined;
  }
  const left = parse(text.slice(0, gap));
  const right = parse(text.slice(gap + 2));
  const fill = 8 - left.length - right.length;
  if (fill < 0) return undefined;
  return [...left, ...new Array<number>(fill).fill(0), ...right];
}
