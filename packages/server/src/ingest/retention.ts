/**
 * Keeps the ingest tables bounded: hourly buckets older than the retention are deleted, raw
 * denials beyond their time window or row cap are deleted oldest first. Runs on a timer and after
 * a burst of denials; several replicas pruning at once only delete the same rows.
 */
import { type Kysely, sql } from 'kysely';
import { HOUR_MS, hourOf, type IngestDatabase } from './tables.ts';

export interface RetentionOptions {
  /** Hours of per-edge buckets kept (decisions and traces). */
  retentionHours: number;
  /** Raw denials older than this are deleted. */
  denialRetentionMs: number;
  /** Raw denials kept at most. */
  maxDenials: number;
}

/** Deletes what is past retention; returns how many rows went. */
export async function prune(
  db: Kysely<IngestDatabase>,
  options: RetentionOptions,
  now: number,
): Promise<{ edges: number; denials: number; traces: number }> {
  const oldestHour = hourOf(now - options.retentionHours * HOUR_MS);
  const edges = await db
    .deleteFrom('ingest_decision_edges')
    .where('hour', '<', oldestHour)
    .executeTakeFirst();
  await db.deleteFrom('ingest_decision_shippers').where('hour', '<', oldestHour).execute();
  const traces = await db
    .deleteFrom('ingest_trace_edges')
    .where('hour', '<', oldestHour)
    .executeTakeFirst();
  const byTime = await db
    .deleteFrom('ingest_denials')
    .where('time', '<', now - options.denialRetentionMs)
    .executeTakeFirst();
  // The time of the newest row past the cap, then everything at or before it: one indexed range
  // delete, the same SQL on both dialects. Rows sharing that exact millisecond go too, so the
  // table may end a few rows under the cap, never over it.
  const byCap = await db
    .deleteFrom('ingest_denials')
    .where(
      'time',
      '<=',
      sql<number>`(SELECT time FROM ingest_denials ORDER BY time DESC LIMIT 1 OFFSET ${options.maxDenials})`,
    )
    .executeTakeFirst();
  return {
    edges: Number(edges.numDeletedRows),
    denials: Number(byTime.numDeletedRows) + Number(byCap.numDeletedRows),
    traces: Number(traces.numDeletedRows),
  };
}
