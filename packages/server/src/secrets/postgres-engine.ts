/**
 * Runs the SQL of dynamic PostgreSQL credentials (`@ward/secrets` postgres.ts) against the
 * database a `postgres` secret's admin connection names. One small pool per connection URL,
 * closed on shutdown. The password is sent as a SCRAM-SHA-256 verifier, never in clear: a
 * server logging DDL (`log_statement = ddl`) records the verifier, which does not log in.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  creationStatements,
  renderGrants,
  renewStatement,
  revocationStatements,
  SecretsError,
} from '@ward/secrets';
import pg from 'pg';
import { ServerError } from '../errors.ts';

const pbkdf2Async = promisify(pbkdf2);
const SCRAM_ITERATIONS = 4096;
/** PostgreSQL's `undefined_object`: the role is already gone. */
const UNDEFINED_OBJECT = '42704';

/** A SCRAM-SHA-256 verifier of `password`, as PostgreSQL stores it in `pg_authid.rolpassword`. */
export async function scramVerifier(password: string, salt = randomBytes(16)): Promise<string> {
  const salted = await pbkdf2Async(
    password.normalize('NFKC'),
    salt,
    SCRAM_ITERATIONS,
    32,
    'sha256',
  );
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** What a lease hands to the workload: `username`, `password`, `database`, `host`, `port`, `url`. */
export type PostgresCredential = Record<
  'username' | 'password' | 'database' | 'host' | 'port' | 'url',
  string
>;

function backendFailed(what: string, error: unknown): ServerError {
  // Only PostgreSQL's code and message: never the statement (it may hold the verifier) nor
  // the connection URL (it holds the admin password).
  const e = error as { code?: unknown; message?: unknown };
  const detail =
    typeof e?.code === 'string'
      ? `${e.code}: ${String(e.message ?? '')}`
      : 'the database did not answer';
  return new ServerError('LEASE_BACKEND_FAILED', `${what} failed (${detail})`);
}

/** Where the credential points: the admin URL's host, port, database and options. */
function credentialOf(connectionUrl: string, username: string, password: string) {
  let url: URL;
  try {
    url = new URL(connectionUrl);
  } catch {
    throw new ServerError('LEASE_BACKEND_FAILED', 'the connection secret field url is not a URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ServerError(
      'LEASE_BACKEND_FAILED',
      'the connection secret field url is not a postgres:// URL',
    );
  }
  const host = decodeURIComponent(url.hostname || 'localhost');
  const port = url.port || '5432';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || username;
  const out = new URL(url.href);
  out.username = encodeURIComponent(username);
  out.password = encodeURIComponent(password);
  return { username, password, database, host, port, url: out.href } satisfies PostgresCredential;
}

export interface PostgresEngineOptions {
  /** Connections per admin URL. Default 2. */
  poolSize?: number;
}

export class PostgresEngine {
  readonly #pools = new Map<string, pg.Pool>();
  readonly #poolSize: number;
  #closed = false;

  constructor(options: PostgresEngineOptions = {}) {
    this.#poolSize = options.poolSize ?? 2;
  }

  #pool(connectionUrl: string): pg.Pool {
    if (this.#closed) throw new ServerError('API_UNAVAILABLE', 'the lease engine is closed');
    let pool = this.#pools.get(connectionUrl);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: connectionUrl,
        max: this.#poolSize,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: 10_000,
      });
      // An idle connection dropped by the server is not a crash; the next query reconnects.
      pool.on('error', () => {});
      this.#pools.set(connectionUrl, pool);
    }
    return pool;
  }

  async #transaction(connectionUrl: string, what: string, statements: readonly string[]) {
    let client: pg.PoolClient;
    try {
      client = await this.#pool(connectionUrl).connect();
    } catch (error) {
      if (error instanceof ServerError) throw error;
      throw backendFailed(`${what}: connecting`, error);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      for (const s of statements) await client.query(s);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e;
      });
      throw error;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /**
   * Creates `role` with a fresh random password valid until `validUntil` and runs `grants`, all
   * in one transaction: a failing grant leaves no role behind.
   */
  async create(options: {
    connectionUrl: string;
    role: string;
    validUntil: number;
    grants: readonly string[];
  }): Promise<PostgresCredential> {
    const password = randomBytes(24).toString('base64url');
    const credential = credentialOf(options.connectionUrl, options.role, password);
    let statements: string[];
    try {
      statements = [
        ...creationStatements({
          role: options.role,
          password: await scramVerifier(password),
          validUntil: options.validUntil,
        }),
        ...renderGrants(options.grants, options.role),
      ];
    } catch (error) {
      if (error instanceof SecretsError) {
        throw new ServerError('LEASE_BACKEND_FAILED', `the secret's grants: ${error.message}`);
      }
      throw error;
    }
    try {
      await this.#transaction(options.connectionUrl, 'creating the role', statements);
    } catch (error) {
      if (error instanceof ServerError) throw error;
      throw backendFailed('creating the role', error);
    }
    return credential;
  }

  /** Moves the role's `VALID UNTIL`; false when the role no longer exists. */
  async renew(connectionUrl: string, role: string, validUntil: number): Promise<boolean> {
    try {
      await this.#pool(connectionUrl).query(renewStatement(role, validUntil));
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === UNDEFINED_OBJECT) return false;
      if (error instanceof ServerError) throw error;
      throw backendFailed('renewing the role', error);
    }
  }

  /**
   * Ends the role: no new login, its sessions terminated, what it owns reassigned and its
   * privileges dropped, the role dropped. Idempotent: false when it was already gone.
   */
  async revoke(connectionUrl: string, role: string): Promise<boolean> {
    try {
      const found = await this.#pool(connectionUrl).query(
        'SELECT 1 FROM pg_roles WHERE rolname = $1',
        [role],
      );
      if (found.rowCount === 0) return false;
      // NOLOGIN committed first, on its own: a login racing the revocation is refused before
      // the sessions are terminated, so none survives the drop (DROP ROLE ends no session).
      const [nologin, ...rest] = revocationStatements(role);
      await this.#pool(connectionUrl).query(nologin!);
      await this.#transaction(connectionUrl, 'dropping the role', rest);
      return true;
    } catch (error) {
      // Another replica dropped it between our look and our drop.
      if ((error as { code?: unknown }).code === UNDEFINED_OBJECT) return false;
      if (error instanceof ServerError) throw error;
      throw backendFailed('dropping the role', error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  }
}
