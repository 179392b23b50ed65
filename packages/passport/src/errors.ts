/** Codes of every way a passport (or a passport key) can be refused. */
export type PassportErrorCode =
  | 'PASSPORT_MALFORMED'
  | 'PASSPORT_UNKNOWN_KEY'
  | 'PASSPORT_BAD_SIGNATURE'
  | 'PASSPORT_EXPIRED'
  | 'PASSPORT_NOT_YET_VALID'
  | 'PASSPORT_LIFETIME'
  | 'PASSPORT_AUDIENCE'
  | 'PASSPORT_TOO_LARGE'
  | 'PASSPORT_INVALID_KEY';

/**
 * A passport that must not be trusted, or key material that cannot be used. Switch on `code`.
 * Messages never contain the token itself: a passport is a bearer credential and error messages
 * end up in logs.
 *
 * @example
 * try { verifyPassport(token, keyring); }
 * catch (e) { if (e instanceof PassportError && e.code === 'PASSPORT_EXPIRED') reply(401); }
 */
export class PassportError<C extends PassportErrorCode = PassportErrorCode> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PassportError';
    this.code = code;
  }
}
