/**
 * The secrets plugin's tables. `secret_versions` holds one row per version: the sealed value
 * (`@ward/secrets` SealedValueV1 as JSON; '' once destroyed), the KEK that wraps its data key,
 * and its timing (epoch ms). `secret_revisions` is the store revision of each secret's last value
 * write, so an agent event says which state of the secret it carries (as `service_revisions` does
 * for bundles).
 */
import type { Kysely, Migration } from 'kysely';
import type { Database } from '../store/schema.ts';

export interface SecretVersionsTable {
  secret: string;
  version: number;
  /** JSON of SealedValueV1; '' when destroyed. */
  sealed: string;
  kek_id: string;
  created_at: number | string;
  created_by: string;
  not_before: number | string;
  not_after: number | string | null;
  /** `put`, `rotate` or `rollback`. */
  source: string;
  /** 1 once the value is gone (retention, delete); the row keeps its metadata. */
  destroyed: number;
}

export interface SecretRevisionsTable {
  secret: string;
  revision: number;
}

export interface SecretsDatabase extends Database {
  secret_versions: SecretVersionsTable;
  secret_revisions: SecretRevisionsTable;
}

/** Migrations of the secrets plugin (prefixed `secrets_`). */
export function secretsMigrations(): Record<string, Migration> {
  return {
    secrets_0001_tables: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('secret_versions')
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('sealed', 'text', (c) => c.notNull())
          .addColumn('kek_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('not_before', 'bigint', (c) => c.notNull())
          .addColumn('not_after', 'bigint')
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destroyed', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('secret_versions_pk', ['secret', 'version'])
          .execute();
        await db.schema
          .createIndex('secret_versions_kek')
          .on('secret_versions')
          .columns(['kek_id'])
          .execute();
        await db.schema
          .createTable('secret_revisions')
          .addColumn('secret', 'text', (c) => c.primaryKey())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .execute();
      },
    },
  };
}
