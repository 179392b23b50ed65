/**
 * The seams of the gateway's request path: who the caller is (Authenticator), whether a limit
 * admits the request (RateLimiter). The pipeline depends on these, not on OIDC or Redis.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteRateLimit } from '@ward/policy';

/** Who the external caller proved to be: what the minted passport will say. */
export interface Principal {
  /** How the caller authenticated. */
  kind: 'oidc' | 'apiKey';
  /** The passport's `sub`: the token's subject claim, or the API key's configured subject. */
  subject: string;
  /** The passport's `attrs`, mapped from token claims by `Gateway.spec.passport.attrs`. */
  attrs: Record<string, unknown>;
  /** OIDC: the issuer that signed the token. */
  issuer?: string;
  /** API key: its configured `id` (the rate-limit key of `by: apiKey`; never the key itself). */
  apiKeyId?: string;
  /** Epoch seconds after which the credential is no longer valid: a passport never outlives it. */
  expiresAt?: number;
}

/** Verifies the credential of a request (bearer token or API key). */
export interface Authenticator {
  /**
   * The caller, or undefined when the request carries no credential at all.
   * @throws GatewayError `GATEWAY_UNAUTHENTICATED` when a credential is present but not valid.
   */
  authenticate(headers: IncomingHttpHeaders): Promise<Principal | undefined>;
  /** Stops background work (JWKS refreshes). */
  close(): Promise<void>;
}

/** One limit of a route (`Route.spec.rateLimits[]`): `limit` requests per `windowSec`, per `by`. */
export type RateLimitRule = RouteRateLimit;

/** What one limit says about one request. */
export interface RateLimitVerdict {
  allowed: boolean;
  limit: number;
  /** Requests left in the current window after this one (0 when refused). */
  remaining: number;
  /** Seconds until the window resets (>= 1). */
  resetSec: number;
  /**
   * True when the store could not be asked (Redis down). The gateway then decides by its config's
   * `spec.rateLimit.failureMode` (open: admit, closed: 503), whatever `allowed` says.
   */
  unavailable?: boolean;
}

/** Counts requests per bucket; in memory (one replica) or shared (Redis). */
export interface RateLimiter {
  /** Counts one request against `bucket` (already composed: route, `by` and its value). */
  hit(bucket: string, rule: RateLimitRule, now?: number): Promise<RateLimitVerdict>;
  close(): Promise<void>;
}
