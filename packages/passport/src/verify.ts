import { timingSafeEqual } from 'node:crypto';
import type { PassportClaims } from '@ward/policy';
import { PassportError } from './errors.ts';
import {
  B64URL,
  claimsFromPayload,
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_LIFETIME_SEC,
  MAC_CHARS,
  MAX_AUDIENCE,
  SIG_CHARS,
} from './format.ts';
import type { PassportKey, PassportKeyring } from './keyring.ts';

/** Options of `verifyPassport`. */
export interface VerifyPassportOptions {
  /** Current time, epoch milliseconds (like `DecisionInput.time`). Default `Date.now()`. */
  now?: number;
  /** Tolerated clock difference with the minting service, seconds. Default 30. */
  clockSkewSec?: number;
  /** Longest token accepted, checked before any decoding or crypto. Default 4096. */
  maxBytes?: number;
  /** Largest `exp - iat` accepted, seconds (`PASSPORT_LIFETIME` beyond). Default 3600. */
  maxLifetimeSec?: number;
  /**
   * Who this verifier is: its service name and `zone:<zone>` (`zoneAudience`). A passport is
   * accepted only when its `aud` lists one of them (`PASSPORT_AUDIENCE`). Omitted: no audience
   * check, for tools only; every SDK service passes its own.
   */
  audience?: string | readonly string[];
}

/** Options checked once (per call of `verifyPassport`, per verifier for the cache). */
export interface CheckedOptions {
  skew: number;
  maxBytes: number;
  maxLifetime: number;
  audience: readonly string[] | undefined;
}

// Scratch buffers: verify is synchronous and never re-entered, so one set serves every call.
const MAC_WORDS = new Int32Array(8);
const EXPECTED = Buffer.alloc(32);
const GIVEN = Buffer.alloc(32);
const SIGNATURE = Buffer.alloc(64);
const NON_ASCII = /[^\x00-\x7f]/;
let payloadScratch = Buffer.alloc(DEFAULT_MAX_BYTES);

function malformed(message: string): PassportError<'PASSPORT_MALFORMED'> {
  return new PassportError('PASSPORT_MALFORMED', `passport is malformed: ${message}`);
}

/** Checks options once. */
export function checkOptions(options: VerifyPassportOptions): CheckedOptions {
  const skew = options.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxLifetime = options.maxLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC;
  if (!Number.isSafeInteger(maxLifetime) || maxLifetime < 1) {
    throw new TypeError('maxLifetimeSec must be an integer >= 1');
  }
  const audience =
    options.audience === undefined
      ? undefined
      : typeof options.audience === 'string'
        ? [options.audience]
        : [...options.audience];
  if (
    audience !== undefined &&
    (audience.length === 0 ||
      audience.length > MAX_AUDIENCE ||
      !audience.every((a) => typeof a === 'string' && a.length > 0))
  ) {
    throw new TypeError('audience must be a non-empty string or a non-empty list of them');
  }
  if (typeof skew !== 'number' || !(skew >= 0) || !Number.isFinite(skew)) {
    throw new TypeError('clockSkewSec must be a finite number >= 0');
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > 1 << 24) {
    throw new TypeError('maxBytes must be an integer from 1 to 16777216');
  }
  return { skew, maxBytes, maxLifetime, audience };
}

/**
 * Verifies a passport and returns its claims. Synchronous, no I/O. Checks, in this order: size
 * (before touching the text), structure, key id (and that the key's algorithm is the version's),
 * MAC or Ed25519 signature, payload, lifetime, audience, then times. Only a passport whose
 * signature verifies gets its payload decoded, so `PASSPORT_EXPIRED` and friends are never
 * reported for forgeries.
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
  const checked = checkOptions(options);
  const now = options.now ?? Date.now();
  const claims = verifySignedClaims(token, keyring, checked.maxBytes, now);
  checkScope(claims, checked);
  checkTimes(claims, now, checked.skew);
  return claims;
}

/**
 * Throws unless `exp - iat <= maxLifetime` and (with an expected audience) `aud` lists one of
 * its entries. Both depend only on the token and the options, so a cached passport passed them.
 */
export function checkScope(claims: PassportClaims, options: CheckedOptions): void {
  const lifetime = claims.exp - claims.iat;
  if (lifetime > options.maxLifetime) {
    throw new PassportError(
      'PASSPORT_LIFETIME',
      `passport lives ${lifetime}s (exp - iat); this verifier accepts at most ${options.maxLifetime}s`,
    );
  }
  const expected = options.audience;
  if (expected === undefined) return;
  const aud = claims.aud ?? [];
  for (const a of aud) if (expected.includes(a)) return;
  throw new PassportError(
    'PASSPORT_AUDIENCE',
    aud.length === 0
      ? `passport has no audience; this verifier is ${expected.join(', ')}`
      : `passport is for ${aud.slice(0, 8).join(', ').slice(0, 200)}, not for ${expected.join(', ')}`,
  );
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
  // Structure: "v1." or "v2.", <kid>, ".", <payload>, ".", <mac or signature> (base64url).
  if (length === 0 || token.charCodeAt(0) !== 118 /* v */) {
    throw malformed(length === 0 ? 'empty' : 'does not start with "v1." or "v2."');
  }
  const version = token.charCodeAt(1);
  if ((version !== 49 /* 1 */ && version !== 50) /* 2 */ || token.charCodeAt(2) !== 46 /* . */) {
    throw malformed('does not start with "v1." or "v2." (unknown version)');
  }
  const hmac = version === 49;
  const sigChars = hmac ? MAC_CHARS : SIG_CHARS;
  const kidEnd = token.indexOf('.', 3);
  const sigStart = length - sigChars;
  if (
    length < 3 + 1 + 1 + 2 + 1 + sigChars ||
    kidEnd < 4 ||
    kidEnd > 3 + 64 ||
    token.charCodeAt(sigStart - 1) !== 46
  ) {
    throw malformed(
      `expected v${hmac ? 1 : 2}.<kid>.<payload>.<${hmac ? 'mac' : 'signature'}> with a 1-64 char kid and a ${sigChars} char ${hmac ? 'mac' : 'signature'}`,
    );
  }
  // The kid and payload are not checked against the alphabet here: the keyring only holds
  // well-formed kids, the signature covers every payload character, and non-ASCII is refused
  // below. That saves a pass over the text on the hot path.
  const payloadChars = sigStart - 1 - kidEnd - 1;
  if (payloadChars < 2 || payloadChars % 4 === 1) {
    throw malformed(`payload of ${payloadChars} characters is not unpadded base64url`);
  }

  const kid = token.slice(3, kidEnd);
  const key = keyring.get(kid);
  if (key === undefined) {
    throw new PassportError('PASSPORT_UNKNOWN_KEY', `passport key ${kid} is not in the keyring`);
  }
  if (key.alg !== (hmac ? 'HS256' : 'EdDSA')) {
    // Never use a key with the other algorithm (an Ed25519 public key as an HMAC secret).
    throw new PassportError(
      'PASSPORT_UNKNOWN_KEY',
      `passport key ${kid} is an ${key.alg} key; a v${hmac ? 1 : 2} passport needs ${hmac ? 'HS256' : 'EdDSA'}`,
    );
  }
  if (now >= key.notAfter) {
    throw new PassportError(
      'PASSPORT_UNKNOWN_KEY',
      `passport key ${kid} was retired at ${new Date(key.notAfter).toISOString()}`,
    );
  }
  if (hmac) checkMac(token, key, sigStart);
  else checkSignature(token, key, sigStart);

  // Payload: authentic from here on; decode into scratch and parse.
  if (payloadScratch.length < maxBytes) payloadScratch = Buffer.alloc(maxBytes);
  const n = payloadScratch.write(token.slice(kidEnd + 1, sigStart - 1), 0, 'base64url');
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

/**
 * Decodes the base64url segment `token[start..]` into `out`, refusing characters outside the
 * alphabet and non-canonical encodings (the spare bits of the last character must be zero), so
 * no two token texts share a valid signature.
 */
function decodeSegment(token: string, start: number, out: Buffer, what: string): void {
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = start; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const v = c > 127 ? 0 : B64URL[c]!;
    if (v === 0) throw malformed(`character ${i + 1} is not base64url (in the ${what})`);
    acc = ((acc << 6) | (v - 1)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new PassportError(
      'PASSPORT_BAD_SIGNATURE',
      `passport ${what} is not canonical base64url`,
    );
  }
}

/** v1: HMAC-SHA-256 of everything before the last dot, compared in constant time. */
function checkMac(token: string, key: PassportKey, macStart: number): void {
  decodeSegment(token, macStart, GIVEN, 'mac');
  if (key.macInto(token, macStart - 1, MAC_WORDS) > 127) {
    throw malformed('contains a non-ASCII character');
  }
  for (let i = 0; i < 8; i++) EXPECTED.writeInt32BE(MAC_WORDS[i]!, i * 4);
  if (!timingSafeEqual(EXPECTED, GIVEN)) {
    throw new PassportError(
      'PASSPORT_BAD_SIGNATURE',
      `passport mac does not verify (key ${key.kid})`,
    );
  }
}

/** v2: Ed25519 over the ASCII bytes of everything before the last dot. */
function checkSignature(token: string, key: PassportKey, sigStart: number): void {
  decodeSegment(token, sigStart, SIGNATURE, 'signature');
  const signed = token.slice(0, sigStart - 1);
  if (NON_ASCII.test(signed)) throw malformed('contains a non-ASCII character');
  if (!key.verifySignature(Buffer.from(signed, 'latin1'), SIGNATURE)) {
    throw new PassportError(
      'PASSPORT_BAD_SIGNATURE',
      `passport signature does not verify (key ${key.kid})`,
    );
  }
}
