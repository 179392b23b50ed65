/**
 * An issuer's signing keys: jose's remote JWKS (cache, cooldown, refetch when a token names an
 * unknown kid, which is how an IdP's key rotation reaches us) plus "stale if error": when the
 * JWKS cannot be fetched (IdP down, timeout, garbage answer), the last JWKS fetched successfully
 * keeps verifying for up to `maxStaleMs`. Without it a gateway would refuse every user the
 * moment its cached JWKS aged past `cacheMaxAge` during an IdP outage, although the keys that
 * sign the tokens in flight have not changed.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type ExportedJWKSCache,
  type JWTVerifyGetKey,
  jwksCache,
} from 'jose';

/** Thrown by the key getter when keys are needed and cannot be had: a 503, not a 401. */
export class KeysUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeysUnavailableError';
  }
}

export interface JwksOptions {
  /** jose `cacheMaxAge`: refetch after this long even when every kid is known. */
  cacheMaxAgeMs: number;
  /** jose `cooldownDuration`: at most one refetch per this long for unknown kids. */
  cooldownMs: number;
  /** jose `timeoutDuration`. */
  timeoutMs: number;
  /** How long after its fetch the last good JWKS may still be used while fetching fails. */
  maxStaleMs: number;
}

/** A key getter for jwtVerify over `url`, with stale-if-error. */
export function resilientJwks(url: URL, options: JwksOptions): JWTVerifyGetKey {
  const cache: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: options.cacheMaxAgeMs,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: options.timeoutMs,
    [jwksCache]: cache as ExportedJWKSCache,
  });
  // The local key set for the JWKS jose last stored in `cache`, rebuilt when jose stores a new one.
  let stale: { uat: number; getKey: JWTVerifyGetKey } | undefined;

  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      const { uat, jwks } = cache;
      if (uat === undefined || jwks === undefined || Date.now() - uat > options.maxStaleMs) {
        throw new KeysUnavailableError('signing keys cannot be fetched', { cause: error });
      }
      if (stale?.uat !== uat) stale = { uat, getKey: createLocalJWKSet(jwks) };
      try {
        return await stale.getKey(header, token);
      } catch (inner) {
        // The token names a key we do not have and cannot fetch: that is the IdP's outage,
        // not proof the token is bad.
        if (codeOf(inner) === 'ERR_JWKS_NO_MATCHING_KEY') {
          throw new KeysUnavailableError('the token names a key that cannot be fetched', {
            cause: error,
          });
        }
        throw inner;
      }
    }
  };
}

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/**
 * True when `error` says the JWKS could not be fetched, as opposed to a verdict on the token
 * (no matching key, several matching keys, an unsupported key type).
 */
function isFetchFailure(error: unknown): boolean {
  const code = codeOf(error);
  if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID') return true;
  // jose's generic error: "Expected 200 OK" or "Failed to parse" the JWKS response.
  if (code === 'ERR_JOSE_GENERIC') return true;
  // Not a JOSE error at all: fetch's own (connection refused, DNS, abort).
  return typeof code !== 'string' || !code.startsWith('ERR_J');
}
