/** Codes of every way the secrets core refuses an input or a key. */
export type SecretsErrorCode =
  | 'SECRETS_BAD_NAME'
  | 'SECRETS_BAD_VALUE'
  | 'SECRETS_BAD_VERSIONS'
  | 'SECRETS_BAD_KEK'
  | 'SECRETS_UNKNOWN_KEK'
  | 'SECRETS_DECRYPT_FAILED'
  | 'SECRETS_BAD_TEMPLATE'
  | 'SECRETS_BAD_GENERATOR';

/**
 * A refused secret name, value, version list, key or template. Switch on `code`. Messages never
 * contain a secret value or key material: errors end up in logs.
 */
export class SecretsError<C extends SecretsErrorCode = SecretsErrorCode> extends Error {
  readonly code: C;
  /** The offending field (`data.password`, `versions[2].notAfter`), when there is one. */
  readonly field: string | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecretsError';
    this.code = code;
    this.field = options?.field;
  }
}
