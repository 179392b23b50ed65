import { timingSafeEqual } from 'node:crypto';
import type { PassportClaims } from '@ward/policy';
import { PassportError } from './errors.ts';
import {
  B64URL,
  claimsFromPayload,
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_BYTES,
  MAC_CHARS,
} from './format.ts';
import type { PassportKeyring } from './keyring.ts';

/** Options of `verifyPassport`. */
export interface VerifyPassportOptions {
  /** Current time, epoch milliseconds (like `DecisionInput.time`). Default `Date.now()`. */
  now?: number;
  /** Tolerated clock difference with the minting service, seconds. Default 30. */
  clockSkewSec?: number;
  /** Longest token accepted, checked before any decoding or crypto. Default 4096. */
  maxBytes?: number;
}

// Scratch buffers: verify is synchronous and never re-entered, so one set serves every call.
const MAC_WORDS = new Int32Array(8);
const EXPECTED = Buffer.alloc(32);
const GIVEN = Buffer.alloc(32);
let payloadScratch = Buffer.alloc(DEFAULT_MAX_BYTES);

function malformed(message: string): PassportError<'PASSPORT_MALFORMED'> {
  return new PassportError('PASSPORT_MALFORMED', `passport is malformed: ${message}`);
}

/** Checks options once; returns the skew in seconds and the size limit. */
export function checkOptions(options: VerifyPassportOptions): { skew: number; maxBytes: number } {
  const skew = options.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof skew !== 'number' || !(skew >= 0) || !Number.isFinite(skew)) {
    throw new TypeError('clockSkewSec must be a finite number >= 0');
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > 1 << 24) {
    throw new TypeError('maxBytes must be an integer from 1 to 16777216');
  }
  return { skew, maxBytes };
}

/**
 * Verifies a passport and returns its claims. Synchronous, no I/O. Checks, in this order: size
 * (before touching the text), structure, key id, MAC (constant-time), payload, then times. Only
 * a passport whose MAC verifies gets its payload decoded, so `PASSPORT_EXPIRED` and friends are
 * never reported for forgeries.
 *
 * Validity: `iat - skew <= now < exp + skew` (seconds; `now` in ms is compared exactly).
 *
 * @throws PassportError with one of the `PASSPORT_*` codes; `TypeError` on bad options.
 * @example
 * const claims = verifyPassport(req.headers['ward-passport'], keyring);
 * claims.attrs.tenant;
 */
export function verifyPassport(
  token: string,
  keyring: PassportKeyring,
  options: VerifyPassportOptions = {},
): PassportClaims {
  const { skew, maxBytes } = checkOptions(options);
  const now = options.now ?? Date.now();
  const claims = verifySignedClaims(token, keyring, maxBytes, now);
  checkTimes(claims, now, skew);
  return claims;
}

/** Throws unless `iat - skew <= now < exp + skew` (now in epoch ms). */
export function checkTimes(claims: PassportClaims, now: number, skew: number): void {
  if (now >= (claims.exp + skew) * 1000) {
    throw new PassportError(
      'PASSPORT_EXPIRED',
      `passport expired at ${isoOf(claims.exp)} (clock skew ${skew}s)`,
    );
  }
  if (now < (claims.iat - skew) * 1000) {
    throw new PassportError(
      'PASSPORT_NOT_YET_VALID',
      `passport issued in the future, at ${isoOf(claims.iat)} (clock skew ${skew}s)`,
    );
  }
}

function isoOf(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? `${seconds}s` : d.toISOString();
}

/**
 * Everything but the time checks: size, structure, key, MAC, payload. Also used by the cache,
 * which checks times itself on every hit.
 */
export function verifySignedClaims(
  token: string,
  keyring: PassportKeyring,
  maxBytes: number,
  now: number,
): PassportClaims {
  if (typeof token !== 'string') throw new TypeError('passport token must be a string');
  // Size first: a huge header must cost nothing but this comparison. Valid tokens are ASCII, so
  // characters are bytes; a non-ASCII character fails the alphabet check below.
  if (token.length > maxBytes) {
    throw new PassportError(
      'PASSPORT_TOO_LARGE',
      `passport is ${token.length} bytes; the limit is ${maxBytes}`,
    );
  }
  const length = token.length;
  // Structure: "v1." <kid> "." <payload> "." <43-char mac>, all in the base64url alphabet.
  if (length < 3 + 1 + 1 + 2 + 1 + MAC_CHARS || token.charCodeAt(0) !== 118 /* v */) {
    throw malformed(length === 0 ? 'empty' : 'does not start with "v1."');
  }
  if (token.charCodeAt(1) !== 49 /* 1 */ || token.charCodeAt(2) !== 46 /* . */) {
    throw malformed('does not start with "v1." (unknown version)');
  }
  const kidEnd = token.indexOf('.', 3);
  const macStart = length - MAC_CHARS;
  if (kidEnd < 4 || kidEnd > 3 + 64 || token.charCodeAt(macStart - 1) !== 46) {
    throw malformed('expected v1.<kid>.<payload>.<mac> with a 1-64 char kid and a 43 char mac');
  }
  // The kid and payload are not checked against the alphabet here: the keyring only holds
  // well-formed kids, the MAC covers every payload character, and the HMAC refuses non-ASCII
  // below. That saves a pass over the text on the hot path.
  const payloadChars = macStart - 1 - kidEnd - 1;
  if (payloadChars < 2 || payloadChars % 4 === 1) {
    throw malformed(`payload of ${payloadChars} characters is not unpadded base64url`);
  }

  const kid = token.slice(3, kidEnd);
  const key = keyring.get(kid);
  if (key === undefined) {
    throw new PassportError('PASSPORT_UNKNOWN_KEY', `passport key ${kid} is not in the keyring`);
  }
  if (now >= key.notAfter) {
    throw new PassportError(
      'PASSPORT_UNKNOWN_KEY',
      `passport key ${kid} was retired at ${new Date(key.notAfter).toISOString()}`,
    );
  }

  // MAC: decode the given 43 characters into 32 bytes, rejecting non-canonical encodings (the
  // last character carries 2 unused bits), so no two token texts share a valid MAC.
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = macStart; i < length; i++) {
    const c = token.charCodeAt(i);
    const v = c > 127 ? 0 : B64URL[c]!;
    if (v === 0) throw malformed(`character ${i + 1} is not base64url (in the mac)`);
    acc = (acc << 6) | (v - 1);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      GIVEN[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new PassportError('PASSPORT_BAD_SIGNATURE', 'passport mac is not canonical base64url');
  }
  if (key.macInto(token, macStart - 1, MAC_WORDS) > 127) {
    throw malformed('contains a non-ASCII character');
  }
  for (let i = 0; i < 8; i++) EXPECTED.writeInt32BE(MAC_WORDS[i]!, i * 4);
  if (!timingSafeEqual(EXPECTED, GIVEN)) {
    throw new PassportError('PASSPORT_BAD_SIGNATURE', `passport mac does not verify (key ${kid})`);
  }

  // Payload: authentic from here on; decode into scratch and parse.
  if (payloadScratch.length < maxBytes) payloadScratch = Buffer.alloc(maxBytes);
  const n = payloadScratch.write(token.slice(kidEnd + 1, macStart - 1), 0, 'base64url');
  let payload: unknown;
  try {
    payload = JSON.parse(payloadScratch.toString('utf8', 0, n));
  } catch (error) {
    throw new PassportError('PASSPORT_MALFORMED', 'passport is malformed: payload is not JSON', {
      cause: error,
    });
  }
  return claimsFromPayload(payload, kid);
}
