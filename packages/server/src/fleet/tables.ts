/**
 * The fleet plugin's table: the latest status report of each PDP and node agent. One row per
 * reporting instance, overwritten by each report, so the table grows with the fleet and never
 * with time; rows older than the expiry are deleted on the way. Shared by every replica (the
 * report may land on any of them, the read on another).
 *
 * Times are epoch milliseconds in `bigint` columns (`pg` returns those as strings: read through
 * `Number`).
 */
import type { Kysely, Migration } from 'kysely';

export interface FleetMembersTable {
  /** `pdp` or `agent`. */
  kind: string;
  /** The PDP's random instance id; an agent's SPIFFE ID. */
  instance: string;
  /** The PDP's service; '' for an agent. */
  service: string;
  /** The agent's node; '' for a PDP. */
  node: string;
  /** The PDP's bundle revision; for an agent, the lowest revision it holds (0: none). */
  revision: number | string;
  version: string;
  /** 1 when the PDP's watch stream is open (an agent reporting is connected). */
  connected: number;
  /** Last report, epoch ms (the last contact). */
  reported_at: number | string;
  /** JSON of the rest of the screened report (decisions, label, workloads, revisions…). */
  body: string;
}

export interface FleetDatabase {
  fleet_members: FleetMembersTable;
}

/** Migrations of the fleet plugin (names prefixed `fleet_`). */
export function fleetMigrations(): Record<string, Migration> {
  return {
    fleet_0001_members: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('fleet_members')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('instance', 'text', (c) => c.notNull())
          .addColumn('service', 'text', (c) => c.notNull())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('revision', 'bigint', (c) => c.notNull())
          .addColumn('version', 'text', (c) => c.notNull())
          .addColumn('connected', 'integer', (c) => c.notNull())
          .addColumn('reported_at', 'bigint', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('fleet_members_pk', ['kind', 'instance'])
          .execute();
        await db.schema
          .createIndex('fleet_members_service')
          .on('fleet_members')
          .columns(['service', 'reported_at'])
          .execute();
        await db.schema
          .createIndex('fleet_members_node')
          .on('fleet_members')
          .columns(['node', 'reported_at'])
          .execute();
      },
    },
  };
}
