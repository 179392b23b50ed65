/**
 * `ward gateway`, the edge: external identity (OIDC bearer tokens, API keys) in, passports out,
 * policy at the edge, rate limits, request hygiene and mTLS upstreams through the SDK's client.
 */

export type {
  Authenticator,
  Principal,
  RateLimiter,
  RateLimitRule,
  RateLimitVerdict,
} from './contracts.ts';
export { GatewayError, type GatewayErrorCode } from './errors.ts';
export {
  type BucketContext,
  boundedBucket,
  bucketKey,
  MAX_BUCKET_LENGTH,
} from './ratelimit/bucket.ts';
export { policyName, type RateLimitOutcome, rateLimitHeaders } from './ratelimit/headers.ts';
export { type MemoryRateLimiterOptions, memoryRateLimiter } from './ratelimit/memory.ts';
export {
  type RedisRateLimiter,
  type RedisRateLimiterOptions,
  redisRateLimiter,
} from './ratelimit/redis.ts';
