/**
 * `WardDenialSpike`: enforced denials on one destination in the last window above
 * max(minCount, factor × its baseline), the baseline being its denial rate over the preceding
 * `baselineMs` scaled to one window. Counted from the raw denials table (`ingest_denials`,
 * summing folded `count`s): under a flood the ingest keeps a per-flush budget of rows, so the
 * count is a lower bound — a flood large enough to hit the budget still reads as a spike.
 */
import { type Kysely, sql } from 'kysely';
import type { IngestDatabase } from '../../ingest/tables.ts';
import type { AlertInstance, AlertSource } from '../types.ts';

export interface DenialSpikeOptions {
  /** The window counted. Default 5 min. */
  windowMs: number;
  /** The baseline period before the window. Default 1 h (raw denials are kept 24 h). */
  baselineMs: number;
  /** Never alert below this many denials in a window. Default 50. */
  minCount: number;
  /** Alert above this multiple of the baseline. Default 3. */
  factor: number;
}

export const DEFAULT_DENIAL_SPIKE: DenialSpikeOptions = {
  windowMs: 5 * 60_000,
  baselineMs: 3_600_000,
  minCount: 50,
  factor: 3,
};

/** Whether `current` denials in a window are a spike over `baselinePerWindow`. */
export function isSpike(current: number, baselinePerWindow: number, o: DenialSpikeOptions) {
  return current > Math.max(o.minCount, o.factor * baselinePerWindow);
}

async function sums(
  db: Kysely<IngestDatabase>,
  from: number,
  to: number,
): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('ingest_denials')
    .select(['destination', sql<number | string>`SUM(count)`.as('n')])
    .where('time', '>=', from)
    .where('time', '<', to)
    .where('enforced', '=', 1)
    .groupBy('destination')
    .execute();
  return new Map(rows.map((r) => [r.destination, Number(r.n)]));
}

export function denialSpikeSource(
  db: Kysely<IngestDatabase>,
  options: DenialSpikeOptions = DEFAULT_DENIAL_SPIKE,
): AlertSource {
  return {
    name: 'WardDenialSpike',
    async evaluate(now) {
      const start = now - options.windowMs;
      const current = await sums(db, start, now + 1);
      if (current.size === 0) return [];
      const before = await sums(db, start - options.baselineMs, start);
      const out: AlertInstance[] = [];
      for (const [destination, n] of current) {
        const baseline = ((before.get(destination) ?? 0) * options.windowMs) / options.baselineMs;
        if (!isSpike(n, baseline, options)) continue;
        const minutes = Math.round(options.windowMs / 60_000);
        out.push({
          name: 'WardDenialSpike',
          key: destination,
          severity: 'warning',
          labels: { service: destination, destination },
          summary: `${n} denials on ${destination} in ${minutes} min`,
          description:
            `${n} enforced denials in the last ${minutes} min against a baseline of ` +
            `${baseline.toFixed(1)} per ${minutes} min (alerting above ` +
            `max(${options.minCount}, ${options.factor} x baseline)).`,
        });
      }
      return out;
    },
  };
}
