/**
 * Passport HMAC keys live in the store (every replica must put the same keys in its bundles).
 * One key is `active`; after a rotation the old one stays `previous` (still distributed for
 * verification, so passports minted just before the rotation keep verifying) until the next
 * rotation retires it — or at once with `retirePrevious`, after a key leak.
 */
import { randomBytes } from 'node:crypto';
import type { PassportKeyV1 } from '@ward/api-types';
import type { Kysely } from 'kysely';
import { appendAudit } from './audit.ts';
import type { Database } from './schema.ts';
import type { Actor, Store } from './store.ts';

function newKey(): { kid: string; secret: string } {
  return {
    kid: `pk_${randomBytes(9).toString('base64url')}`,
    secret: randomBytes(32).toString('base64url'),
  };
}

/** Creates the first key when there is none (first start). Safe when replicas race. */
export async function ensurePassportKey(store: Store): Promise<void> {
  await store.transaction(async (trx) => {
    const existing = await trx.selectFrom('passport_keys').select('kid').limit(1).execute();
    if (existing.length > 0) return;
    const { kid, secret } = newKey();
    await trx
      .insertInto('passport_keys')
      .values({
        kid,
        secret,
        created_at: new Date().toISOString(),
        created_revision: 0,
        status: 'active',
      })
      .execute();
  }, true);
}

/** Keys that go into bundles: the active one first, then the previous one. */
export async function bundlePassportKeys(db: Kysely<Database>): Promise<PassportKeyV1[]> {
  const rows = await db
    .selectFrom('passport_keys')
    .select(['kid', 'secret', 'status'])
    .where('status', 'in', ['active', 'previous'])
    .execute();
  rows.sort((a, b) =>
    a.status === b.status ? a.kid.localeCompare(b.kid) : a.status === 'active' ? -1 : 1,
  );
  return rows.map((r) => ({ kid: r.kid, alg: 'HS256', key: r.secret }));
}

export interface PassportKeyInfo {
  kid: string;
  status: string;
  createdAt: string;
  createdRevision: number;
}

/** Key ids and states, never the secrets. */
export async function listPassportKeys(db: Kysely<Database>): Promise<PassportKeyInfo[]> {
  const rows = await db
    .selectFrom('passport_keys')
    .selectAll()
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((r) => ({
    kid: r.kid,
    status: r.status,
    createdAt: r.created_at,
    createdRevision: Number(r.created_revision),
  }));
}

/** Rotates: new active key, old active becomes previous, older ones retire. Every bundle changes. */
export async function rotatePassportKeys(
  store: Store,
  actor: Actor,
  retirePrevious: boolean,
): Promise<{ kid: string; revision: number }> {
  return store.transaction(async (trx) => {
    const revision = await store.bumpRevision(trx, true);
    await trx
      .updateTable('passport_keys')
      .set({ status: 'retired' })
      .where('status', '=', 'previous')
      .execute();
    await trx
      .updateTable('passport_keys')
      .set({ status: retirePrevious ? 'retired' : 'previous' })
      .where('status', '=', 'active')
      .execute();
    const { kid, secret } = newKey();
    const at = new Date().toISOString();
    await trx
      .insertInto('passport_keys')
      .values({ kid, secret, created_at: at, created_revision: revision, status: 'active' })
      .execute();
    await store.recordRevision(trx, revision, at, actor, 'rotate-passport-keys', ['*']);
    await appendAudit(trx, actor, 'passport-keys.rotate', kid, { retirePrevious }, revision);
    return { kid, revision };
  }, true);
}
