/** Codes of the decision-log shipper, as seen in `shipper.stats().lastError`. */
export type DecisionLogErrorCode = 'DECISION_LOG_SHIP_FAILED' | 'DECISION_LOG_REJECTED';

/**
 * A batch that did not reach the control plane. Never thrown at the service: the shipper records
 * it in `stats().lastError`, retries (`DECISION_LOG_SHIP_FAILED`) or drops the batch and counts it
 * (`DECISION_LOG_REJECTED`).
 */
export class DecisionLogError extends Error {
  readonly code: DecisionLogErrorCode;
  /** HTTP status of the control plane's answer, when there was one. */
  readonly status: number | undefined;

  constructor(
    code: DecisionLogErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.name = 'DecisionLogError';
    this.code = code;
    this.status = options?.status;
  }
}
