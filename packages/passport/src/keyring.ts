import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import type { PassportKeyV1 } from '@ward/api-types';
import { PassportError } from './errors.ts';
import { KID_PATTERN, type PassportAlg } from './format.ts';
import { type HmacPads, hmacAscii, precomputePads } from './hmac.ts';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_KEY_BYTES = 32;

/** Raw Ed25519 public keys and private seeds are 32 bytes (RFC 8032). */
const ED25519_BYTES = 32;

/** What it takes to make a passport key. */
export interface PassportKeyInit {
  /** Key id carried in every passport it signs; 1-64 base64url characters. */
  kid: string;
  /** `HS256` (default): `key` is the shared secret. `EdDSA`: `key` is the Ed25519 public key. */
  alg?: PassportAlg;
  /**
   * HS256: the raw secret (at least 32 bytes). EdDSA: the raw 32-byte public key (JWK `x`).
   * Bytes, or their unpadded base64url text.
   */
  key: Uint8Array | string;
  /** EdDSA only: the raw 32-byte private seed (JWK `d`); only a minting service holds it. */
  privateKey?: Uint8Array | string;
  /** Epoch milliseconds from which the key no longer verifies (and no longer mints). */
  notAfter?: number;
}

function invalidKey(message: string): PassportError<'PASSPORT_INVALID_KEY'> {
  return new PassportError('PASSPORT_INVALID_KEY', message);
}

/**
 * One passport key: an HMAC-SHA-256 secret, or an Ed25519 public key (with the private key only
 * where passports are minted). Secrets, the precomputed HMAC state and the Ed25519 KeyObjects
 * (made once here, never per call) live in private fields, so logging or serialising a key or a
 * keyring never prints them.
 */
export class PassportKey {
  readonly kid: string;
  readonly alg: PassportAlg;
  /** Epoch ms after which the key is refused; `Infinity` when it has no end. */
  readonly notAfter: number;
  readonly #secret: Uint8Array | undefined;
  readonly #pads: HmacPads | undefined;
  readonly #public: KeyObject | undefined;
  readonly #private: KeyObject | undefined;

  /** @throws PassportError `PASSPORT_INVALID_KEY` on a bad kid, alg, key text or length. */
  constructor(init: PassportKeyInit) {
    if (typeof init.kid !== 'string' || !KID_PATTERN.test(init.kid)) {
      throw invalidKey(
        `key id ${JSON.stringify(String(init.kid).slice(0, 80))} must be 1-64 base64url characters`,
      );
    }
    const alg = init.alg ?? 'HS256';
    if (alg !== 'HS256' && alg !== 'EdDSA') {
      throw invalidKey(`key ${init.kid}: alg must be "HS256" or "EdDSA"`);
    }
    const key = keyBytes(init.key, init.kid);
    const notAfter = init.notAfter ?? Number.POSITIVE_INFINITY;
    if (typeof notAfter !== 'number' || Number.isNaN(notAfter)) {
      throw invalidKey(`key ${init.kid}: notAfter must be epoch milliseconds`);
    }
    this.kid = init.kid;
    this.alg = alg;
    this.notAfter = notAfter;
    if (alg === 'HS256') {
      if (init.privateKey !== undefined) {
        throw invalidKey(`key ${init.kid}: an HS256 key has no privateKey (the key is the secret)`);
      }
      if (key.length < MIN_KEY_BYTES) {
        throw invalidKey(
          `key ${init.kid} has ${key.length} bytes; HS256 needs at least ${MIN_KEY_BYTES}`,
        );
      }
      this.#secret = Uint8Array.from(key);
      this.#pads = precomputePads(this.#secret);
      return;
    }
    this.#public = ed25519Public(key, init.kid);
    if (init.privateKey !== undefined) {
      this.#private = ed25519Private(keyBytes(init.privateKey, init.kid), key, init.kid);
    }
  }

  /** Whether this key can mint: always for HS256, only with the private key for EdDSA. */
  get canMint(): boolean {
    return this.alg === 'HS256' || this.#private !== undefined;
  }

  /** A copy of the raw HS256 secret (for writing a key file). @throws TypeError for EdDSA. */
  secret(): Uint8Array {
    if (this.#secret === undefined) throw new TypeError(`key ${this.kid} is not an HS256 key`);
    return Uint8Array.from(this.#secret);
  }

  /**
   * The signature segment over `signed` (ASCII): base64url HMAC-SHA-256 or Ed25519.
   * @throws TypeError when this key cannot mint (an EdDSA key without its private key).
   */
  sign(signed: string): string {
    if (this.#secret !== undefined) {
      return createHmac('sha256', this.#secret).update(signed, 'latin1').digest('base64url');
    }
    if (this.#private === undefined) {
      throw new TypeError(`passport key ${this.kid} is a public key: it verifies but cannot mint`);
    }
    return sign(null, Buffer.from(signed, 'latin1'), this.#private).toString('base64url');
  }

  /**
   * HMAC-SHA-256 of the first `end` characters of `text` into `out` (8 big-endian words); returns
   * the OR of the character codes (over 127: not ASCII, the MAC is meaningless).
   * @internal Used by verify; callers use `verifyPassport`.
   */
  macInto(text: string, end: number, out: Int32Array): number {
    if (this.#pads === undefined) throw new TypeError(`key ${this.kid} is not an HS256 key`);
    return hmacAscii(this.#pads, text, end, out);
  }

  /**
   * Ed25519 verification of `signature` over `data`.
   * @internal Used by verify; callers use `verifyPassport`.
   */
  verifySignature(data: Uint8Array, signature: Uint8Array): boolean {
    if (this.#public === undefined) throw new TypeError(`key ${this.kid} is not an EdDSA key`);
    return verify(null, data, this.#public, signature);
  }
}

function keyBytes(key: Uint8Array | string, kid: string): Uint8Array {
  const bytes = typeof key === 'string' ? decodeKeyText(key, kid) : key;
  if (!(bytes instanceof Uint8Array)) throw new TypeError('key must be a Uint8Array or a string');
  return bytes;
}

function ed25519Public(raw: Uint8Array, kid: string): KeyObject {
  if (raw.length !== ED25519_BYTES) {
    throw invalidKey(`key ${kid}: an Ed25519 public key has 32 bytes, not ${raw.length}`);
  }
  try {
    const x = Buffer.from(raw).toString('base64url');
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch (error) {
    throw new PassportError('PASSPORT_INVALID_KEY', `key ${kid}: not an Ed25519 public key`, {
      cause: error,
    });
  }
}

/** The private KeyObject, checked to belong to the public key given with it. */
function ed25519Private(raw: Uint8Array, publicRaw: Uint8Array, kid: string): KeyObject {
  if (raw.length !== ED25519_BYTES) {
    throw invalidKey(`key ${kid}: an Ed25519 private key has 32 bytes, not ${raw.length}`);
  }
  const x = Buffer.from(publicRaw).toString('base64url');
  const d = Buffer.from(raw).toString('base64url');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });
  } catch (error) {
    throw new PassportError('PASSPORT_INVALID_KEY', `key ${kid}: not an Ed25519 private key`, {
      cause: error,
    });
  }
  if (createPublicKey(key).export({ format: 'jwk' }).x !== x) {
    throw invalidKey(`key ${kid}: the private key does not belong to the public key`);
  }
  return key;
}

/** New key material as base64url text: an HS256 secret, or an Ed25519 key pair. */
export function generatePassportKeyMaterial(alg: PassportAlg): {
  key: string;
  privateKey?: string;
} {
  if (alg === 'HS256') return { key: randomBytes(32).toString('base64url') };
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { key: String(jwk.x), privateKey: String(jwk.d) };
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
    if (entry.alg !== 'HS256' && entry.alg !== 'EdDSA') {
      throw invalidKey(`${at}.alg must be "HS256" or "EdDSA", not ${JSON.stringify(entry.alg)}`);
    }
    if (typeof entry.kid !== 'string' || !KID_PATTERN.test(entry.kid)) {
      throw invalidKey(`${at}.kid must be 1-64 base64url characters`);
    }
    if (seen.has(entry.kid)) throw invalidKey(`${at}.kid ${entry.kid} is listed twice`);
    seen.add(entry.kid);
    if (typeof entry.key !== 'string') throw invalidKey(`${at}.key must be base64url text`);
    if (entry.privateKey !== undefined && typeof entry.privateKey !== 'string') {
      throw invalidKey(`${at}.privateKey must be base64url text`);
    }
    let notAfter: number | undefined;
    if (entry.notAfter !== undefined) {
      notAfter = typeof entry.notAfter === 'string' ? Date.parse(entry.notAfter) : Number.NaN;
      if (Number.isNaN(notAfter)) throw invalidKey(`${at}.notAfter must be an ISO 8601 time`);
    }
    try {
      ring.add({
        kid: entry.kid,
        alg: entry.alg,
        key: entry.key,
        ...(entry.privateKey !== undefined ? { privateKey: entry.privateKey } : {}),
        notAfter,
      });
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
