/** Codes of every way a bundle can be refused. */
export type BundleErrorCode =
  | 'BUNDLE_MALFORMED'
  | 'BUNDLE_HASH_MISMATCH'
  | 'BUNDLE_UNKNOWN_KEY'
  | 'BUNDLE_BAD_SIGNATURE'
  | 'BUNDLE_WRONG_SERVICE'
  | 'BUNDLE_ROLLBACK';

/** A bundle that must not be used. The PDP keeps its previous bundle when it sees one. */
export class BundleError extends Error {
  readonly code: BundleErrorCode;

  constructor(code: BundleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundleError';
    this.code = code;
  }
}
