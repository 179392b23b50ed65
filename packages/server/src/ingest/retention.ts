/**
 * Keeps the ingest tables bounded: hourly buckets older than the retention are deleted, raw
 * denials beyond their time window or row cap are deleted oldest first. Runs on a timer and after
 * a burst of denials; several replicas pruning at once only delete the same rows.
 *
 * The row cap is shared fairly among destinations (max-min fairness): each destination keeps
 * min(its rows, c), with c the largest share that fits the cap. A service flooding denials loses
 * its own oldest rows; one that stays within its share loses none.
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
  await db.deleteFrom('ingest_wire_edges').where('hour', '<', oldestHour).execute();
  await db.deleteFrom('ingest_wire_nodes').where('hour', '<', oldestHour).execute();
  const byTime = await db
    .deleteFrom('ingest_denials')
    .where('time', '<', now - options.denialRetentionMs)
    .executeTakeFirst();
  const rows = await db
    .selectFrom('ingest_denials')
    .select('destination')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .groupBy('destination')
    .execute();
  const counts = new Map(rows.map((r) => [r.destination, Number(r.n)]));
  const share = fairShare([...counts.values()], options.maxDenials);
  let byCap = 0;
  for (const [destination, n] of counts) {
    if (n <= share) continue;
    // The time of this destination's newest row past its share, then its rows at or before it:
    // one indexed range delete, the same SQL on both dialects. Rows sharing that millisecond go
    // too, so a destination may end a few rows under its share, never over it.
    const r = await db
      .deleteFrom('ingest_denials')
      .where('destination', '=', destination)
      .where(
        'time',
        '<=',
        sql<number>`(SELECT time FROM ingest_denials WHERE destination = ${destination} ORDER BY time DESC LIMIT 1 OFFSET ${share})`,
      )
      .executeTakeFirst();
    byCap += Number(r.numDeletedRows);
  }
  return {
    edges: Number(edges.numDeletedRows),
    denials: Number(byTime.numDeletedRows) + byCap,
    traces: Number(traces.numDeletedRows),
  };
}

/**
 * The largest per-destination share c with sum(min(count, c)) <= cap: destinations under c keep
 * everything, the others are cut to c. Infinity when everything fits.
 */
export function fairShare(counts: readonly number[], cap: number): number {
  const sorted = [...counts].sort((a, b) => a - b);
  let left = cap;
  for (let i = 0; i < sorted.length; i++) {
    const rest = sorted.length - i;
    // Everyone from i on gets an equal split of what is left, unless the smallest needs less.
    if (sorted[i]! * rest > left) return Math.floor(left / rest);
    left -= sorted[i]!;
  }
  return Number.POSITIVE_INFINITY;
}
