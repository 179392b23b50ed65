/**
 * API tokens. A token is `ward_` + 256 random bits (base64url); only its SHA-256 is stored.
 *
 * Why SHA-256 and not a slow password hash (scrypt, argon2): slow hashes protect low-entropy
 * secrets that an attacker can guess from a dictionary. A 256-bit random token has no dictionary;
 * inverting SHA-256 over 2^256 candidates is out of reach however fast the hash is. A fast hash
 * also keeps authentication cheap, which matters when 10,000 PDPs reconnect at once, and lets us
 * look a token up by its hash with an index (no per-row comparison, so no timing side channel).
 */
import { createHash, randomBytes } from 'node:crypto';
import { canonicalServiceKey, namespaceOfKey } from '@ward/spiffe';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Actor } from '../store/store.ts';

/**
 * `admin`: everything. `team`: its services' documents and reports. `pdp`: one service's PDP
 * (bundle, watch, and ingest of decisions made by that service and spans it reports).
 * `collector`: an OpenTelemetry collector forwarding other services' spans (`POST /v1/traces`).
 * `metrics`: a Prometheus scraper; reads `GET /metrics` and nothing else, owns no services.
 */
export type Scope = 'admin' | 'team' | 'pdp' | 'collector' | 'metrics';
export const SCOPES: readonly Scope[] = ['admin', 'team', 'pdp', 'collector', 'metrics'];

/** The identity behind an authenticated request. */
export interface Principal extends Actor {
  scope: Scope;
  /**
   * Services a `team` token owns; for `pdp`, the one service it speaks for (a token created
   * before binding existed has none, so it reads nothing).
   */
  services: ReadonlySet<string>;
  /**
   * Namespaces a `team` token owns whole: every service in them, present and future, and the
   * right to write their Service and Intention documents. Empty (or absent) for other scopes:
   * a `pdp` credential stays bound to its one service key.
   */
  namespaces?: ReadonlySet<string>;
  /** How it authenticated: a bearer token (`id` is the token id) or a client SVID over mTLS. */
  via: 'token' | 'mtls';
  /** When the credential stops being valid (ms since epoch): a client certificate's notAfter. */
  expiresAt?: number;
}

export interface TokenInfo {
  id: string;
  name: string;
  scope: Scope;
  services: string[];
  /** Namespaces a `team` token owns whole (`[]` for tokens made before namespaces). */
  namespaces: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

/**
 * Whether `principal` owns the service `key`: the one question every team-ownership check asks
 * (apply, rollback, promote, propose, reports, exports, live tail, fleet). An admin owns every
 * service; a `team` token the services it names and every service of the namespaces it names; a
 * `pdp` credential its one bound service (never a namespace); other scopes none. `key` is
 * canonicalised first (`default/payments` is `payments`); a malformed key is owned by nobody but
 * an admin.
 */
export function owns(principal: Pick<Principal, 'scope' | 'services' | 'namespaces'>, key: string) {
  if (principal.scope === 'admin') return true;
  if (principal.scope !== 'team' && principal.scope !== 'pdp') return false;
  const canonical = canonicalServiceKey(key);
  if (canonical === undefined) return false;
  if (principal.services.has(canonical)) return true;
  return (
    principal.scope === 'team' && (principal.namespaces?.has(namespaceOfKey(canonical)) ?? false)
  );
}

/** The keys among `keys` that `principal` owns, sorted: how a team's services are enumerated. */
export function ownedAmong(
  principal: Pick<Principal, 'scope' | 'services' | 'namespaces'>,
  keys: Iterable<string>,
): string[] {
  return [...new Set([...keys].filter((k) => owns(principal, k)))].sort();
}

export function generateToken(): string {
  return `ward_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function rowToInfo(r: Database['tokens']): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    scope: r.scope as Scope,
    services: JSON.parse(r.services) as string[],
    namespaces: JSON.parse(r.namespaces) as string[],
    createdAt: r.created_at,
    createdBy: r.created_by,
    revokedAt: r.revoked_at,
  };
}

/** Stores a token's hash; returns its public record. The token itself is never stored. */
export async function insertToken(
  db: Kysely<Database>,
  token: string,
  fields: {
    name: string;
    scope: Scope;
    services?: readonly string[];
    namespaces?: readonly string[];
    createdBy: string;
  },
): Promise<TokenInfo> {
  const row = {
    id: `tok_${randomBytes(9).toString('base64url')}`,
    name: fields.name,
    scope: fields.scope,
    services: JSON.stringify([...(fields.services ?? [])].sort()),
    namespaces: JSON.stringify([...(fields.namespaces ?? [])].sort()),
    hash: hashToken(token),
    created_at: new Date().toISOString(),
    created_by: fields.createdBy,
    revoked_at: null,
  };
  await db.insertInto('tokens').values(row).execute();
  return rowToInfo(row);
}

export async function findTokenByHash(
  db: Kysely<Database>,
  hash: string,
): Promise<(TokenInfo & { hash: string }) | undefined> {
  const r = await db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
  return r ? { ...rowToInfo(r), hash: r.hash } : undefined;
}

export async function listTokens(db: Kysely<Database>): Promise<TokenInfo[]> {
  const rows = await db.selectFrom('tokens').selectAll().orderBy('created_at').execute();
  return rows.map(rowToInfo);
}

/** Marks a token revoked (kept, not deleted, so the audit trail can still name it). */
export async function revokeToken(
  db: Kysely<Database>,
  id: string,
): Promise<TokenInfo | undefined> {
  const at = new Date().toISOString();
  const updated = await db
    .updateTable('tokens')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  const r = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  if (!r) return undefined;
  void updated;
  return rowToInfo(r);
}
