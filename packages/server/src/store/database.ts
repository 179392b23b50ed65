/**
 * Opens the store: SQLite through node:sqlite for a file path (the embedded default), or
 * PostgreSQL through `pg` for a `postgres://` / `postgresql://` URL.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
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
  /** SQLite files that others can read and whose mode could not be tightened. */
  warnings: string[];
  close(): Promise<void>;
}

/** True when `database` names a PostgreSQL server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/**
 * How long PostgreSQL lets one of our sessions sit idle inside a transaction before it ends the
 * session. Ward's transactions send their statements back to back, so an idle one means its
 * replica froze (SIGSTOP, a stalled VM) or lost its network mid-write — while it holds the lock
 * on the state row that every write takes. Without this, one frozen replica stalls every
 * replica's writes until it resumes; with it, PostgreSQL rolls the frozen write back (it was
 * never acknowledged) and the others go on.
 */
export const IDLE_IN_TRANSACTION_MS = 5000;

/** How long a store query may take before it fails (PostgreSQL; SQLite queries are local). */
export interface OpenDatabaseOptions {
  /** `statement_timeout` in ms; the client gives up one second later. None when absent. */
  queryTimeoutMs?: number;
}

/** Message of node-postgres's client-side query deadline (`query_timeout`). */
const CLIENT_DEADLINE = 'Query read timeout';

/**
 * A pg client that drops its connection when a query outlives the client-side deadline. The
 * server never answered (frozen, or a path that drops packets): the connection is unusable, and
 * handed back to the pool it would make the next request wait out the deadline again.
 */
class DeadlineClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query overloads; the result passes through.
  override query(...args: any[]): any {
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const result = (super.query as any)(...args);
    if (result && typeof result.catch === 'function') {
      result.catch((error: unknown) => {
        if ((error as Error)?.message === CLIENT_DEADLINE) {
          (
            this as unknown as { connection: { stream: { destroy(): void } } }
          ).connection.stream.destroy();
        }
      });
    }
    return result;
  }
}

const TCP_USER_TIMEOUT = `-c tcp_user_timeout=${IDLE_IN_TRANSACTION_MS}`;

/**
 * The URL with `setting` added to its own `options` parameter, when it has one (often
 * `-c search_path=…`): pg lets the URL's `options` replace the pool's, which would drop the
 * setting silently. Without one (or unparsable here), the pool's `options` applies.
 */
function withOptions(database: string, setting: string): string {
  let url: URL;
  try {
    url = new URL(database);
  } catch {
    return database;
  }
  const own = url.searchParams.get('options');
  if (!own) return database;
  url.searchParams.set('options', `${own} ${setting}`);
  return url.href;
}

/** Opens (and for SQLite, creates) the store named by `database`. */
export async function openDatabase(
  database: string,
  options: OpenDatabaseOptions = {},
): Promise<OpenedDatabase> {
  if (isPostgresUrl(database)) {
    let pool: pg.Pool;
    const timeout = options.queryTimeoutMs;
    try {
      // A store that stops answering (partition, frozen server) fails connects in seconds (503)
      // rather than holding requests until the client gives up. With a query timeout, a query
      // that waits (a lock held elsewhere) is cancelled by PostgreSQL itself; one whose server
      // went silent is abandoned by the client a second later, and its connection dropped.
      pool = new pg.Pool({
        connectionString: withOptions(database, TCP_USER_TIMEOUT),
        max: 10,
        connectionTimeoutMillis: 5000,
        keepAlive: true,
        idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
        // The idle limit does not cover a session that is sending us a result when our replica
        // goes silent (partitioned, or frozen with its receive buffer full): PostgreSQL cannot
        // cancel a statement blocked writing to its client, so it would hold the state-row
        // lock until TCP gives up, minutes later. With a TCP user timeout, the server's kernel
        // drops the connection once sent data stays unacknowledged this long, and the
        // transaction rolls back.
        options: TCP_USER_TIMEOUT,
        ...(timeout === undefined
          ? {}
          : { Client: DeadlineClient, statement_timeout: timeout, query_timeout: timeout + 1000 }),
      });
    } catch (cause) {
      throw new ServerError('STORE_BAD_URL', `cannot parse the database URL: ${String(cause)}`, {
        cause,
      });
    }
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    // A client checked out when its connection drops emits 'error' besides failing its query;
    // unheard, that would crash the replica. The query's own error answers the request (503).
    pool.on('connect', (client) => client.on('error', () => {}));
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
    return { db, dialect: 'postgres', url: database, warnings: [], close: () => db.destroy() };
  }
  const warnings: string[] = [];
  if (database !== ':memory:') {
    mkdirSync(dirname(database), { recursive: true, mode: 0o700 });
    warnings.push(...ownerOnlySqliteFiles(database));
  }
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
  return { db, dialect: 'sqlite', warnings, close: () => db.destroy() };
}

/**
 * Makes the SQLite files owner-only (0600): the database holds token hashes, documents and the
 * sealed passport keys. SQLite gives its -wal, -shm and journal files the database file's mode,
 * so creating the database file first with 0600 covers them; files left by older versions with
 * a wider mode are tightened. Returns a warning for each file that stays readable by others.
 */
function ownerOnlySqliteFiles(database: string): string[] {
  try {
    closeSync(openSync(database, 'a', 0o600)); // creates it 0600 if missing, changes nothing else
  } catch {
    return []; // not creatable here: openSqlite reports it with the real cause
  }
  const warnings: string[] = [];
  for (const file of [database, `${database}-wal`, `${database}-shm`, `${database}-journal`]) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue; // not there (yet): SQLite creates it with the database file's mode
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(file, 0o600);
    } catch {
      warnings.push(
        `${file} has mode ${mode.toString(8)}; it should be 600 (readable by its owner only)`,
      );
    }
  }
  return warnings;
}
