/**
 * The CA's tables. Times are epoch milliseconds in `bigint` columns (PostgreSQL `integer` is
 * 32-bit; `pg` returns `bigint` as a string, so reads go through `Number`).
 */
import type { Kysely, Migration } from 'kysely';

export interface CaAuthorityTable {
  /**
   * One CA per trust domain: a server restarted with another `--trust-domain` gets (or creates)
   * that domain's CA instead of failing on the other one.
   */
  trust_domain: string;
  /** Bumped by every save; saves compare-and-set on it so replicas never overwrite each other. */
  version: number;
  /** JSON `AuthorityStateV1`: certificates in PEM, private keys sealed (AES-256-GCM). */
  state: string;
}

export interface CaJoinTokensTable {
  /** Hex SHA-256 of the token; the token itself is never stored. */
  hash: string;
  node: string;
  created_at: number | string;
  expires_at: number | string;
}

export interface CaEntriesTable {
  id: string;
  node: string;
  spiffe_id: string;
  /** JSON `RegistrationEntry`. */
  body: string;
  created_at: number | string;
}

export interface CaAgentsTable {
  spiffe_id: string;
  node: string;
  attested_by: string;
  serial: string;
  expires_at: number | string;
  last_seen: number | string;
}

export interface CaDatabase {
  ca_authority: CaAuthorityTable;
  ca_join_tokens: CaJoinTokensTable;
  ca_entries: CaEntriesTable;
  ca_agents: CaAgentsTable;
}

/** Migrations of the CA plugin (names prefixed `ca_`). */
export function caMigrations(): Record<string, Migration> {
  return {
    ca_0001_tables: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('ca_authority')
          .addColumn('trust_domain', 'text', (c) => c.primaryKey())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ca_join_tokens')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ca_entries')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('spiffe_id', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('ca_entries_node').on('ca_entries').columns(['node']).execute();
        await db.schema
          .createTable('ca_agents')
          .addColumn('spiffe_id', 'text', (c) => c.primaryKey())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('attested_by', 'text', (c) => c.notNull())
          .addColumn('serial', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  };
}
