/**
 * Bucket names: which counter a request is charged to. A bucket is built from values an attacker
 * chooses (an OIDC subject, a forwarded IP), so its length is bounded and its characters are
 * tame: it becomes a Redis key and a Map key as it is.
 *
 * Layout: `<route>|<by>|<limit>/<windowSec>|<kind>:<value>`, e.g.
 * `shop/products|user|100/60|user:alice` or `shop/products|ip|10/1|ip:203.0.113.7`.
 * - `<route>` and `<value>` are kept as they are when short (<= 128) and made of
 *   `[A-Za-z0-9._:/@+=-]`; anything else becomes `~` + base64url(SHA-256) (43 characters). `~` is
 *   outside the kept set, so a kept value never equals a digest.
 * - `<kind>` says what was counted: `ip`, `user`, `key` (an API key's id) or `route` (one bucket
 *   for the whole route). A rule whose `by` value is absent (`by: user` on an anonymous request,
 *   `by: apiKey` on a bearer-token one) counts under the client IP (`ip:`): an anonymous caller
 *   must not escape the limit by staying anonymous, and sharing one bucket among all anonymous
 *   callers would let one of them lock out the rest. Its bucket keeps the rule's `<by>`, so it
 *   never shares a counter with a `by: ip` rule of its own.
 * - `<limit>/<windowSec>` separates two rules of one route (100 per minute and 1000 per hour).
 */
import { createHash } from 'node:crypto';
import type { RateLimitRule } from '../contracts.ts';
import { checkRule } from './sliding-window.ts';

/** Longest bucket name either limiter keeps as it is; longer ones are hashed. */
export const MAX_BUCKET_LENGTH = 320;
const MAX_PART_LENGTH = 128;
const TAME = /^[A-Za-z0-9._:/@+=-]*$/;

function digest(value: string): string {
  return `~${createHash('sha256').update(value).digest('base64url')}`;
}

/** `value` itself when short and tame, its digest otherwise. */
function part(value: string): string {
  return value.length <= MAX_PART_LENGTH && TAME.test(value) ? value : digest(value);
}

/** The caller's identity as the gateway knows it once authenticated. */
export interface BucketContext {
  /** The client address (after trusted-proxy processing). */
  ip: string;
  /** The passport subject, when the caller authenticated. */
  user?: string;
  /** The API key's configured id, when the caller used one. */
  apiKeyId?: string;
}

/** The bucket that `rule` of route `routeKey` charges for a request from `ctx`. */
export function bucketKey(routeKey: string, rule: RateLimitRule, ctx: BucketContext): string {
  checkRule(rule);
  const value =
    rule.by === 'route'
      ? 'route:'
      : rule.by === 'user' && ctx.user !== undefined
        ? `user:${part(ctx.user)}`
        : rule.by === 'apiKey' && ctx.apiKeyId !== undefined
          ? `key:${part(ctx.apiKeyId)}`
          : `ip:${part(ctx.ip)}`;
  return `${part(routeKey)}|${rule.by}|${rule.limit}/${rule.windowSec}|${value}`;
}

/**
 * A bucket name either limiter can store: `bucket` when it is within bounds (bucketKey's always
 * are), its digest otherwise, so a caller composing its own names cannot grow keys without bound.
 */
export function boundedBucket(bucket: string): string {
  return bucket.length <= MAX_BUCKET_LENGTH ? bucket : digest(bucket);
}
