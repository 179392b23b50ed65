/**
 * Every failure the control plane reports. API codes map to an HTTP status and travel as
 * `application/problem+json` bodies (ProblemV1); store and server codes are raised at start-up
 * or by the storage layer and become a problem body when they reach a request.
 */
import type { ProblemFieldErrorV1 } from '@ward/api-types';

/** HTTP status of each code that can reach a client. */
export const STATUS_OF = {
  API_MALFORMED_BODY: 400,
  API_MALFORMED_REQUEST: 400,
  API_VALIDATION: 400,
  API_UNAUTHENTICATED: 401,
  API_FORBIDDEN: 403,
  API_NOT_FOUND: 404,
  API_CONFLICT: 409,
  API_PRECONDITION_FAILED: 412,
  API_REQUEST_TIMEOUT: 408,
  API_PAYLOAD_TOO_LARGE: 413,
  API_UNSUPPORTED_MEDIA_TYPE: 415,
  API_HEADERS_TOO_LARGE: 431,
  API_DOCUMENT_INVALID: 422,
  API_RATE_LIMITED: 429,
  API_INTERNAL: 500,
  API_UNAVAILABLE: 503,
  STORE_UNREACHABLE: 503,
  STORE_CONFLICT: 409,
  STORE_MIGRATION_FAILED: 500,
  STORE_BAD_URL: 500,
  SERVER_SIGNING_KEY_INVALID: 500,
  SERVER_CONFIG_INVALID: 500,
  SERVER_SEAL_KEY_INVALID: 500,
  SERVER_UNSEAL_FAILED: 500,
  SECRET_NOT_FOUND: 404,
  SECRET_NOT_DECLARED: 404,
  SECRET_VERSION_NOT_FOUND: 404,
  SECRET_NOT_GENERATED: 409,
  SECRET_VALUE_INVALID: 400,
  SECRET_KEK_UNAVAILABLE: 503,
  LEASE_NOT_FOUND: 404,
  LEASE_BACKEND_FAILED: 502,
} as const;

export type ServerErrorCode = keyof typeof STATUS_OF;

/** Short titles for problem bodies, one per code. */
const TITLES: Record<ServerErrorCode, string> = {
  API_MALFORMED_BODY: 'Malformed request body',
  API_MALFORMED_REQUEST: 'Malformed HTTP request',
  API_VALIDATION: 'Invalid request',
  API_UNAUTHENTICATED: 'Authentication required',
  API_FORBIDDEN: 'Forbidden',
  API_NOT_FOUND: 'Not found',
  API_CONFLICT: 'Conflict',
  API_PRECONDITION_FAILED: 'Precondition failed',
  API_REQUEST_TIMEOUT: 'Request timeout',
  API_PAYLOAD_TOO_LARGE: 'Payload too large',
  API_HEADERS_TOO_LARGE: 'Request headers too large',
  API_UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  API_DOCUMENT_INVALID: 'Invalid policy documents',
  API_RATE_LIMITED: 'Too many requests',
  API_INTERNAL: 'Internal server error',
  API_UNAVAILABLE: 'Service unavailable',
  STORE_UNREACHABLE: 'Store unreachable',
  STORE_CONFLICT: 'Concurrent change',
  STORE_MIGRATION_FAILED: 'Store migration failed',
  STORE_BAD_URL: 'Bad database URL',
  SERVER_SIGNING_KEY_INVALID: 'Bundle signing key invalid',
  SERVER_CONFIG_INVALID: 'Invalid server configuration',
  SERVER_SEAL_KEY_INVALID: 'Seal key invalid',
  SERVER_UNSEAL_FAILED: 'Sealed key does not decrypt',
  SECRET_NOT_FOUND: 'Secret not found',
  SECRET_NOT_DECLARED: 'Secret not declared',
  SECRET_VERSION_NOT_FOUND: 'Secret version not found',
  SECRET_NOT_GENERATED: 'Secret is not generated',
  SECRET_VALUE_INVALID: 'Invalid secret value',
  SECRET_KEK_UNAVAILABLE: 'Key-encryption key unavailable',
  LEASE_NOT_FOUND: 'Lease not found',
  LEASE_BACKEND_FAILED: 'Database of the lease failed',
};

/** Base class of every coded control-plane error. Switch on `code`, not on the subclass. */
export class ServerError extends Error {
  readonly code: ServerErrorCode;
  readonly status: number;
  readonly title: string;
  /** Fields at fault, as they appear in the problem body. */
  readonly errors: ProblemFieldErrorV1[];
  /** Sent as `Retry-After` (seconds), for 429 and 503 answers that know when to come back. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ServerErrorCode,
    message: string,
    options?: { cause?: unknown; errors?: ProblemFieldErrorV1[]; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServerError';
    this.code = code;
    this.status = STATUS_OF[code];
    this.title = TITLES[code];
    this.errors = options?.errors ?? [];
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Union of every code, for exhaustive switches. */
export type AnyServerErrorCode = ServerErrorCode;

/** Codes that appear only inside a problem body's `errors[]`, naming why one item failed. */
export const FIELD_CODES = ['API_NOT_OWNER', 'API_ADMIN_ONLY_FIELD'] as const;
