/**
 * Passport HMAC keys live in the store (every replica must put the same keys in its bundles).
 * One key is `active`; after a rotation the old one stays `previous` (still distributed for
 * verification, so passports minted just before the rotation keep verifying) until the next
 * rotation retires it — or at once with `retirePrevious`, after a key leak.
 */
import { randomBytes } from 'node:crypto';
import type { PassportKeyV1 } from '@ward/api-types';
import type { SealKey } from '@ward/ca';
import type { Kysely } from 'kysely';
import { isSealed, openText, sealText } from '../keys/seal-key.ts';
import { appendAudit } from './audit.ts';
import type { Database } from './schema.ts';
import type { Actor, Store } from './store.ts';

/** A new key as stored: its secret sealed under the seal key (the only place one is written). */
function newKey(sealKey: SealKey): { kid: string; secret: string } {
  const kid = `pk_${randomBytes(9).toString('base64url')}`;
  return { kid, secret: sealSecret(sealKey, kid, randomBytes(32).toString('base64url')) };
}

/** Associated data of a sealed secret: it opens only in the row of its own key id. */
export const passportSecretPurpose = (kid: string) => `ward:passport-key:${kid}`;

/** The `secret` column's form: AES-256-GCM under the seal key, bound to the key id. */
function sealSecret(sealKey: SealKey, kid: string, secret: string): string {
  return sealText(sealKey, secret, passportSecretPurpose(kid));
}

/** The secret from the `secret` column (the only place one is read). */
function openSecret(sealKey: SealKey, kid: string, stored: string): string {
  return isSealed(stored)
    ? openText(sealKey, stored, passportSecretPurpose(kid), `passport key ${kid}`)
    : stored; // written before secrets were sealed; sealPlaintextSecrets seals it at start
}

/** Seals secrets stored in plaintext by older versions; run at start. Returns how many. */
export async function sealPlaintextSecrets(store: Store): Promise<number> {
  return store.transaction(async (trx) => {
    const rows = await trx.selectFrom('passport_keys').select(['kid', 'secret']).execute();
    let sealed = 0;
    for (const row of rows) {
      if (isSealed(row.secret)) continue;
      await trx
        .updateTable('passport_keys')
        .set({ secret: sealSecret(store.sealKey, row.kid, row.secret) })
        .where('kid', '=', row.kid)
        .where('secret', '=', row.secret)
        .execute();
      sealed++;
    }
    return sealed;
  }, true);
}

/** Creates the first key when there is none (first start). Safe when replicas race. */
export async function ensurePassportKey(store: Store): Promise<void> {
  await store.transaction(async (trx) => {
    const existing = await trx.selectFrom('passport_keys').select('kid').limit(1).execute();
    if (existing.length > 0) return;
    const { kid, secret } = newKey(store.sealKey);
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
export async function bundlePassportKeys(
  db: Kysely<Database>,
  sealKey: SealKey,
): Promise<PassportKeyV1[]> {
  const rows = await db
    .selectFrom('passport_keys')
    .select(['kid', 'secret', 'status'])
    .where('status', 'in', ['active', 'previous'])
    .execute();
  rows.sort((a, b) =>
    a.status === b.status ? a.kid.localeCompare(b.kid) : a.status === 'active' ? -1 : 1,
  );
  return rows.map((r) => ({ kid: r.kid, alg: 'HS256', key: openSecret(sealKey, r.kid, r.secret) }));
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
    const { kid, secret } = newKey(store.sealKey);
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
