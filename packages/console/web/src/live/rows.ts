/**
 * The Live view's data, kept pure for the view to render: the tail's rows (newest first, never
 * more than a bound), what the filters keep, and the backlog's denials turned into rows.
 */
import type { LiveLineV1 } from '@ward/api-types/console';

/** A row: the decision and a key unique within the table. */
export type Row = LiveLineV1 & { key: string };

export interface Filters {
  service: string;
  kind: '' | 'deny' | 'dry-run-deny';
}

/** Rows kept at most: the tail is for watching, the denials report for digging. */
export const MAX_ROWS = 200;

/** `incoming` (oldest first) placed on top of `rows`, newest first, cut to `max`. */
export function prepend(rows: readonly Row[], incoming: readonly Row[], max = MAX_ROWS): Row[] {
  const top = incoming.slice(-max).reverse();
  return [...top, ...rows].slice(0, max);
}

/** The stream's query string for the filters (the server filters; so does the backlog). */
export function streamQuery(f: Filters): string {
  const q = new URLSearchParams();
  if (f.service.trim()) q.set('service', f.service.trim());
  if (f.kind) q.set('kind', f.kind);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function keeps(f: Filters, d: LiveLineV1): boolean {
  const s = f.service.trim();
  if (s && d.source !== s && d.destination !== s) return false;
  if (f.kind && (f.kind === 'dry-run-deny') !== d.dryRun) return false;
  return true;
}

/** A firing alert (`GET /v1/alerts`). */
export type { FiringAlertV1 as FiringAlert } from '@ward/api-types/console';
