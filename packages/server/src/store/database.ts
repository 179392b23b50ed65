/**
 * Opens the store: SQLite through node:sqlite for a file path (the embedded default), or
 * PostgreSQL through `pg` for a `postgres://` / `postgresql://` URL.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { ServerError } from '../errors.ts';
import type { Database } from './schema.ts';
import { kyselySqliteDatabase, openSqlite } from './sqlite-adapter.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  /** For PostgreSQL: the URL, so the revision follower can open its own LISTEN connection. */
  url?: string;
  close(): Promise<void>;
}

/** True when `database` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/** Opens (and for SQLite, creates) the store named by `database`. */
export async function openDatabase(database: string): Promise<OpenedDatabase> {
  if (isPostgresUrl(database)) {
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({ connectionString: database, max: 10 });
    } catch (cause) {
      throw new ServerError('STORE_BAD_URL', `cannot parse the database URL: ${String(cause)}`, {
        cause,
      });
    }
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      client.release();
    } catch (cause) {
      await pool.end().catch(() => {});
      throw new ServerError(
        'STORE_UNREACHABLE',
        `cannot reach PostgreSQL: ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      );
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', url: database, close: () => db.destroy() };
  }
  if (database !== ':memory:') mkdirSync(dirname(database), { recursive: true, mode: 0o700 });
  let raw: ReturnType<typeof openSqlite>;
  try {
    raw = openSqlite(database);
  } catch (cause) {
    throw new ServerError(
      'STORE_UNREACHABLE',
      `cannot open SQLite database ${database}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: kyselySqliteDatabase(raw) }),
  });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}
