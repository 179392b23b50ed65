/**
 * `WardUnapprovedEdge`: an edge between services that no allow rule approves, first observed
 * (in decision logs, traces or wire observations) within the window. It is the unapproved-edges
 * report (`GET /v1/reports/unapproved`) read over a longer lookback, so that an edge seen for
 * weeks is not "new" again each window; the alert resolves when an intention approves the edge
 * or when its first sighting leaves the window.
 */
import type { Kysely } from 'kysely';
import { Approvals } from '../../ingest/approvals.ts';
import { unapprovedReport } from '../../ingest/reports.ts';
import type { IngestDatabase } from '../../ingest/tables.ts';
import type { Store } from '../../store/store.ts';
import type { AlertInstance, AlertSource } from '../types.ts';

export interface UnapprovedEdgeOptions {
  /** An edge first seen this recently alerts. Default 1 h. */
  windowMs: number;
  /** How far back "first seen" looks. Default 7 days. */
  lookbackMs: number;
}

export const DEFAULT_UNAPPROVED_EDGE: UnapprovedEdgeOptions = {
  windowMs: 3_600_000,
  lookbackMs: 7 * 86_400_000,
};

export function unapprovedEdgeSource(
  db: Kysely<IngestDatabase>,
  store: Store,
  options: UnapprovedEdgeOptions = DEFAULT_UNAPPROVED_EDGE,
): AlertSource {
  return {
    name: 'WardUnapprovedEdge',
    async evaluate(now) {
      const report = await unapprovedReport(db, await Approvals.load(store), {
        since: now - options.lookbackMs,
        now,
      });
      const out: AlertInstance[] = [];
      for (const e of report.items) {
        if (Date.parse(e.firstSeen) < now - options.windowMs) continue;
        out.push({
          name: 'WardUnapprovedEdge',
          key: `${e.source}\u2192${e.destination}`,
          severity: 'warning',
          labels: { service: e.destination, source: e.source, destination: e.destination },
          summary: `new unapproved edge ${e.source} -> ${e.destination}`,
          description:
            `First seen ${e.firstSeen} (in ${e.seenIn.join(', ')}); no allow rule of an ` +
            `intention on ${e.destination} names ${e.source}. ${e.denied} of ${e.decisions} ` +
            'logged decisions denied.',
          startsAt: e.firstSeen,
        });
      }
      return out;
    },
  };
}
