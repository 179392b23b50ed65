/** Codes of the errors `@ward/spiffe` throws. */
export type SpiffeErrorCode = 'SPIFFE_ID_INVALID' | 'SPIFFE_TRUST_DOMAIN_INVALID';

/** A malformed SPIFFE ID or trust domain; `field` names the input, the message says what is wrong. */
export class SpiffeError extends Error {
  readonly code: SpiffeErrorCode;
  readonly field: string;

  constructor(code: SpiffeErrorCode, field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'SpiffeError';
    this.code = code;
    this.field = field;
  }
}
