import type { PassportKeyV1 } from '@ward/api-types';
import { PassportError } from './errors.ts';
import { KID_PATTERN } from './format.ts';
import { type HmacPads, hmacAscii, precomputePads } from './hmac.ts';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_KEY_BYTES = 32;

/** What it takes to make a passport key. */
export interface PassportKeyInit {
  /** Key id carried in every passport it signs; 1-64 base64url characters. */
  kid: string;
  /** The raw secret (at least 32 bytes), or its unpadded base64url text. */
  key: Uint8Array | string;
  /** Epoch milliseconds from which the key no longer verifies (and no longer mints). */
  notAfter?: number;
}

function invalidKey(message: string): PassportError<'PASSPORT_INVALID_KEY'> {
  return new PassportError('PASSPORT_INVALID_KEY', message);
}

/**
 * One HMAC-SHA-256 passport key. The secret and the precomputed HMAC state live in private
 * fields, so logging or serialising a key or a keyring never prints them.
 */
export class PassportKey {
  readonly kid: string;
  /** Epoch ms after which the key is refused; `Infinity` when it has no end. */
  readonly notAfter: number;
  readonly #secret: Uint8Array;
  readonly #pads: HmacPads;

  /** @throws PassportError `PASSPORT_INVALID_KEY` on a bad kid, key text or length. */
  constructor(init: PassportKeyInit) {
    if (typeof init.kid !== 'string' || !KID_PATTERN.test(init.kid)) {
      throw invalidKey(
        `key id ${JSON.stringify(String(init.kid).slice(0, 80))} must be 1-64 base64url characters`,
      );
    }
    const secret = typeof init.key === 'string' ? decodeKeyText(init.key, init.kid) : init.key;
    if (!(secret instanceof Uint8Array))
      throw new TypeError('key must be a Uint8Array or a string');
    if (secret.length < MIN_KEY_BYTES) {
      throw invalidKey(
        `key ${init.kid} has ${secret.length} bytes; HS256 needs at least ${MIN_KEY_BYTES}`,
      );
    }
    const notAfter = init.notAfter ?? Number.POSITIVE_INFINITY;
    if (typeof notAfter !== 'number' || Number.isNaN(notAfter)) {
      throw invalidKey(`key ${init.kid}: notAfter must be epoch milliseconds`);
    }
    this.kid = init.kid;
    this.notAfter = notAfter;
    this.#secret = Uint8Array.from(secret);
    this.#pads = precomputePads(this.#secret);
  }

  /** A copy of the raw secret (for minting with `createHmac`, or writing a key file). */
  secret(): Uint8Array {
    return Uint8Array.from(this.#secret);
  }

  /**
   * HMAC-SHA-256 of the first `end` characters of `text` into `out` (8 big-endian words); returns
   * the OR of the character codes (over 127: not ASCII, the MAC is meaningless).
   * @internal Used by verify; callers use `verifyPassport`.
   */
  macInto(text: string, end: number, out: Int32Array): number {
    return hmacAscii(this.#pads, text, end, out);
  }
}

function decodeKeyText(text: string, kid: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed) || trimmed.length % 4 === 1) {
    throw invalidKey(`key ${kid} is not unpadded base64url text`);
  }
  return Buffer.from(trimmed, 'base64url');
}

/**
 * The keys a service verifies passports with, by key id, and the one it mints with (`current`).
 * During a rotation it holds the new key and the previous ones; retiring a key makes passports
 * signed with it fail with `PASSPORT_UNKNOWN_KEY`.
 *
 * @example
 * const ring = new PassportKeyring([{ kid: 'k2', key: newKey }, { kid: 'k1', key: oldKey }]);
 * ring.retire('k1');
 */
export class PassportKeyring {
  readonly #keys = new Map<string, PassportKey>();
  #current: PassportKey | undefined;
  #version = 0;

  /** Adds `keys` in order; the first becomes current unless `options.current` names another. */
  constructor(
    keys: Iterable<PassportKeyInit | PassportKey> = [],
    options: { current?: string } = {},
  ) {
    for (const key of keys) this.add(key);
    if (options.current !== undefined) this.use(options.current);
  }

  /** Adds (or replaces) a key; the first key added to an empty keyring becomes current. */
  add(key: PassportKeyInit | PassportKey, options: { current?: boolean } = {}): PassportKey {
    const k = key instanceof PassportKey ? key : new PassportKey(key);
    this.#keys.set(k.kid, k);
    if (options.current || this.#current === undefined || this.#current.kid === k.kid) {
      this.#current = k;
    }
    this.#version++;
    return k;
  }

  /** Removes a key: passports it signed stop verifying. Returns whether it was there. */
  retire(kid: string): boolean {
    const had = this.#keys.delete(kid);
    if (this.#current?.kid === kid) this.#current = undefined;
    if (had) this.#version++;
    return had;
  }

  /** Makes a held key the one `mintPassport` signs with. */
  use(kid: string): void {
    const k = this.#keys.get(kid);
    if (!k) throw new TypeError(`keyring has no key ${kid}`);
    this.#current = k;
    this.#version++;
  }

  /** The key used for minting, if any. */
  get current(): PassportKey | undefined {
    return this.#current;
  }

  get(kid: string): PassportKey | undefined {
    return this.#keys.get(kid);
  }

  kids(): string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Changes whenever a key is added, retired or made current (caches compare it). */
  get version(): number {
    return this.#version;
  }
}

/**
 * Builds a keyring from the `passportKeys` of a bundle. By convention the bundle lists the
 * minting key first and pre-distributes the next key after it (docs/passport.md, rotation);
 * `options.current` overrides that.
 *
 * @throws PassportError `PASSPORT_INVALID_KEY` naming the entry (`passportKeys[i].field`).
 * @example
 * const ring = keyringFromBundleKeys(bundle.passportKeys);
 */
export function keyringFromBundleKeys(
  keys: readonly PassportKeyV1[],
  options: { current?: string } = {},
): PassportKeyring {
  if (!Array.isArray(keys)) throw invalidKey('passportKeys must be a list');
  const ring = new PassportKeyring();
  const seen = new Set<string>();
  keys.forEach((entry, i) => {
    const at = `passportKeys[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw invalidKey(`${at} must be an object`);
    if (entry.alg !== 'HS256') {
      throw invalidKey(`${at}.alg must be "HS256", not ${JSON.stringify(entry.alg)}`);
    }
    if (typeof entry.kid !== 'string' || !KID_PATTERN.test(entry.kid)) {
      throw invalidKey(`${at}.kid must be 1-64 base64url characters`);
    }
    if (seen.has(entry.kid)) throw invalidKey(`${at}.kid ${entry.kid} is listed twice`);
    seen.add(entry.kid);
    if (typeof entry.key !== 'string') throw invalidKey(`${at}.key must be base64url text`);
    let notAfter: number | undefined;
    if (entry.notAfter !== undefined) {
      notAfter = typeof entry.notAfter === 'string' ? Date.parse(entry.notAfter) : Number.NaN;
      if (Number.isNaN(notAfter)) throw invalidKey(`${at}.notAfter must be an ISO 8601 time`);
    }
    try {
      ring.add({ kid: entry.kid, key: entry.key, notAfter });
    } catch (error) {
      if (error instanceof PassportError) {
        throw new PassportError('PASSPORT_INVALID_KEY', `${at}: ${error.message}`);
      }
      throw error;
    }
  });
  if (options.current !== undefined) ring.use(options.current);
  return ring;
}
