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
