/**
 * The table of dynamic-credential leases. Times are epoch milliseconds in `bigint` columns
 * (`pg` returns them as strings: read through `Number`). The credential itself is never stored:
 * only the role name, which is what revocation needs.
 */
import type { Kysely, Migration } from 'kysely';

export interface SecretLeasesTable {
  id: string;
  /** The `postgres` secret's key. */
  secret: string;
  /** The service the lease was taken for. */
  service: string;
  /** The node whose agent took it. */
  node: string;
  /** The SPIFFE ID of that agent: only it renews or gives back the lease. */
  agent_id: string;
  /** The PostgreSQL role created for it. */
  role: string;
  /** The key of the static secret whose field `url` is the admin connection (not the URL). */
  connection: string;
  /** How far a renewal moves `expires_at` (the secret's ttl when the lease was taken). */
  ttl_ms: number | string;
  created_at: number | string;
  expires_at: number | string;
  max_expires_at: number | string;
  revoked_at: number | string | null;
  revoke_reason: string | null;
}

export interface LeaseDatabase {
  secret_leases: SecretLeasesTable;
}

/** The lease migration (name prefixed `secrets_`, after `secrets_0001_tables`). */
export function leaseMigrations(): Record<string, Migration> {
  return {
    secrets_0002_leases: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('secret_leases')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('connection', 'text', (c) => c.notNull())
          .addColumn('ttl_ms', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('max_expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .addColumn('revoke_reason', 'text')
          .execute();
        await db.schema
          .createIndex('secret_leases_secret')
          .on('secret_leases')
          .columns(['secret', 'created_at'])
          .execute();
        await db.schema
          .createIndex('secret_leases_agent')
          .on('secret_leases')
          .columns(['agent_id'])
          .execute();
        await db.schema
          .createIndex('secret_leases_expiry')
          .on('secret_leases')
          .columns(['revoked_at', 'expires_at'])
          .execute();
      },
    },
  };
}
