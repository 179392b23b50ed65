/**
 * Resolves `Authorization: Bearer …` to a principal. Lookups are cached for a few seconds by
 * token hash: 10,000 PDPs reconnecting after a restart would otherwise cost 10,000 queries. A
 * revocation clears this replica's cache at once; other replicas notice within `ttlMs`.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { findTokenByHash, hashToken, type Principal } from './tokens.ts';

export class Authenticator {
  readonly #db: Kysely<Database>;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { principal: Principal | null; until: number }>();

  constructor(db: Kysely<Database>, ttlMs = 5000) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  /** The principal for a raw token, or null when it is unknown or revoked. */
  async authenticate(token: string): Promise<Principal | null> {
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.#cache.get(hash);
    if (hit && hit.until > now) return hit.principal;
    const row = await findTokenByHash(this.#db, hash);
    const principal: Principal | null =
      row && row.revokedAt === null
        ? {
            id: row.id,
            name: row.name,
            scope: row.scope,
            services: new Set(row.services),
            namespaces: new Set(row.namespaces),
            via: 'token',
          }
        : null;
    // Bounded: unknown tokens are cached too (so guessing costs no queries), so cap the map.
    if (this.#cache.size > 50_000) this.#cache.clear();
    this.#cache.set(hash, { principal, until: now + this.#ttlMs });
    return principal;
  }

  invalidate(): void {
    this.#cache.clear();
  }
}
