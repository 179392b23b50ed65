/** Codes of every way the vulnerability core refuses an input. */
export type VulnsErrorCode =
  | 'VULNS_BAD_LOCKFILE'
  | 'VULNS_BAD_SBOM'
  | 'VULNS_BAD_OSV'
  | 'VULNS_BAD_EPSS'
  | 'VULNS_BAD_KEV'
  | 'VULNS_BAD_CVSS'
  | 'VULNS_BAD_SUPPRESSIONS'
  | 'VULNS_BAD_FAIL_ON';

/**
 * A refused input: names the file, the field or line, and why. Switch on `code`.
 */
export class VulnsError<C extends VulnsErrorCode = VulnsErrorCode> extends Error {
  readonly code: C;
  /** The input file, when known. */
  readonly file: string | undefined;
  /** Where in it (`packages["node_modules/a"].version`, `line 12`). */
  readonly at: string | undefined;

  constructor(code: C, message: string, options?: { file?: string; at?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VulnsError';
    this.code = code;
    this.file = options?.file;
    this.at = options?.at;
  }
}
