/**
 * Constants and checks of the passport formats (docs/passport.md has them byte by byte):
 *
 *   v1.<kid>.<payload>.<mac>   HMAC-SHA-256 (shared secret; 43-character mac)
 *   v2.<kid>.<payload>.<sig>   Ed25519 (the edge signs, everyone else holds the public key;
 *                              86-character signature)
 *
 * `payload` is the unpadded base64url of the UTF-8 JSON `{"sub","iss","iat","exp","aud"?,"attrs"}`;
 * the mac/signature covers the ASCII bytes of everything before the last dot, so it covers the
 * version, the key id and the payload. The version fixes the algorithm: a key is only ever used
 * with the one format of its own algorithm (no alg confusion).
 */
import type { PassportClaims } from '@ward/policy';
import { PassportError } from './errors.ts';

/** The version prefix of HMAC-SHA-256 passports. */
export const PASSPORT_VERSION = 'v1';

/** The version prefix of Ed25519 passports. */
export const PASSPORT_VERSION_ED25519 = 'v2';

/** The two signing algorithms, named as in JOSE (and in bundle `passportKeys[].alg`). */
export type PassportAlg = 'HS256' | 'EdDSA';

/** Version prefix of each algorithm. */
export const VERSION_OF: Readonly<Record<PassportAlg, string>> = { HS256: 'v1', EdDSA: 'v2' };

/** Default largest `exp - iat` a verifier accepts, in seconds (one hour). */
export const DEFAULT_MAX_LIFETIME_SEC = 3600;

/** Most audience entries a passport may carry. */
export const MAX_AUDIENCE = 64;

/** The audience entry that names a whole trust zone (`zone:<name>`). */
export function zoneAudience(zone: string): string {
  return `zone:${zone}`;
}

/** Key ids: base64url alphabet, 1 to 64 characters (so they never contain the separator). */
export const KID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Default largest token accepted or minted, in bytes (a passport travels in an HTTP header). */
export const DEFAULT_MAX_BYTES = 4096;

/** Default clock-skew tolerance between minting and verifying services, in seconds. */
export const DEFAULT_CLOCK_SKEW_SEC = 30;

/** Length of the base64url MAC segment: 32 bytes, unpadded. */
export const MAC_CHARS = 43;

/** Length of the base64url Ed25519 signature segment: 64 bytes, unpadded. */
export const SIG_CHARS = 86;

/**
 * Value of each base64url character plus one (0 = not in the alphabet), indexed by char code.
 * Only ever indexed with public data (the token), never with key material.
 */
export const B64URL = new Uint8Array(128);
for (let i = 0; i < 64; i++) {
  B64URL['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i + 1;
}

const MEMBERS = 6;

function malformed(message: string): PassportError<'PASSPORT_MALFORMED'> {
  return new PassportError('PASSPORT_MALFORMED', `passport is malformed: ${message}`);
}

/**
 * Checks a parsed payload and returns the claims in a fixed shape (one hidden class for every
 * passport, which keeps the code that reads them monomorphic).
 */
export function claimsFromPayload(payload: unknown, kid: string): PassportClaims {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw malformed('payload is not a JSON object');
  }
  const p = payload as Record<string, unknown>;
  const { sub, iss, iat, exp, attrs } = p;
  const aud = audienceOf(p.aud);
  if (typeof sub !== 'string' || sub.length === 0) {
    throw malformed('payload member `sub` must be a non-empty string');
  }
  if (typeof iss !== 'string' || iss.length === 0) {
    throw malformed('payload member `iss` must be a non-empty string');
  }
  if (!isSeconds(iat)) throw malformed('payload member `iat` must be a non-negative integer (s)');
  if (!isSeconds(exp)) throw malformed('payload member `exp` must be a non-negative integer (s)');
  if (exp <= iat) throw malformed('payload member `exp` must be after `iat`');
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
    throw malformed('payload member `attrs` must be a JSON object');
  }
  let count = 0;
  for (const name in p) {
    count++;
    if (count > MEMBERS || !(name in SHAPE)) {
      throw malformed(`payload has unknown member \`${name.slice(0, 40)}\``);
    }
  }
  return { sub, attrs: attrs as Record<string, unknown>, iat, exp, iss, kid, aud };
}

const NO_AUDIENCE: readonly string[] = Object.freeze([]);

/**
 * The optional `aud` member: one non-empty string or a list of 1-64 of them, returned as a list
 * (empty when absent, which no verifier with an expected audience accepts).
 */
function audienceOf(aud: unknown): readonly string[] {
  if (aud === undefined) return NO_AUDIENCE;
  if (typeof aud === 'string' && aud.length > 0) return [aud];
  if (
    Array.isArray(aud) &&
    aud.length > 0 &&
    aud.length <= MAX_AUDIENCE &&
    aud.every((a) => typeof a === 'string' && a.length > 0)
  ) {
    return aud as string[];
  }
  throw malformed(
    `payload member \`aud\` must be a non-empty string or a list of 1-${MAX_AUDIENCE} of them`,
  );
}

const SHAPE = { sub: 1, iss: 1, iat: 1, exp: 1, aud: 1, attrs: 1 };
Object.setPrototypeOf(SHAPE, null);

export function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
