/**
 * Passport keys live in the store (every replica must put the same keys in its bundles), one set
 * per trust zone. In each zone one key is `active`; after a rotation the old one stays `previous`
 * (still distributed for verification, so passports minted just before the rotation keep
 * verifying) until the next rotation retires it — or at once with `retirePrevious`, after a leak.
 *
 * A zone's keys are HS256 (a shared secret: every holder can mint) or EdDSA (the `secret` column
 * holds the Ed25519 private seed, which only bundles of minting services carry; verifiers get the
 * public key). Bundles carry keys only to services that use them (`passportUse` in @ward/policy).
 *
 * Secrets are written in one place (`writeKey`) and read in one place (`readKeys`), so sealing
 * them at rest wraps exactly those two functions.
 */

import { randomBytes } from 'node:crypto';
import type { PassportKeyV1 } from '@ward/api-types';
import type { SealKey } from '@ward/ca';
import { generatePassportKeyMaterial, type PassportAlg } from '@ward/passport';
import { DEFAULT_PASSPORT_ZONE, type PassportUse } from '@ward/policy';
import type { Kysely, Transaction } from 'kysely';
import { isSealed, openText, sealText } from '../keys/seal-key.ts';
import { appendAudit } from './audit.ts';
import type { Database } from './schema.ts';
import type { Actor, Store } from './store.ts';

type Db = Kysely<Database> | Transaction<Database>;

interface KeyRow {
  kid: string;
  zone: string;
  alg: PassportAlg;
  /** HS256 secret or Ed25519 private seed, base64url. */
  secret: string;
  publicKey: string | null;
  status: string;
}

/** Associated data of a sealed secret: it opens only in the row of its own key id. */
export const passportSecretPurpose = (kid: string) => `ward:passport-key:${kid}`;

/** The `secret` column's form: AES-256-GCM under the seal key, bound to the key id. */
function sealSecret(sealKey: SealKey, kid: string, secret: string): string {
  return sealText(sealKey, secret, passportSecretPurpose(kid));
}

/** The secret from the `secret` column. */
function openSecret(sealKey: SealKey, kid: string, stored: string): string {
  return isSealed(stored)
    ? openText(sealKey, stored, passportSecretPurpose(kid), `passport key ${kid}`)
    : stored; // written before secrets were sealed; sealPlaintextSecrets seals it at start
}

/** The one place a key's secret is written: sealed under the seal key. */
async function writeKey(
  db: Db,
  sealKey: SealKey,
  row: KeyRow,
  createdRevision: number,
): Promise<void> {
  await db
    .insertInto('passport_keys')
    .values({
      kid: row.kid,
      zone: row.zone,
      alg: row.alg,
      secret: sealSecret(sealKey, row.kid, row.secret),
      public_key: row.publicKey,
      created_at: new Date().toISOString(),
      created_revision: createdRevision,
      status: row.status,
    })
    .execute();
}

/** The one place secrets are read: the active and previous keys of a zone, active first. */
async function readKeys(db: Db, sealKey: SealKey, zone: string): Promise<KeyRow[]> {
  const rows = await db
    .selectFrom('passport_keys')
    .select(['kid', 'zone', 'alg', 'secret', 'public_key', 'status'])
    .where('zone', '=', zone)
    .where('status', 'in', ['active', 'previous'])
    .execute();
  rows.sort((a, b) =>
    a.status === b.status ? a.kid.localeCompare(b.kid) : a.status === 'active' ? -1 : 1,
  );
  return rows.map((r) => ({
    kid: r.kid,
    zone: r.zone,
    alg: r.alg as PassportAlg,
    secret: openSecret(sealKey, r.kid, r.secret),
    publicKey: r.public_key,
    status: r.status,
  }));
}

function newKey(zone: string, alg: PassportAlg, status: string): KeyRow {
  const material = generatePassportKeyMaterial(alg);
  return {
    kid: `pk_${randomBytes(9).toString('base64url')}`,
    zone,
    alg,
    secret: material.privateKey ?? material.key,
    publicKey: material.privateKey === undefined ? null : material.key,
    status,
  };
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

/** Creates the first key of the default zone when there is none (first start). Race-safe. */
export async function ensurePassportKey(store: Store): Promise<void> {
  await store.transaction(async (trx) => {
    const existing = await trx
      .selectFrom('passport_keys')
      .select('kid')
      .where('zone', '=', DEFAULT_PASSPORT_ZONE)
      .limit(1)
      .execute();
    if (existing.length > 0) return;
    await writeKey(trx, store.sealKey, newKey(DEFAULT_PASSPORT_ZONE, 'HS256', 'active'), 0);
  }, true);
}

const VERIFY_DEFAULT: PassportUse = {
  zone: DEFAULT_PASSPORT_ZONE,
  mint: false,
  verify: true,
  maxLifetimeSec: 3600,
};

/**
 * The keys that go into one service's bundle: none unless it verifies or mints; else its zone's
 * active key first, then the previous one. An HS256 key is its secret (verifying needs it); an
 * EdDSA key is its public key, plus the private key of the active key for a minting service only.
 */
export async function bundlePassportKeys(
  db: Db,
  sealKey: SealKey,
  use: PassportUse = VERIFY_DEFAULT,
): Promise<PassportKeyV1[]> {
  if (!use.verify && !use.mint) return [];
  return (await readKeys(db, sealKey, use.zone)).map((r) => {
    if (r.alg === 'HS256') return { kid: r.kid, alg: 'HS256', key: r.secret, zone: r.zone };
    return {
      kid: r.kid,
      alg: 'EdDSA',
      key: r.publicKey ?? '',
      ...(use.mint && r.status === 'active' ? { privateKey: r.secret } : {}),
      zone: r.zone,
    };
  });
}

export interface PassportKeyInfo {
  kid: string;
  zone: string;
  alg: string;
  status: string;
  /** EdDSA: the public key (not secret), for `ward passport verify` outside a service. */
  publicKey?: string;
  createdAt: string;
  createdRevision: number;
}

/** Key ids, zones, algorithms, states and Ed25519 public keys; never a secret. */
export async function listPassportKeys(
  db: Kysely<Database>,
  zone?: string,
): Promise<PassportKeyInfo[]> {
  let q = db
    .selectFrom('passport_keys')
    .select(['kid', 'zone', 'alg', 'status', 'public_key', 'created_at', 'created_revision']);
  if (zone !== undefined) q = q.where('zone', '=', zone);
  const rows = await q.orderBy('created_at', 'desc').orderBy('kid').execute();
  return rows.map((r) => ({
    kid: r.kid,
    zone: r.zone,
    alg: r.alg,
    status: r.status,
    ...(r.public_key !== null ? { publicKey: r.public_key } : {}),
    createdAt: r.created_at,
    createdRevision: Number(r.created_revision),
  }));
}

export interface RotateOptions {
  /** Zone to rotate (created by its first rotation). Default `default`. */
  zone?: string;
  /** Algorithm of the new key. Default: the zone's current one, else HS256. */
  alg?: PassportAlg;
}

/**
 * Rotates one zone: new active key, its old active becomes previous, older ones retire. Other
 * zones' keys are untouched. Every bundle is rebuilt (`*`).
 */
export async function rotatePassportKeys(
  store: Store,
  actor: Actor,
  retirePrevious: boolean,
  options: RotateOptions = {},
): Promise<{ kid: string; zone: string; alg: PassportAlg; revision: number }> {
  const zone = options.zone ?? DEFAULT_PASSPORT_ZONE;
  return store.transaction(async (trx) => {
    const revision = await store.bumpRevision(trx, true);
    const active = await trx
      .selectFrom('passport_keys')
      .select('alg')
      .where('zone', '=', zone)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const alg = options.alg ?? (active?.alg as PassportAlg | undefined) ?? 'HS256';
    await trx
      .updateTable('passport_keys')
      .set({ status: 'retired' })
      .where('zone', '=', zone)
      .where('status', '=', 'previous')
      .execute();
    await trx
      .updateTable('passport_keys')
      .set({ status: retirePrevious ? 'retired' : 'previous' })
      .where('zone', '=', zone)
      .where('status', '=', 'active')
      .execute();
    const key = newKey(zone, alg, 'active');
    await writeKey(trx, store.sealKey, key, revision);
    const at = new Date().toISOString();
    await store.recordRevision(trx, revision, at, actor, 'rotate-passport-keys', ['*']);
    await appendAudit(
      trx,
      actor,
      'passport-keys.rotate',
      key.kid,
      { zone, alg, retirePrevious },
      revision,
    );
    return { kid: key.kid, zone, alg, revision };
  }, true);
}
