/**
 * `ward gateway`, the edge: external identity (OIDC bearer tokens, API keys) in, passports out,
 * policy at the edge, rate limits, request hygiene and mTLS upstreams through the SDK's client.
 */

// The documents' types are @ward/policy's; re-exported so a gateway user needs one import.
export type {
  GatewayApiKey,
  GatewayCors,
  GatewayDocument,
  GatewayOidcIssuer,
  RouteAuth,
  RouteDocument,
  RouteRateLimit,
} from '@ward/policy';
export {
  type BodyValidator,
  type CompiledCors,
  type CompiledRoute,
  compileGatewayConfig,
  type GatewayConfig,
} from './config/compile.ts';
export { hostOf, prefixMatches } from './config/routes.ts';
export type {
  Authenticator,
  Principal,
  RateLimiter,
  RateLimitRule,
  RateLimitVerdict,
} from './contracts.ts';
export { GatewayError, type GatewayErrorCode } from './errors.ts';
export { configFromPdp, createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
export { type ApiKeyVerifier, createApiKeyVerifier } from './identity/api-keys.ts';
export { createAuthenticator } from './identity/authenticator.ts';
export { MAX_API_KEY_BYTES, MAX_TOKEN_BYTES } from './identity/credentials.ts';
export {
  createOidcVerifier,
  DEFAULT_ALGORITHMS,
  type OidcVerifier,
  type OidcVerifierOptions,
  type VerifiedToken,
} from './identity/oidc.ts';
export type { GatewayIdentitySpec } from './identity/types.ts';
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
export {
  type ClientUpstream,
  type ClientUpstreamOptions,
  createClientUpstream,
} from './server/client-upstream.ts';
export type {
  Upstream,
  UpstreamRequest,
  UpstreamResponse,
} from './server/upstream.ts';
