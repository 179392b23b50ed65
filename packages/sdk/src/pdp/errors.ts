/**
 * Codes of the PDP runtime. None of them is ever thrown at `decide()`: they appear in
 * `pdp.status().lastError`, in the logger, and (for refused bundles) in
 * `ward_pdp_bundle_rejected_total{code}` next to the `BUNDLE_*` codes of `@ward/bundle`.
 */
export type PdpErrorCode =
  | 'PDP_CACHE_UNREADABLE'
  | 'PDP_CACHE_WRITE_FAILED'
  | 'PDP_FETCH_FAILED'
  | 'PDP_UNAUTHORIZED'
  | 'PDP_SERVICE_UNKNOWN'
  | 'PDP_BUNDLE_TOO_LARGE'
  | 'PDP_COMPILE_FAILED'
  | 'PDP_WATCH_FAILED'
  | 'PDP_WATCH_PROTOCOL'
  | 'PDP_CLOSED'
  | 'PDP_NOT_READY'
  | 'PDP_REVISION_ROLLBACK'
  | 'PDP_FLOOR_UNREADABLE'
  | 'PDP_FLOOR_WRITE_FAILED'
  | 'PDP_REPLICA_STALE';

/** A failure of the PDP runtime: reading the cache, talking to a control plane, or compiling. */
export class PdpError extends Error {
  readonly code: PdpErrorCode;
  /** HTTP status of the control plane's answer, when there was one. */
  readonly status: number | undefined;
  /** Control-plane URL involved, when there was one. */
  readonly url: string | undefined;
  /** What the control plane's `Retry-After` asked for (ms, capped), on a 429 or 503. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: PdpErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number; url?: string; retryAfterMs?: number },
  ) {
    super(message, options);
    this.name = 'PdpError';
    this.code = code;
    this.status = options?.status;
    this.url = options?.url;
    this.retryAfterMs = options?.retryAfterMs;
  }
}
