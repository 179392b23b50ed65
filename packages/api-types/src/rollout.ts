/** Soft-apply shapes: a dry-run report item and the answer of `POST /v1/promote`. */

/** Calls a dry-run rule would have denied, per edge and rule (`GET /v1/reports/dry-run`). */
export interface DryRunItemV1 {
  source: string;
  destination: string;
  rule: string;
  /** Calls the rule would have denied. */
  count: number;
  /** Further such calls seen only in shippers' samples of dropped records. */
  sampled: number;
  firstSeen: string;
  lastSeen: string;
  /** Highest policy revision these decisions were made at. */
  revision: number;
  /** The most frequent method and path templates among the raw denials kept for the window. */
  samples: { method: string; path: string; count: number }[];
}

/** The answer of `POST /v1/promote` (read by `ward promote` and the console's rollout view). */
export interface PromoteAnswerV1 {
  service: string;
  changed: boolean;
  /** The new revision, or the current one when nothing was in dry-run. */
  revision: number;
  /** Intentions switched to enforce. */
  promoted: string[];
  forced: boolean;
  /** Dry-run denials in the window (what `force` overrode, when it did). */
  denials: DryRunItemV1[];
}
