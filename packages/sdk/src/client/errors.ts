/**
 * Codes of the resilient client (`createClient`). Each is thrown at the caller of
 * `client.request()`; an upstream's HTTP answer (a 500, even a 503 after the retries) is never an
 * error, it is the response. Egress denials keep the guard's own `EgressDeniedError`.
 */
export type ClientErrorCode =
  | 'CLIENT_CIRCUIT_OPEN'
  | 'CLIENT_TIMEOUT'
  | 'CLIENT_BULKHEAD_FULL'
  | 'CLIENT_UNAVAILABLE'
  | 'CLIENT_PEER_REJECTED'
  | 'CLIENT_CLOSED';

/** A call the client could not complete; switch on `code`. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /** The destination's key (`shop/orders`). */
  readonly destination: string;
  /** Attempts made before giving up (0 when refused before any, e.g. circuit open). */
  attempts: number;

  constructor(
    code: ClientErrorCode,
    destination: string,
    message: string,
    options?: { cause?: unknown; attempts?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.destination = destination;
    this.attempts = options?.attempts ?? 0;
  }
}
