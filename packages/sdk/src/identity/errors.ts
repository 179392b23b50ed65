/** Codes of the workload identity client. */
export type IdentityErrorCode =
  | 'IDENTITY_NO_ENDPOINT'
  | 'IDENTITY_BAD_ENDPOINT'
  | 'IDENTITY_TIMEOUT'
  | 'IDENTITY_BAD_SVID'
  | 'IDENTITY_NO_MATCHING_SVID';

/** A failure to obtain or use this workload's SPIFFE identity. */
export class IdentityError extends Error {
  readonly code: IdentityErrorCode;

  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
    this.code = code;
  }
}
