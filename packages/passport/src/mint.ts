import { PassportError } from './errors.ts';
import { DEFAULT_MAX_BYTES, isSeconds, MAX_AUDIENCE, VERSION_OF } from './format.ts';
import { PassportKey, PassportKeyring } from './keyring.ts';

/** What the minting service asserts about the end user. */
export interface MintClaims {
  /** The end user (subject), e.g. the OIDC `sub` of the validated token. */
  sub: string;
  /** The minting service. */
  iss: string;
  /** JSON attributes (roles, tenant, …). Default `{}`. */
  attrs?: Record<string, unknown>;
  /** Issue time, epoch seconds. Default: `now`. */
  iat?: number;
  /** Expiry, epoch seconds. Default: `iat + ttlSec`. */
  exp?: number;
  /** Lifetime in seconds when `exp` is not given. Default 300. */
  ttlSec?: number;
  /**
   * Who the passport is for: service names and/or `zone:<zone>` (see `zoneAudience`). Verifiers
   * that expect an audience (every SDK service does) refuse a passport without one.
   */
  aud?: string | readonly string[];
}

export interface MintPassportOptions {
  /** Epoch milliseconds. Default `Date.now()`. */
  now?: number;
  /** Refuse to mint a token longer than verifiers accept. Default 4096. */
  maxBytes?: number;
}

/** Default passport lifetime: a passport lives for one user request and its fan-out. */
export const DEFAULT_TTL_SEC = 300;

/**
 * Mints a passport with `key`, or with the current key of a keyring: `v1` for an HS256 key, `v2`
 * for an EdDSA key that holds its private key. HS256 uses `createHmac` (minting is off the hot
 * path), which also makes every round trip a cross-check of the verifier's own HMAC code against
 * OpenSSL.
 *
 * @throws TypeError on bad claims, no current key or a public-only key;
 *   PassportError `PASSPORT_TOO_LARGE`.
 * @example
 * const token = mintPassport({ sub: 'alice', iss: 'edge', attrs: { roles: ['admin'] } }, keyring);
 */
export function mintPassport(
  claims: MintClaims,
  key: PassportKey | PassportKeyring,
  options: MintPassportOptions = {},
): string {
  const k = key instanceof PassportKeyring ? key.current : key;
  if (!(k instanceof PassportKey)) throw new TypeError('no current passport key to mint with');
  const now = options.now ?? Date.now();
  if (now >= k.notAfter) throw new TypeError(`passport key ${k.kid} is past its notAfter`);
  const { sub, iss } = claims;
  if (typeof sub !== 'string' || sub.length === 0)
    throw new TypeError('sub must be a non-empty string');
  if (typeof iss !== 'string' || iss.length === 0)
    throw new TypeError('iss must be a non-empty string');
  const attrs = claims.attrs ?? {};
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
    throw new TypeError('attrs must be a plain object');
  }
  const iat = claims.iat ?? Math.floor(now / 1000);
  const ttl = claims.ttlSec ?? DEFAULT_TTL_SEC;
  if (!isSeconds(ttl) || ttl === 0) throw new TypeError('ttlSec must be a positive integer');
  const exp = claims.exp ?? iat + ttl;
  if (!isSeconds(iat) || !isSeconds(exp))
    throw new TypeError('iat and exp must be integer epoch seconds');
  if (exp <= iat) throw new TypeError('exp must be after iat');
  const aud = mintAudience(claims.aud);

  // Fixed member order keeps tokens for equal claims byte-identical (and cache-friendly).
  const json = JSON.stringify(
    aud === undefined ? { sub, iss, iat, exp, attrs } : { sub, iss, iat, exp, aud, attrs },
  );
  const signed = `${VERSION_OF[k.alg]}.${k.kid}.${Buffer.from(json, 'utf8').toString('base64url')}`;
  const token = `${signed}.${k.sign(signed)}`;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (token.length > maxBytes) {
    throw new PassportError(
      'PASSPORT_TOO_LARGE',
      `minted passport would be ${token.length} bytes; the limit is ${maxBytes} (trim attrs)`,
    );
  }
  return token;
}

/** The `aud` member as written: one string stays a string, a list stays a list. */
function mintAudience(aud: MintClaims['aud']): string | readonly string[] | undefined {
  if (aud === undefined) return undefined;
  const list = typeof aud === 'string' ? [aud] : aud;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.length > MAX_AUDIENCE ||
    !list.every((a) => typeof a === 'string' && a.length > 0)
  ) {
    throw new TypeError(`aud must be a non-empty string or a list of 1-${MAX_AUDIENCE} of them`);
  }
  return aud;
}
