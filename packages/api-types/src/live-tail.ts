import type { DecisionLogDenialV1 } from './decision-log.ts';

/**
 * One event of the live tail of denials: the `data:` of `event: decision` on
 * `GET /v1/decisions/stream` (packages/server/src/live/tail.ts), read by `ward logs -f` and the
 * console's Live view.
 */
export interface LiveDecisionV1 {
  /** Time of the (last) decision, ISO 8601. */
  at: string;
  source: string;
  destination: string;
  method?: string;
  path?: string;
  /** Always false: the tail carries denials only (kept for the shape's readers). */
  allowed: boolean;
  /** True when a dry-run rule denied: the call went through. */
  dryRun: boolean;
  rule: string;
  reason: string;
  instance?: string;
  /** Identical decisions this event stands for (the shipper folds them), when more than one. */
  count?: number;
}

/**
 * A line of the live tail as its readers show it: an event, or a recent denial
 * (`GET /v1/decision-logs/denials`, the backlog shown before the stream) in the event's shape,
 * which carries no `reason`.
 */
export type LiveLineV1 = Omit<LiveDecisionV1, 'reason'> & { reason?: string };

/** A recent denial as a live-tail line. */
export function liveLineOfDenial(d: DecisionLogDenialV1): LiveLineV1 {
  return {
    at: d.time,
    source: d.source,
    destination: d.destination,
    method: d.method,
    path: d.path,
    allowed: false,
    dryRun: !d.enforced,
    rule: d.rule,
    ...(d.count > 1 ? { count: d.count } : {}),
  };
}
