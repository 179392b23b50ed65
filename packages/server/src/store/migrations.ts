/**
 * One set of migrations for both dialects. Kysely's schema builder emits each dialect's DDL; the
 * only dialect-specific parts are the auto-increment key of the audit log and the triggers that
 * make it append-only at the database level (so not even a bug in our code can rewrite history).
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { entryHash, GENESIS_HASH } from '../audit/chain.ts';
import { ServerError } from '../errors.ts';
import type { Dialect } from './database.ts';

/** The core migrations (exported so tests can stop at an older schema). */
export function core(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('ward_state')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('keys_revision', 'integer', (c) => c.notNull())
          .addColumn('bootstrapped', 'integer', (c) => c.notNull())
          .execute();
        await sql`INSERT INTO ward_state (id, revision, keys_revision, bootstrapped) VALUES (1, 0, 0, 0)`.execute(
          db,
        );
        await db.schema
          .createTable('documents')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('destination', 'text')
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_revision', 'integer', (c) => c.notNull())
          .addColumn('updated_revision', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('documents_pk', ['kind', 'name'])
          .execute();
        await db.schema
          .createIndex('documents_destination')
          .on('documents')
          .columns(['destination'])
          .execute();
        await db.schema
          .createTable('revisions')
          .addColumn('revision', 'integer', (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text', (c) => c.notNull())
          .addColumn('actor_name', 'text', (c) => c.notNull())
          .addColumn('operation', 'text', (c) => c.notNull())
          .addColumn('services', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('changes')
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('before', 'text')
          .addColumn('after', 'text')
          .addColumn('file', 'text')
          .addPrimaryKeyConstraint('changes_pk', ['revision', 'seq'])
          .execute();
        await db.schema
          .createTable('service_revisions')
          .addColumn('service', 'text', (c) => c.primaryKey())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('services', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) =>
            dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
          )
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text', (c) => c.notNull())
          .addColumn('actor_name', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer')
          .addColumn('detail', 'text', (c) => c.notNull())
          .execute();
        if (dialect === 'postgres') {
          await sql`CREATE FUNCTION ward_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`.execute(db);
          await sql`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION ward_audit_append_only()`.execute(db);
        } else {
          await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
          await sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
        }
        await db.schema
          .createTable('passport_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_revision', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .execute();
      },
    },
    // Passport keys per trust zone, HMAC or Ed25519 (docs/passport.md, key distribution).
    '0002_passport_zones': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('passport_keys')
          .addColumn('zone', 'text', (c) => c.notNull().defaultTo('default'))
          .execute();
        await db.schema
          .alterTable('passport_keys')
          .addColumn('alg', 'text', (c) => c.notNull().defaultTo('HS256'))
          .execute();
        await db.schema.alterTable('passport_keys').addColumn('public_key', 'text').execute();
        await db.schema
          .createIndex('passport_keys_zone')
          .on('passport_keys')
          .columns(['zone', 'status'])
          .execute();
      },
    },
    // Hash-chains the audit log (src/audit/chain.ts). Entries that exist already are chained
    // here, in id order: the chain vouches for them only from this migration on.
    // Kysely runs SQLite migrations outside a transaction; this one gets its own, so a crash
    // mid-backfill cannot leave the triggers lifted.
    '0003_audit_chain': {
      up: (db) =>
        dialect === 'sqlite'
          ? db
              .transaction()
              .execute((trx) => chainAuditLog(trx as unknown as Kysely<unknown>, dialect))
          : chainAuditLog(db, dialect),
    },
    // Namespaces (docs/namespaces.md): a team token may own whole namespaces (existing tokens
    // own none), and the marker of the one-off rewrite of stored documents that gave
    // `metadata.namespace` its new meaning (store/migrate-namespaces.ts runs it at start, where
    // the trust domain is known).
    '0004_namespaces': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('tokens')
          .addColumn('namespaces', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
        await db.schema
          .alterTable('ward_state')
          .addColumn('namespaces_migrated', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    // Secrets (docs/api.md, secrets): each revision names the secrets it changed, so every
    // replica's follower pushes them to its agents (a value write changes no bundle).
    '0005_revision_secrets': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('revisions')
          .addColumn('secrets', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
      },
    },
  };
}

async function chainAuditLog(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  for (const col of ['seq', 'prev_hash', 'hash'] as const) {
    await db.schema
      .alterTable('audit_log')
      .addColumn(col, col === 'seq' ? 'integer' : 'text')
      .execute();
  }
  await db.schema
    .alterTable('ward_state')
    .addColumn('audit_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('ward_state')
    .addColumn('audit_head', 'text', (c) => c.notNull().defaultTo(GENESIS_HASH))
    .execute();
  await db.schema.createIndex('audit_log_seq').on('audit_log').column('seq').unique().execute();
  // The append-only triggers are lifted for the backfill only (inside the migration's
  // transaction on PostgreSQL, so no other writer ever sees them lifted).
  if (dialect === 'postgres') {
    await sql`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`.execute(db);
  } else {
    await sql`DROP TRIGGER audit_log_no_update`.execute(db);
  }
  const rows = (
    await sql<{
      id: number;
      at: string;
      actor_id: string;
      actor_name: string;
      action: string;
      target: string;
      revision: number | null;
      detail: string;
    }>`SELECT id, at, actor_id, actor_name, action, target, revision, detail
       FROM audit_log ORDER BY id`.execute(db)
  ).rows;
  let prevHash = GENESIS_HASH;
  let seq = 0;
  for (const r of rows) {
    seq++;
    const hash = entryHash({
      seq,
      prevHash,
      at: r.at,
      actorId: r.actor_id,
      actorName: r.actor_name,
      action: r.action,
      target: r.target,
      revision: r.revision === null ? null : Number(r.revision),
      detail: r.detail,
    });
    await sql`UPDATE audit_log SET seq = ${seq}, prev_hash = ${prevHash}, hash = ${hash}
              WHERE id = ${r.id}`.execute(db);
    prevHash = hash;
  }
  await sql`UPDATE ward_state SET audit_seq = ${seq}, audit_head = ${prevHash} WHERE id = 1`.execute(
    db,
  );
  if (dialect === 'postgres') {
    await sql`ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only`.execute(db);
  } else {
    await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
      BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
  }
}

/**
 * Brings the schema up to date. `extra` are migrations contributed by plugins (CA, ingest, …);
 * their names must be unique (prefix them with the plugin name). Kysely takes a lock while
 * migrating, so replicas starting together migrate once.
 */
export async function migrate(
  db: Kysely<unknown>,
  dialect: Dialect,
  extra: Record<string, Migration> = {},
): Promise<void> {
  const all = { ...core(dialect), ...extra };
  const provider: MigrationProvider = { getMigrations: async () => all };
  // On PostgreSQL, name the schema explicitly: Kysely otherwise looks for its bookkeeping tables
  // in every schema and can find another deployment's (or test run's) in a shared database.
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0]
          ?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider,
    allowUnorderedMigrations: true,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new ServerError(
      'STORE_MIGRATION_FAILED',
      `migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
