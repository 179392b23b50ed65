/**
 * Passports for authenticated callers, minted with the signing key of the gateway's bundle (its
 * Service has `spec.passport.mint: true`), for its whole zone, as the demo's frontend does.
 */
import type { PassportKeyV1 } from '@ward/api-types';
import {
  keyringFromBundleKeys,
  mintPassport,
  type PassportKeyring,
  zoneAudience,
} from '@ward/passport';
import type { PassportClaims } from '@ward/policy';
import type { Pdp } from '@ward/sdk';
import type { Principal } from '../contracts.ts';

export interface Minted {
  token: string;
  /** The claims exactly as the token carries them: what the edge decision reads. */
  claims: PassportClaims;
}

/** Mints with the keys of the PDP's current bundle; undefined while it holds no signing key. */
export function passportMinter(pdp: Pdp) {
  let keys: readonly PassportKeyV1[] | undefined;
  let ring: PassportKeyring | undefined;
  // The passport of a principal within one second is byte-identical (iat is in seconds): an
  // authenticator that returns the same Principal object for the same credential (API keys,
  // cached token verifications) gets it minted once a second instead of once a request.
  const recent = new WeakMap<
    Principal,
    { key: PassportKeyring; issuer: string; ttlSec: number; iat: number; minted: Minted }
  >();
  return (
    principal: Principal,
    issuer: string,
    ttlSec: number,
    now = Date.now(),
  ): Minted | undefined => {
    const current = pdp.passportKeys();
    if (current !== keys) {
      keys = current;
      try {
        ring = current.length > 0 ? keyringFromBundleKeys(current) : undefined;
      } catch {
        ring = undefined;
      }
    }
    const key = ring?.current;
    if (ring === undefined || key === undefined || key.notAfter <= now) return undefined;
    const iat = Math.floor(now / 1000);
    const hit = recent.get(principal);
    if (
      hit !== undefined &&
      hit.iat === iat &&
      hit.key === ring &&
      hit.issuer === issuer &&
      hit.ttlSec === ttlSec
    ) {
      return hit.minted;
    }
    // A passport never outlives the credential it was minted from.
    const exp = Math.min(iat + ttlSec, Math.floor(principal.expiresAt ?? Number.POSITIVE_INFINITY));
    if (exp <= iat) return undefined;
    const aud = zoneAudience(pdp.passportPolicy()?.zone ?? 'default');
    const token = mintPassport(
      { sub: principal.subject, iss: issuer, attrs: principal.attrs, iat, exp, aud },
      ring,
      { now },
    );
    const minted: Minted = {
      token,
      claims: {
        sub: principal.subject,
        iss: issuer,
        attrs: principal.attrs,
        iat,
        exp,
        kid: key.kid,
        aud: [aud],
      },
    };
    recent.set(principal, { key: ring, issuer, ttlSec, iat, minted });
    return minted;
  };
}
