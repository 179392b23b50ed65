/** Codes of every way the certificate authority refuses input or fails. */
export type CaErrorCode =
  | 'CA_BAD_SPIFFE_ID'
  | 'CA_BAD_CSR'
  | 'CA_CSR_SIGNATURE'
  | 'CA_BAD_KEY'
  | 'CA_SEAL_KEY'
  | 'CA_UNSEAL'
  | 'CA_BAD_STATE'
  | 'CA_BAD_TTL'
  | 'CA_BAD_SELECTOR'
  | 'CA_BAD_ENTRY'
  | 'CA_ENTRY_NOT_FOUND'
  | 'CA_JOIN_TOKEN_INVALID'
  | 'CA_ATTESTATION_FAILED'
  | 'CA_TOKEN_REVIEW_FAILED'
  | 'CA_AGENT_PROOF'
  | 'CA_NOT_AUTHORIZED'
  | 'CA_BAD_CERTIFICATE'
  | 'CA_JWT_SVID'
  | 'CA_BAD_REQUEST'
  | 'CA_CONFLICT'
  | 'CA_AGENT_NOT_FOUND';

/** HTTP status that each code maps to when it crosses the control-plane API. */
export const CA_ERROR_STATUS: Readonly<Record<CaErrorCode, number>> = Object.freeze({
  CA_BAD_SPIFFE_ID: 400,
  CA_BAD_CSR: 400,
  CA_CSR_SIGNATURE: 400,
  CA_BAD_KEY: 400,
  CA_SEAL_KEY: 500,
  CA_UNSEAL: 500,
  CA_BAD_STATE: 500,
  CA_BAD_TTL: 400,
  CA_BAD_SELECTOR: 400,
  CA_BAD_ENTRY: 400,
  CA_ENTRY_NOT_FOUND: 404,
  CA_JOIN_TOKEN_INVALID: 401,
  CA_ATTESTATION_FAILED: 401,
  CA_TOKEN_REVIEW_FAILED: 502,
  CA_AGENT_PROOF: 401,
  CA_NOT_AUTHORIZED: 403,
  CA_BAD_CERTIFICATE: 400,
  CA_JWT_SVID: 401,
  CA_BAD_REQUEST: 400,
  CA_CONFLICT: 409,
  CA_AGENT_NOT_FOUND: 404,
});

/**
 * A refusal or failure of the CA. `field` names the offending input (`csr`, `selectors[1]`, …)
 * when there is one.
 */
export class CaError extends Error {
  readonly code: CaErrorCode;
  readonly field: string | undefined;

  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CaError';
    this.code = code;
    this.field = options?.field;
  }

  /** The HTTP status for this error. */
  get statusCode(): number {
    return CA_ERROR_STATUS[this.code];
  }
}

/** True when `error` is a {@link CaError}, optionally with the given code. */
export function isCaError(error: unknown, code?: CaErrorCode): error is CaError {
  return error instanceof CaError && (code === undefined || error.code === code);
}
