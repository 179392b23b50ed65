/**
 * Verifies OIDC / OAuth 2.0 JWT access tokens (RFC 9068) from the issuers a Gateway trusts.
 *
 * The token's `iss`, read WITHOUT verification, only selects which issuer's keys and rules to
 * verify with; a token whose `iss` is not configured is refused before any key is fetched. Then
 * jose's jwtVerify checks the signature (allowed algorithms only, never `none` or HS*: a
 * symmetric algorithm would let anyone holding the public key forge tokens), `iss`, `aud`, `exp`
 * (required), `nbf` and the clock skew.
 *
 * An issuer whose keys cannot be fetched makes its tokens answer 503 (GATEWAY_IDP_UNAVAILABLE),
 * not 401: the token is not known to be bad, and a client that reacts to 401 by signing in
 * again would only add load to an IdP that is already down. Discovery runs in the background
 * from the start, retried with capped exponential backoff; it never fails the gateway's start.
 */

import {
  DEFAULT_GATEWAY_ALGORITHMS,
  GATEWAY_ALGORITHMS,
  type GatewayOidcIssuer,
} from '@ward/policy';
import { decodeJwt, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { GatewayError } from '../errors.ts';
import { checkJwksUri, discoverJwksUri } from './discovery.ts';
import { KeysUnavailableError, resilientJwks } from './jwks.ts';
import { TokenCache } from './token-cache.ts';

/** The algorithms of an issuer that names none (the policy language's default). */
export const DEFAULT_ALGORITHMS = DEFAULT_GATEWAY_ALGORITHMS;
/**
 * Asymmetric JWS algorithms only, as the policy language allows (a configuration naming anything
 * else is refused); `Ed25519` is jose's name for EdDSA over that curve.
 */
const ALLOWED_ALGORITHMS = new Set([...GATEWAY_ALGORITHMS, 'Ed25519']);
export const DEFAULT_CLOCK_SKEW_SEC = 30;
export const MAX_CLOCK_SKEW_SEC = 300;
/** JWT `typ` values an access token may carry (RFC 9068 `at+jwt`, or the generic `JWT`). */
const ACCEPTED_TYPES = new Set(['at+jwt', 'application/at+jwt', 'jwt']);

export interface OidcVerifierOptions {
  /** The clock, epoch milliseconds; default Date.now (tests move it). */
  now?: () => number;
  /** Deadline of one discovery or JWKS fetch; default 5 s. */
  fetchTimeoutMs?: number;
  /** Refetch a JWKS after this long even when every kid is known; default 10 min. */
  jwksCacheMaxAgeMs?: number;
  /** At most one JWKS refetch per this long for unknown kids; default 30 s. */
  jwksCooldownMs?: number;
  /** The last good JWKS keeps verifying this long while the IdP is unreachable; default 24 h. */
  jwksMaxStaleMs?: number;
  /** First and longest wait between discovery attempts; default 1 s and 60 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Verified tokens remembered (by hash) for up to 60 s; default 10 000, 0 disables. */
  tokenCacheSize?: number;
  /** Where discovery failures are reported (never with a token); default nowhere. */
  logger?: { warn(message: string): void };
}

/** A token that verified: its issuer's configuration and its claims. */
export interface VerifiedToken {
  issuer: GatewayOidcIssuer;
  claims: JWTPayload;
  /** Epoch seconds. */
  exp: number;
}

export interface OidcVerifier {
  /**
   * @throws GatewayError `GATEWAY_UNAUTHENTICATED` (with a reason, never the token) or
   *   `GATEWAY_IDP_UNAVAILABLE` when the issuer's keys cannot be had.
   */
  verify(token: string): Promise<VerifiedToken>;
  /** Stops discovery retries. */
  close(): Promise<void>;
}

interface IssuerState {
  config: GatewayOidcIssuer;
  algorithms: string[];
  clockTolerance: number;
  getKey?: JWTVerifyGetKey;
  discovering?: Promise<void>;
  failures: number;
  timer?: NodeJS.Timeout;
}

// No `cause` on refusals: jose's errors carry the token's claims, and these errors get logged.
const unauthenticated = (reason: string): GatewayError<'GATEWAY_UNAUTHENTICATED'> =>
  new GatewayError('GATEWAY_UNAUTHENTICATED', reason);
const configInvalid = (message: string): GatewayError<'GATEWAY_CONFIG_INVALID'> =>
  new GatewayError('GATEWAY_CONFIG_INVALID', `Gateway spec.oidc: ${message}`);

/** Checks `config` and returns its effective algorithms and clock tolerance. */
function checkIssuer(config: GatewayOidcIssuer): { algorithms: string[]; clockTolerance: number } {
  if (config === null || typeof config !== 'object')
    throw configInvalid('each entry must be an object');
  const { issuer, audiences, algorithms, clockSkewSec } = config;
  if (typeof issuer !== 'string' || !/^https?:\/\/[^\s]+$/.test(issuer)) {
    throw configInvalid('issuer must be an http(s) URL');
  }
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    !audiences.every((a) => typeof a === 'string' && a)
  ) {
    throw configInvalid(`${issuer}: audiences must list at least one non-empty string`);
  }
  const algs = algorithms ?? [...DEFAULT_ALGORITHMS];
  if (!Array.isArray(algs) || algs.length === 0 || !algs.every((a) => ALLOWED_ALGORITHMS.has(a))) {
    throw configInvalid(
      `${issuer}: algorithms must be asymmetric JWS algorithms (never none or HS*)`,
    );
  }
  const skew = clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC;
  if (!Number.isInteger(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SEC) {
    throw configInvalid(`${issuer}: clockSkewSec must be an integer 0-${MAX_CLOCK_SKEW_SEC}`);
  }
  if (config.jwksUri !== undefined) {
    try {
      checkJwksUri(issuer, config.jwksUri);
    } catch (error) {
      throw configInvalid(`${issuer}: ${(error as Error).message}`);
    }
  }
  return { algorithms: [...algs], clockTolerance: skew };
}

export function createOidcVerifier(
  issuers: GatewayOidcIssuer[],
  options: OidcVerifierOptions = {},
): OidcVerifier {
  if (!Array.isArray(issuers)) throw new TypeError('createOidcVerifier: issuers must be an array');
  const now = options.now ?? Date.now;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
  const retryInitialMs = options.retryInitialMs ?? 1000;
  const retryMaxMs = options.retryMaxMs ?? 60_000;
  const jwksOptions = {
    cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? 600_000,
    cooldownMs: options.jwksCooldownMs ?? 30_000,
    timeoutMs: fetchTimeoutMs,
    maxStaleMs: options.jwksMaxStaleMs ?? 86_400_000,
  };
  const cache = new TokenCache<VerifiedToken>(options.tokenCacheSize);
  const states = new Map<string, IssuerState>();
  let closed = false;

  for (const config of issuers) {
    const checked = checkIssuer(config);
    if (states.has(config.issuer)) throw configInvalid(`${config.issuer} is listed twice`);
    states.set(config.issuer, { config, ...checked, failures: 0 });
  }

  const discover = (state: IssuerState): Promise<void> => {
    state.discovering ??= (async () => {
      try {
        const url =
          state.config.jwksUri !== undefined
            ? checkJwksUri(state.config.issuer, state.config.jwksUri)
            : await discoverJwksUri(state.config.issuer, fetchTimeoutMs);
        state.getKey = resilientJwks(url, jwksOptions);
        state.failures = 0;
      } catch (error) {
        state.failures++;
        const wait = Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(state.failures - 1, 16));
        options.logger?.warn(
          `OIDC discovery for ${state.config.issuer} failed (${(error as Error).message}); retrying in ${wait} ms`,
        );
        if (!closed) {
          // Jitter spreads the retries of many gateway replicas after a shared IdP outage.
          state.timer = setTimeout(() => void discover(state), wait * (0.5 + Math.random() / 2));
          state.timer.unref();
        }
      } finally {
        state.discovering = undefined;
      }
    })();
    return state.discovering;
  };
  for (const state of states.values()) void discover(state);

  const verify = async (token: string): Promise<VerifiedToken> => {
    if (typeof token !== 'string') throw new TypeError('verify: token must be a string');
    const key = TokenCache.keyOf(token);
    const cached = cache.get(key, now());
    if (cached !== undefined) return cached;

    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw unauthenticated('malformed bearer token (not a JWT)');
    }
    const state = typeof iss === 'string' ? states.get(iss) : undefined;
    if (state === undefined)
      throw unauthenticated("the token's issuer is not trusted by this gateway");
    if (state.getKey === undefined && state.discovering !== undefined) await state.discovering;
    if (state.getKey === undefined) {
      throw new GatewayError(
        'GATEWAY_IDP_UNAVAILABLE',
        `issuer ${state.config.issuer} unavailable: discovery failed`,
      );
    }

    let claims: JWTPayload;
    let typ: string | undefined;
    try {
      const result = await jwtVerify(token, state.getKey, {
        issuer: state.config.issuer,
        audience: state.config.audiences,
        algorithms: state.algorithms,
        clockTolerance: state.clockTolerance,
        requiredClaims: ['exp'],
        currentDate: new Date(now()),
      });
      claims = result.payload;
      typ = result.protectedHeader.typ;
    } catch (error) {
      throw refusal(error, state.config.issuer);
    }
    // Absent typ is accepted: many IdPs omit it. An explicit other type (an ID token's, a
    // logout token's `logout+jwt`, DPoP's `dpop+jwt`) is a JWT meant for something else.
    if (typ !== undefined && !ACCEPTED_TYPES.has(typ.toLowerCase())) {
      throw unauthenticated('the token is not an access token (typ)');
    }
    const verified: VerifiedToken = { issuer: state.config, claims, exp: claims.exp as number };
    cache.set(key, verified, verified.exp, now());
    return verified;
  };

  return {
    verify,
    async close() {
      closed = true;
      for (const state of states.values()) clearTimeout(state.timer);
      cache.clear();
    },
  };
}

/** The GatewayError for a failed jwtVerify: a reason from the error's code, never its text. */
function refusal(error: unknown, issuer: string): GatewayError {
  if (error instanceof KeysUnavailableError) {
    return new GatewayError(
      'GATEWAY_IDP_UNAVAILABLE',
      `issuer ${issuer} unavailable: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  const { code, claim } = (error ?? {}) as { code?: unknown; claim?: unknown };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return unauthenticated('the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return unauthenticated('the token is not yet valid (nbf)');
      if (claim === 'aud') return unauthenticated("the token's audience is not accepted");
      if (claim === 'exp') return unauthenticated('the token has no usable exp');
      return unauthenticated(
        `the token's ${typeof claim === 'string' ? claim : 'claims'} claim is not valid`,
      );
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return unauthenticated("the token's algorithm is not allowed for its issuer");
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return unauthenticated("the token's signature does not verify");
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return unauthenticated("no key of the issuer matches the token's kid");
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return unauthenticated(
        "several keys of the issuer match the token's header (it needs a kid)",
      );
    default:
      return unauthenticated('malformed or unverifiable bearer token');
  }
}
