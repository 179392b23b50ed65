/**
 * Verified bearer tokens, keyed by the SHA-256 of the token text, so a client that sends the
 * same token on every request pays one signature check per minute instead of one per request.
 * An entry lives until min(token exp, now + 60 s): a token is never accepted after its exp. A key
 * withdrawn from the IdP's JWKS is not noticed before jose refetches the JWKS (its cacheMaxAge,
 * `jwksCacheMaxAgeMs`, 10 min by default), so its tokens keep verifying up to that long plus this
 * cache's 60 s; lower `jwksCacheMaxAgeMs` to shorten it (docs/gateway.md). Bounded:
 * the oldest entry is dropped when full (insertion order; hits do not reorder, which keeps a
 * hit to one Map lookup). Only successes are cached: failures are cheap to repeat and caching
 * them would let garbage evict good entries.
 */
import { createHash } from 'node:crypto';

export const TOKEN_CACHE_TTL_MS = 60_000;
export const TOKEN_CACHE_MAX_ENTRIES = 10_000;

interface Entry<T> {
  value: T;
  expiresAtMs: number;
}

export class TokenCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #max: number;

  constructor(max = TOKEN_CACHE_MAX_ENTRIES) {
    this.#max = max;
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(key: string, nowMs: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Caches `value` until min(`expSec`, now + 60 s). */
  set(key: string, value: T, expSec: number, nowMs: number): void {
    const expiresAtMs = Math.min(expSec * 1000, nowMs + TOKEN_CACHE_TTL_MS);
    if (expiresAtMs <= nowMs || this.#max === 0) return;
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAtMs });
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
