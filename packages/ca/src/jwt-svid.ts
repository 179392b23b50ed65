import { createLocalJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Authority } from './authority.ts';
import { CaError } from './errors.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import type { JsonWebKey } from './webcrypto.ts';

/** Default JWT-SVID lifetime: 5 minutes (short, as bearer tokens can be replayed). */
export const DEFAULT_JWT_SVID_TTL_SECONDS = 300;

/**
 * Signs a JWT-SVID (SPIFFE JWT-SVID §2-3): ES256, `kid` of the CA JWT key, `typ: JWT`; claims
 * `sub` = SPIFFE ID, `aud` (required, at least one), `exp`, `iat`.
 */
export async function signJwtSvid(
  authority: Authority,
  request: { spiffeId: string; audience: readonly string[]; ttlSeconds?: number; now?: number },
): Promise<{ token: string; expiresAt: number }> {
  parseSpiffeId(request.spiffeId);
  if (
    !Array.isArray(request.audience) ||
    request.audience.length === 0 ||
    request.audience.some((a) => typeof a !== 'string' || a === '' || a.length > 1024)
  ) {
    throw new CaError('CA_BAD_REQUEST', 'audience: at least one non-empty audience is required', {
      field: 'audience',
    });
  }
  const now = Math.floor((request.now ?? Date.now()) / 1000);
  const exp = Math.min(
    now + (request.ttlSeconds ?? DEFAULT_JWT_SVID_TTL_SECONDS),
    Math.floor(authority.jwtKey.notAfter / 1000),
  );
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: authority.jwtKey.kid, typ: 'JWT' })
    .setSubject(request.spiffeId)
    .setAudience([...request.audience])
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .sign(authority.jwtKey.privateKey);
  return { token, expiresAt: exp * 1000 };
}

/**
 * Validates a JWT-SVID against a JWT bundle (JWK Set) and one audience. Returns the SPIFFE ID and
 * all claims. Throws `CA_JWT_SVID` saying why it was refused.
 */
export async function validateJwtSvid(
  token: unknown,
  bundle: { keys: JsonWebKey[] },
  audience: string,
): Promise<{ spiffeId: string; claims: JWTPayload }> {
  if (typeof token !== 'string' || token.length > 16 * 1024) {
    throw new CaError('CA_JWT_SVID', 'svid: expected a JWS compact token', { field: 'svid' });
  }
  if (typeof audience !== 'string' || audience === '') {
    throw new CaError('CA_JWT_SVID', 'audience: required', { field: 'audience' });
  }
  try {
    // SPIFFE bundles mark JWT keys `use: "jwt-svid"`, which jose would skip (it only takes
    // `sig`); keep those keys and drop the marker, and ignore keys meant for X.509.
    const keys = (Array.isArray(bundle?.keys) ? bundle.keys : [])
      .filter((k) => k.use === undefined || k.use === 'jwt-svid' || k.use === 'sig')
      .map(({ use: _use, ...k }) => k);
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys } as never), {
      audience,
      algorithms: ['ES256'],
      requiredClaims: ['sub', 'aud', 'exp'],
    });
    const spiffeId = parseSpiffeId(payload.sub, 'sub').id;
    return { spiffeId, claims: payload };
  } catch (cause) {
    if (cause instanceof CaError) throw cause;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new CaError('CA_JWT_SVID', `svid: ${why}`, { cause, field: 'svid' });
  }
}
