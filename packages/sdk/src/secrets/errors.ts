/**
 * Codes of the SDK's secrets client (`connectSecrets`). Messages name secrets, versions and the
 * agent's status, never a value: they end up in logs.
 */
export type SecretsClientErrorCode =
  | 'SECRETS_NOT_LOADED'
  | 'SECRETS_ACCESS_WITHDRAWN'
  | 'SECRETS_TIMEOUT'
  | 'SECRETS_BAD_REPLY'
  | 'SECRETS_AGENT_UNAVAILABLE'
  | 'SECRETS_CLOSED';

/** A secret that cannot be served, or a refused answer of the node agent. Switch on `code`. */
export class SecretsClientError extends Error {
  readonly code: SecretsClientErrorCode;
  /** The secret's key (`namespace/name`), when one secret is concerned. */
  readonly secret: string | undefined;

  constructor(
    code: SecretsClientErrorCode,
    message: string,
    options?: { cause?: unknown; secret?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecretsClientError';
    this.code = code;
    this.secret = options?.secret;
  }
}
