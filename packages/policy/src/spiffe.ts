/**
 * SPIFFE ID syntax per the SPIFFE-ID standard, section 2:
 * https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md
 * "The trust domain name MUST contain only lowercase letters, numbers, dots, dashes, and
 * underscores"; path segments use letters, numbers, dots, dashes and underscores, must not be
 * empty, `.` or `..`, and there is no trailing slash, query or fragment.
 */

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** A segment of a SPIFFE ID pattern may also hold `*` wildcards. */
const PATTERN_SEGMENT = /^[A-Za-z0-9._*-]+$/;

/** Why `id` is not a valid SPIFFE ID (or ID pattern when `pattern`), or undefined when valid. */
export function spiffeIdProblem(id: string, pattern = false): string | undefined {
  if (!id.startsWith('spiffe://')) return 'must start with "spiffe://"';
  if (id.length > 2048) return 'is longer than 2048 bytes';
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  if (td.length === 0) return 'has an empty trust domain';
  if (!TRUST_DOMAIN.test(td)) {
    return `trust domain "${td}" may contain only lower-case letters, digits, ".", "-" and "_"`;
  }
  if (slash === -1) return undefined;
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) {
    if (s.length === 0) return 'has an empty path segment (or a trailing "/")';
    if (s === '.' || s === '..') return 'has a "." or ".." path segment';
    if (!(pattern ? PATTERN_SEGMENT : SEGMENT).test(s)) {
      return `path segment "${s}" may contain only letters, digits, ".", "-" and "_"`;
    }
  }
  return undefined;
}

/** The default SPIFFE ID of a service: `spiffe://<trust-domain>/ns/<namespace>/sa/<name>`. */
export function defaultSpiffeId(trustDomain: string, namespace: string, name: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${name}`;
}
