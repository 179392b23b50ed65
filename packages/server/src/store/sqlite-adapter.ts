/**
 * Runs Kysely's built-in SQLite dialect on `node:sqlite`.
 *
 * Kysely ships no `node:sqlite` dialect. Its `SqliteDialect` only needs a better-sqlite3-shaped
 * object (`prepare` → `{ reader, all, run, iterate }`), so rather than adding a third-party dialect
 * (the registry's candidates target bun, wasm or workers, or wrap a generic executor we would
 * still have to write), this ~40-line adapter maps node:sqlite's `DatabaseSync` onto that shape
 * and keeps Kysely's own, well-tested SQLite query compiler, driver and connection mutex.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Opens a SQLite file tuned for a small server: WAL journal, a busy timeout, foreign keys. */
export function openSqlite(path: string, busyTimeoutMs = 5000): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  // WAL lets readers proceed while one writer commits; NORMAL sync is durable across process
  // crashes in WAL mode (only an OS crash can lose the last commits).
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  return db;
}

/** Wraps a `DatabaseSync` in the interface Kysely's `SqliteDialect` expects. */
export function kyselySqliteDatabase(db: DatabaseSync): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      if (db.isOpen) db.close();
    },
    prepare(sql: string): SqliteStatement {
      let wrapped = cache.get(sql);
      if (wrapped) return wrapped;
      const stmt: StatementSync = db.prepare(sql);
      // StatementSync has no `reader` flag: a statement returns rows iff it has result columns
      // (this also covers `INSERT … RETURNING`).
      const reader = stmt.columns().length > 0;
      const args = (parameters: ReadonlyArray<unknown>) => parameters as SQLInputValue[];
      wrapped = {
        reader,
        all: (parameters) => stmt.all(...args(parameters)),
        run: (parameters) => {
          const r = stmt.run(...args(parameters));
          return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
        },
        iterate: (parameters) => stmt.iterate(...args(parameters)) as IterableIterator<unknown>,
      };
      // Prepared statements are reused: the query shapes are few and fixed.
      if (cache.size < 500) cache.set(sql, wrapped);
      return wrapped;
    },
  };
}
