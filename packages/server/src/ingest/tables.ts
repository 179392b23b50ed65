/**
 * The ingest plugin's own tables, created by its `ingest_*` migrations. Every table grows with
 * the number of edges (and hours of retention), never with traffic: decisions and spans are
 * aggregated into hourly buckets per edge, and the one raw table (denials) is capped by time and
 * rows.
 *
 * Times are epoch milliseconds in `bigint` columns (PostgreSQL `integer` is 32-bit); `pg` returns
 * those as strings, so readers convert with `Number()`.
 */
import type { Kysely, Migration } from 'kysely';

/** One hour of decisions on one (source, destination, effect, enforced, rule). */
export interface DecisionEdgesTable {
  /** Epoch hour (`floor(ms / 3,600,000)`) of the decisions counted in this row. */
  hour: number;
  source: string;
  destination: string;
  effect: string;
  /** 1 when the decision was applied, 0 when a dry-run rule only reported it. */
  enforced: number;
  rule: string;
  count: number | string;
  /** Records seen only in shippers' `droppedSample` (not counted in `count`). */
  sampled: number | string;
  first_seen: number | string;
  last_seen: number | string;
  /** The last method and path template seen: a sample for the reader, not a key. */
  method: string;
  path: string;
  /** Highest policy revision seen. */
  revision: number;
}

/**
 * Raw denials (effect deny, enforced or not), kept for a bounded window for investigation. No
 * surrogate key: rows are read and pruned by time, which keeps the DDL identical on both
 * dialects.
 */
export interface DenialsTable {
  time: number | string;
  source: string;
  destination: string;
  method: string;
  path: string;
  rule: string;
  enforced: number;
  revision: number;
  subject: string | null;
  kid: string | null;
  /** Identical denials a shipper folded into one record (`time` is then the last of them). */
  count: number | string;
}

/** What each shipper (token) sent per hour, and what it reported as dropped. */
export interface DecisionShippersTable {
  hour: number;
  token_id: string;
  token_name: string;
  batches: number | string;
  records: number | string;
  dropped: number | string;
  /** Denials not kept raw because a flush exceeded its raw-row budget (still counted). */
  denials_skipped: number | string;
}

/** One hour of observed calls on one edge, from OTLP traces. */
export interface TraceEdgesTable {
  hour: number;
  source: string;
  destination: string;
  /** Node type of the destination (`service`, `database`, `messaging`, `external`, `resource`). */
  dest_type: string;
  calls: number | string;
  errors: number | string;
  /** LatencySketchJSON of the calling spans' durations (ms), merged on every flush. */
  sketch: string;
  first_seen: number | string;
  last_seen: number | string;
}

/**
 * One hour of wire observations on one (source, destination, port): what node agents saw in the
 * node's TCP tables (`POST /v1/ingest/connections`). `node` is the last agent that reported it.
 */
export interface WireEdgesTable {
  hour: number;
  /** SPIFFE ID of the calling workload. */
  source: string;
  /** SPIFFE ID of a workload, or a service name from the agent's address map. */
  destination: string;
  port: number;
  samples: number | string;
  connections: number | string;
  first_seen: number | string;
  last_seen: number | string;
  node: string;
}

/** What each node's agent could not resolve, per hour (counts, never edges). */
export interface WireNodesTable {
  hour: number;
  node: string;
  batches: number | string;
  edges: number | string;
  /** Distinct edges the agent dropped at its cap. */
  dropped: number | string;
  unknown_remote: number | string;
  unattested: number | string;
  no_process: number | string;
}

/** Tables of the ingest plugin, for `Kysely<IngestDatabase>`. */
export interface IngestDatabase {
  ingest_decision_edges: DecisionEdgesTable;
  ingest_denials: DenialsTable;
  ingest_decision_shippers: DecisionShippersTable;
  ingest_trace_edges: TraceEdgesTable;
  ingest_wire_edges: WireEdgesTable;
  ingest_wire_nodes: WireNodesTable;
}

/** The plugin's migrations; names start with `ingest_` so they never collide with core ones. */
export function ingestMigrations(): Record<string, Migration> {
  return {
    ingest_0001_decisions: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('ingest_decision_edges')
          .addColumn('hour', 'integer', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('effect', 'text', (c) => c.notNull())
          .addColumn('enforced', 'integer', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addColumn('sampled', 'bigint', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('ingest_decision_edges_pk', [
            'source',
            'destination',
            'effect',
            'enforced',
            'rule',
            'hour',
          ])
          .execute();
        // Windows select buckets by hour; the dry-run report narrows by destination.
        await db.schema
          .createIndex('ingest_decision_edges_hour')
          .on('ingest_decision_edges')
          .columns(['hour'])
          .execute();
        await db.schema
          .createIndex('ingest_decision_edges_dest')
          .on('ingest_decision_edges')
          .columns(['destination', 'effect', 'enforced', 'last_seen'])
          .execute();
        await db.schema
          .createTable('ingest_denials')
          .addColumn('time', 'bigint', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('enforced', 'integer', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('subject', 'text')
          .addColumn('kid', 'text')
          .addColumn('count', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('ingest_denials_time')
          .on('ingest_denials')
          .columns(['time'])
          .execute();
        await db.schema
          .createTable('ingest_decision_shippers')
          .addColumn('hour', 'integer', (c) => c.notNull())
          .addColumn('token_id', 'text', (c) => c.notNull())
          .addColumn('token_name', 'text', (c) => c.notNull())
          .addColumn('batches', 'bigint', (c) => c.notNull())
          .addColumn('records', 'bigint', (c) => c.notNull())
          .addColumn('dropped', 'bigint', (c) => c.notNull())
          .addColumn('denials_skipped', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ingest_decision_shippers_pk', ['token_id', 'hour'])
          .execute();
      },
    },
    ingest_0002_traces: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('ingest_trace_edges')
          .addColumn('hour', 'integer', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('dest_type', 'text', (c) => c.notNull())
          .addColumn('calls', 'bigint', (c) => c.notNull())
          .addColumn('errors', 'bigint', (c) => c.notNull())
          .addColumn('sketch', 'text', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ingest_trace_edges_pk', ['source', 'destination', 'hour'])
          .execute();
        await db.schema
          .createIndex('ingest_trace_edges_hour')
          .on('ingest_trace_edges')
          .columns(['hour'])
          .execute();
      },
    },
    // Raw denials are capped per destination (a fair share each): pruning reads by both.
    ingest_0003_denials_by_destination: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createIndex('ingest_denials_destination_time')
          .on('ingest_denials')
          .columns(['destination', 'time'])
          .execute();
      },
    },
    ingest_0004_wire: {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('ingest_wire_edges')
          .addColumn('hour', 'integer', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('destination', 'text', (c) => c.notNull())
          .addColumn('port', 'integer', (c) => c.notNull())
          .addColumn('samples', 'bigint', (c) => c.notNull())
          .addColumn('connections', 'bigint', (c) => c.notNull())
          .addColumn('first_seen', 'bigint', (c) => c.notNull())
          .addColumn('last_seen', 'bigint', (c) => c.notNull())
          .addColumn('node', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('ingest_wire_edges_pk', [
            'source',
            'destination',
            'port',
            'hour',
          ])
          .execute();
        await db.schema
          .createIndex('ingest_wire_edges_hour')
          .on('ingest_wire_edges')
          .columns(['hour'])
          .execute();
        await db.schema
          .createTable('ingest_wire_nodes')
          .addColumn('hour', 'integer', (c) => c.notNull())
          .addColumn('node', 'text', (c) => c.notNull())
          .addColumn('batches', 'bigint', (c) => c.notNull())
          .addColumn('edges', 'bigint', (c) => c.notNull())
          .addColumn('dropped', 'bigint', (c) => c.notNull())
          .addColumn('unknown_remote', 'bigint', (c) => c.notNull())
          .addColumn('unattested', 'bigint', (c) => c.notNull())
          .addColumn('no_process', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ingest_wire_nodes_pk', ['node', 'hour'])
          .execute();
      },
    },
  };
}

/** Milliseconds per hourly bucket. */
export const HOUR_MS = 3_600_000;

/** The epoch hour a time falls in. */
export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}
