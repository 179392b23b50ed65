/** Codes of every way the gateway refuses a request or a configuration. */
export type GatewayErrorCode =
  | 'GATEWAY_CONFIG_INVALID'
  | 'GATEWAY_UNAUTHENTICATED'
  | 'GATEWAY_IDP_UNAVAILABLE'
  | 'GATEWAY_FORBIDDEN'
  | 'GATEWAY_RATE_LIMITED'
  | 'GATEWAY_RATE_LIMIT_UNAVAILABLE'
  | 'GATEWAY_NO_ROUTE'
  | 'GATEWAY_BAD_REQUEST'
  | 'GATEWAY_UPSTREAM_UNAVAILABLE'
  | 'GATEWAY_UPSTREAM_TIMEOUT';

/**
 * A request the gateway refuses or a configuration it cannot use. Switch on `code`. Messages never
 * carry a credential (bearer token, API key, passport): they end up in logs.
 */
export class GatewayError<C extends GatewayErrorCode = GatewayErrorCode> extends Error {
  readonly code: C;
  /** The HTTP status to answer with when the code's usual one does not fit (503 vs 502). */
  readonly status: number | undefined;
  /** Sent as `Retry-After` (e.g. until an open circuit lets a probe through). */
  readonly retryAfterSec: number | undefined;

  constructor(
    code: C,
    message: string,
    options?: { cause?: unknown; status?: number; retryAfterSec?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options?.status;
    this.retryAfterSec = options?.retryAfterSec;
  }
}
