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
    // A passport never outlives the credential it was minted from.
    const exp = Math.min(iat + ttlSec, Math.floor(principal.expiresAt ?? Number.POSITIVE_INFINITY));
    if (exp <= iat) return undefined;
    const aud = zoneAudience(pdp.passportPolicy()?.zone ?? 'default');
    const token = mintPassport(
      { sub: principal.subject, iss: issuer, attrs: principal.attrs, iat, exp, aud },
      ring,
      { now },
    );
    return {
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
  };
}
