/**
 * Seal-key rotation (`ward server reseal`): re-encrypts everything the control plane keeps
 * sealed — the bundle-signing key file, the passport secrets and every CA state in the store —
 * from the current seal key to a new one. The keys themselves do not change (PDPs keep their
 * bundle public key, passports keep verifying, SVIDs keep chaining). Idempotent: every value is
 * opened with the new key first and the old one second, so an interrupted run is finished by
 * running it again. Run it with every replica stopped.
 */
import { readFileSync } from 'node:fs';
import { openEither, resealAuthority, type SealKey } from '@ward/ca';
import type { Kysely } from 'kysely';
import { SIGNING_KEY_PURPOSE } from '../bundles/signing-key.ts';
import type { CaDatabase } from '../ca/tables.ts';
import { ServerError } from '../errors.ts';
import { openDatabase } from '../store/database.ts';
import { passportSecretPurpose } from '../store/passport-keys.ts';
import { isSealed, replaceFileAtomic, sealText } from './seal-key.ts';

export interface ResealOptions {
  /** SQLite path or postgres:// URL, as for `startServer`. */
  database: string;
  signingKeyFile: string;
  from: SealKey;
  to: SealKey;
}

export interface ResealResult {
  passportKeys: number;
  authorities: number;
}

function opened(from: SealKey, to: SealKey, stored: string, purpose: string, what: string): string {
  if (!isSealed(stored)) return stored; // plaintext from an older version: sealed now as well
  try {
    return openEither(from, to, stored, purpose).toString('utf8');
  } catch (cause) {
    throw new ServerError(
      'SERVER_UNSEAL_FAILED',
      `cannot decrypt ${what} with the current or the new seal key`,
      { cause },
    );
  }
}

/** Reseals the store first, then the signing key file (each step can be repeated). */
export async function resealAtRest(options: ResealOptions): Promise<ResealResult> {
  const { from, to } = options;
  const db = await openDatabase(options.database);
  let result: ResealResult;
  try {
    result = await db.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('passport_keys').select(['kid', 'secret']).execute();
      for (const row of rows) {
        const purpose = passportSecretPurpose(row.kid);
        const secret = opened(from, to, row.secret, purpose, `passport key ${row.kid}`);
        await trx
          .updateTable('passport_keys')
          .set({ secret: sealText(to, secret, purpose) })
          .where('kid', '=', row.kid)
          .execute();
      }
      const ca = trx as unknown as Kysely<CaDatabase>;
      const states = await ca
        .selectFrom('ca_authority')
        .selectAll()
        .execute()
        .catch(() => []); // the CA plugin never ran against this store: nothing to reseal
      for (const row of states) {
        const state = resealAuthority(JSON.parse(row.state), from, to);
        await ca
          .updateTable('ca_authority')
          .set({ state: JSON.stringify(state), version: Number(row.version) + 1 })
          .where('trust_domain', '=', row.trust_domain)
          .execute();
      }
      return { passportKeys: rows.length, authorities: states.length };
    });
  } finally {
    await db.close();
  }
  const file = options.signingKeyFile;
  const stored = readFileSync(file, 'utf8').trim();
  const pem = opened(from, to, stored, SIGNING_KEY_PURPOSE, `the bundle-signing key ${file}`);
  replaceFileAtomic(file, `${sealText(to, pem, SIGNING_KEY_PURPOSE)}\n`);
  return result;
}
