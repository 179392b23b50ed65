import type { Diagnostic } from './types.ts';

/**
 * Codes of diagnostics the engine reports about documents. Errors stop a policy set from
 * compiling; `LINT_*` codes are warnings from `lintPolicy`.
 */
export const DIAGNOSTIC_CODES = [
  'POLICY_YAML_SYNTAX',
  'POLICY_SCHEMA_INVALID',
  'POLICY_DUPLICATE_NAME',
  'POLICY_SPIFFE_INVALID',
  'POLICY_SOURCE_INVALID',
  'POLICY_GLOB_INVALID',
  'POLICY_REGEX_INVALID',
  'POLICY_METHOD_UNKNOWN',
  'POLICY_PATH_INVALID',
  'POLICY_GRPC_INVALID',
  'POLICY_CEL_SYNTAX',
  'POLICY_CEL_TYPE',
  'POLICY_CEL_REGEX',
  'POLICY_CEL_COST',
  'POLICY_TEST_RULE_UNKNOWN',
  'POLICY_SCHEMA_CONFLICT',
  'POLICY_ATTRIBUTE_UNKNOWN',
  'POLICY_LABEL_UNKNOWN',
  'POLICY_NAMESPACE_MISMATCH',
  'POLICY_URL_INVALID',
  'POLICY_ALGORITHM_INVALID',
  'POLICY_HOST_INVALID',
  'POLICY_CIDR_INVALID',
  'POLICY_CORS_INVALID',
  'POLICY_REQUEST_SCHEMA_INVALID',
  'POLICY_PASSPORT_TTL',
  'POLICY_SECRET_INVALID',
  'POLICY_DURATION_INVALID',
  'LINT_SHADOWED_RULE',
  'LINT_UNKNOWN_SERVICE',
  'LINT_OVERRIDDEN_ALLOW',
  'LINT_TEAM_LABEL',
  'LINT_ATTRIBUTE_UNDECLARED',
  'LINT_ENUM_VALUE',
  'LINT_SECRET_CONNECTION',
] as const;

export type DiagnosticCode = (typeof DIAGNOSTIC_CODES)[number];

/** Why a request target or method was refused by `canonicalRequest` (answered with 400). */
export type RequestErrorCode =
  | 'REQUEST_TARGET_INVALID'
  | 'REQUEST_METHOD_INVALID'
  | 'REQUEST_ENCODED_SLASH'
  | 'REQUEST_BACKSLASH'
  | 'REQUEST_CONTROL_CHARACTER'
  | 'REQUEST_PERCENT_INVALID'
  | 'REQUEST_UTF8_INVALID'
  | 'REQUEST_DOT_SEGMENT';

/** Codes of errors the policy package throws. */
export type PolicyErrorCode = 'POLICY_COMPILE_FAILED' | RequestErrorCode;

/** Base class of every coded error thrown by `@ward/policy`; switch on `code`. */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
    this.code = code;
  }
}

/**
 * Documents that do not compile. Carries every diagnostic found (sorted by position), not just the
 * first, so an author fixes them all in one pass.
 */
export class PolicyCompileError extends PolicyError {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const head = first ? `${formatDiagnostic(first)}` : 'invalid policy';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super('POLICY_COMPILE_FAILED', `policy does not compile: ${head}${more}`);
    this.diagnostics = diagnostics;
  }
}

/** `file:line:col: severity CODE path: message`, the one-line form the CLI prints. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity} ${d.code} ${d.path || '/'}: ${d.message}`;
}

/** Sorts diagnostics by file, line, column, then code (OPA style), in place. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return list.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}

/**
 * A request whose method or target has no single canonical form (see `canonicalRequest`), so no
 * decision can be trusted to match what the router will serve. Middleware answers 400.
 */
export class RequestTargetError extends PolicyError {
  declare readonly code: RequestErrorCode;
  /**
   * Offset of the offending character in the target (in its path for an absolute-form target),
   * or -1 for the method or the target as a whole.
   */
  readonly index: number;

  constructor(code: RequestErrorCode, message: string, index = -1) {
    super(code, message);
    this.index = index;
  }
}
