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
  // The passport of a principal within one second is byte-identical (iat is in seconds), so it
  // is minted once a second per caller instead of once a request. Keyed by what the passport is
  // made of, not by the Principal object: authenticators return a fresh one per request. The memo
  // only holds the current second (cleared when it changes, or the keyring does) and at most
  // MEMO_MAX_ENTRIES callers, so a flood of distinct callers costs a bounded Map.
  const recent = new Map<string, Minted>();
  let recentIat = -1;
  let recentRing: PassportKeyring | undefined;
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
    if (iat !== recentIat || ring !== recentRing) {
      recent.clear();
      recentIat = iat;
      recentRing = ring;
    }
    const aud = zoneAudience(pdp.passportPolicy()?.zone ?? 'default');
    const memoKey = memoKeyOf(principal, issuer, ttlSec, aud);
    const hit = memoKey === undefined ? undefined : recent.get(memoKey);
    if (hit !== undefined) return hit;
    // A passport never outlives the credential it was minted from.
    const exp = Math.min(iat + ttlSec, Math.floor(principal.expiresAt ?? Number.POSITIVE_INFINITY));
    if (exp <= iat) return undefined;
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
    if (memoKey !== undefined && recent.size < MEMO_MAX_ENTRIES) recent.set(memoKey, minted);
    return minted;
  };
}

/** Callers remembered per second; beyond it, passports are minted per request. */
const MEMO_MAX_ENTRIES = 10_000;
/** Longer memo keys (large attrs) are not remembered: the Map stays bounded in bytes too. */
const MEMO_MAX_KEY_LENGTH = 1024;

/**
 * Everything a minted passport depends on besides the keyring and the second: the principal's
 * fields (including the credential's expiry, which may cap `exp`), the issuer, TTL and audience.
 */
function memoKeyOf(
  principal: Principal,
  issuer: string,
  ttlSec: number,
  aud: string,
): string | undefined {
  const text = JSON.stringify([
    principal.kind,
    principal.issuer ?? null,
    principal.subject,
    principal.apiKeyId ?? null,
    principal.expiresAt ?? null,
    principal.attrs,
    issuer,
    ttlSec,
    aud,
  ]);
  return text.length <= MEMO_MAX_KEY_LENGTH ? text : undefined;
}
