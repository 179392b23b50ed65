import type { PassportClaims } from '@ward/policy';
import type { PassportKeyring } from './keyring.ts';
import {
  type CheckedOptions,
  checkOptions,
  checkScope,
  checkTimes,
  verifySignedClaims,
} from './verify.ts';

/** Options of `createPassportVerifier`. */
export interface PassportVerifierOptions {
  keyring: PassportKeyring;
  /** Most verified passports kept; 0 disables the cache. Default 1024. */
  cacheSize?: number;
  /** Seconds. Default 30. */
  clockSkewSec?: number;
  /** Default 4096. */
  maxBytes?: number;
  /** Largest `exp - iat` accepted, seconds. Default 3600. */
  maxLifetimeSec?: number;
  /** This verifier's service name and `zone:<zone>`; see `VerifyPassportOptions.audience`. */
  audience?: string | readonly string[];
}

interface Entry {
  claims: PassportClaims;
  /** Epoch ms from which the passport is expired: (exp + skew) * 1000. */
  expiresAt: number;
  /** Epoch ms before which it is not yet valid: (iat - skew) * 1000. */
  validFrom: number;
  /** The key's notAfter (epoch ms). */
  keyNotAfter: number;
  /** Keyring version the entry was verified under. */
  version: number;
}

/**
 * Verifies passports (HMAC or Ed25519) and remembers the ones that verified, keyed by the full token text. A
 * request that fans out calls one service many times with the same passport; after the first
 * call each one costs a map lookup and three comparisons. Times are still checked on every hit
 * against the current time, and any change to the keyring (a key added, retired or made
 * current) makes older entries re-verify. Failures are never cached, and since the key is the
 * whole token, a tampered token can only miss.
 *
 * Returned claims are frozen (deeply): they are shared between every hit on the same token.
 *
 * The cache is bounded: past `cacheSize` entries the oldest is dropped (FIFO; hits do not
 * reorder, which keeps a hit allocation-free).
 */
export class PassportVerifier {
  #keyring: PassportKeyring;
  readonly #cache = new Map<string, Entry>();
  readonly #cacheSize: number;
  readonly #skew: number;
  readonly #maxBytes: number;
  readonly #options: CheckedOptions;

  constructor(options: PassportVerifierOptions) {
    this.#options = checkOptions(options);
    const { skew, maxBytes } = this.#options;
    const cacheSize = options.cacheSize ?? 1024;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
      throw new TypeError('cacheSize must be an integer >= 0');
    }
    this.#keyring = options.keyring;
    this.#cacheSize = cacheSize;
    this.#skew = skew;
    this.#maxBytes = maxBytes;
  }

  /**
   * Verifies `token` at `now` (epoch ms, default `Date.now()`).
   * @throws PassportError with a `PASSPORT_*` code.
   */
  verify(token: string, now: number = Date.now()): PassportClaims {
    const entry = this.#cache.get(token);
    if (entry !== undefined && entry.version === this.#keyring.version) {
      if (now < entry.expiresAt && now >= entry.validFrom && now < entry.keyNotAfter) {
        return entry.claims;
      }
      // Let the full path produce the precise error (or re-accept after a clock step back).
      this.#cache.delete(token);
    }
    const claims = verifySignedClaims(token, this.#keyring, this.#maxBytes, now);
    // Lifetime and audience depend only on the token and this verifier: checked once, before a
    // passport can enter the cache.
    checkScope(claims, this.#options);
    checkTimes(claims, now, this.#skew);
    deepFreeze(claims);
    if (this.#cacheSize > 0) {
      if (this.#cache.size >= this.#cacheSize) {
        const oldest = this.#cache.keys().next();
        if (!oldest.done) this.#cache.delete(oldest.value);
      }
      this.#cache.set(token, {
        claims,
        expiresAt: (claims.exp + this.#skew) * 1000,
        validFrom: (claims.iat - this.#skew) * 1000,
        keyNotAfter: this.#keyring.get(claims.kid)?.notAfter ?? 0,
        version: this.#keyring.version,
      });
    }
    return claims;
  }

  /** Swaps the keyring (e.g. from a new bundle) and empties the cache. */
  setKeyring(keyring: PassportKeyring): void {
    this.#keyring = keyring;
    this.#cache.clear();
  }

  get keyring(): PassportKeyring {
    return this.#keyring;
  }

  /** Number of cached verified passports. */
  get size(): number {
    return this.#cache.size;
  }

  clear(): void {
    this.#cache.clear();
  }
}

/**
 * Creates a caching passport verifier.
 * @example
 * const verifier = createPassportVerifier({ keyring, cacheSize: 4096 });
 * const claims = verifier.verify(token);
 */
export function createPassportVerifier(options: PassportVerifierOptions): PassportVerifier {
  return new PassportVerifier(options);
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
}
