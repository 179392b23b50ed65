/**
 * `ward gateway`, the edge: external identity (OIDC bearer tokens, API keys) in, passports out,
 * policy at the edge, rate limits, request hygiene and mTLS upstreams through the SDK's client.
 */
export {
  type BodyValidator,
  type CompiledCors,
  type CompiledRoute,
  compileGatewayConfig,
  type GatewayConfig,
} from './config/compile.ts';
export { hostOf, prefixMatches } from './config/routes.ts';
export type {
  ApiKeySpec,
  CorsSpec,
  GatewayDocument,
  GatewaySpec,
  OidcIssuerSpec,
  RouteAuth,
  RouteDocument,
  RouteSpec,
} from './config/spec.ts';
export type {
  Authenticator,
  Principal,
  RateLimiter,
  RateLimitRule,
  RateLimitVerdict,
} from './contracts.ts';
export { GatewayError, type GatewayErrorCode } from './errors.ts';
export { configFromPdp, createGateway, type Gateway, type GatewayOptions } from './gateway.ts';
export {
  createUndiciUpstream,
  type UndiciUpstreamOptions,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
} from './server/upstream.ts';
