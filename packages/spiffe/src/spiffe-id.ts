/**
 * The one SPIFFE ID check of Ward, per the SPIFFE-ID standard §2
 * (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): scheme `spiffe`, a trust
 * domain of lower-case letters, digits, `.`, `-` and `_` with no user info or port, a path of
 * segments of letters, digits, `.`, `-` and `_` (none empty, `.` or `..`, no trailing `/`), no
 * query or fragment; at most 2048 bytes in all and 255 bytes of trust domain (§2.3).
 *
 * Lengths are in bytes as the standard says. Every accepted character is ASCII, so for an ID that
 * passes the character checks bytes equal UTF-16 code units; and a string of more code units
 * than the limit has more UTF-8 bytes too. Comparing `length` first is therefore exact, and it
 * refuses a huge input before looking at its characters.
 */
import { SpiffeError } from './errors.ts';

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  /** The full ID, `spiffe://<trustDomain><path>`. */
  readonly id: string;
  readonly trustDomain: string;
  /** `''` for a trust domain ID, else `/seg/seg…`. */
  readonly path: string;
}

export const SPIFFE_SCHEME_PREFIX = 'spiffe://';
/** §2.3: the maximum length of a SPIFFE ID, bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** §2.3: the maximum length of a trust domain name (RFC 3986 host), bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const START = SPIFFE_SCHEME_PREFIX.length;

function isTrustDomainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f
  );
}

function isPathChar(c: number, pattern: boolean): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a) || (pattern && c === 0x2a);
}

/** Why the character at `at` of `s` is refused, in the words of the URI part it would start. */
function charProblem(s: string, at: number, inTrustDomain: boolean): string {
  const ch = s[at]!;
  const where = `at offset ${at}`;
  if (ch === '?') return `a query ("?") is not allowed (${where})`;
  if (ch === '#') return `a fragment ("#") is not allowed (${where})`;
  if (ch === '%') return `percent-encoding is not allowed (${where})`;
  if (inTrustDomain) {
    if (ch === '@') return `user info ("@") is not allowed (${where})`;
    if (ch === ':') return `a port (":") is not allowed (${where})`;
    if (ch >= 'A' && ch <= 'Z') return `the trust domain must be lower-case (${where})`;
    return `the trust domain may hold only a-z, 0-9, ".", "-" and "_" (found ${JSON.stringify(ch)} ${where})`;
  }
  return `a path segment may hold only A-Z, a-z, 0-9, ".", "-" and "_" (found ${JSON.stringify(ch)} ${where})`;
}

/** Why `s[start, end)` is not a trust domain name, or undefined. Scans in place: no copies. */
function trustDomainProblemIn(s: string, start: number, end: number): string | undefined {
  if (end === start) return 'the trust domain is empty';
  if (end - start > MAX_TRUST_DOMAIN_BYTES) {
    return `the trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`;
  }
  for (let i = start; i < end; i++) {
    if (!isTrustDomainChar(s.charCodeAt(i))) return charProblem(s, i, true);
  }
  return undefined;
}

/** Why the path segment `s[start, end)` is refused, or undefined. */
function segmentProblem(
  s: string,
  start: number,
  end: number,
  pattern: boolean,
): string | undefined {
  const len = end - start;
  if (len === 0) {
    return end === s.length
      ? 'the path ends with "/"'
      : `the path has an empty segment (at offset ${start})`;
  }
  if (
    s.charCodeAt(start) === 0x2e &&
    (len === 1 || (len === 2 && s.charCodeAt(start + 1) === 0x2e))
  ) {
    return `the path has a "${s.slice(start, end)}" segment (at offset ${start})`;
  }
  for (let i = start; i < end; i++) {
    if (!isPathChar(s.charCodeAt(i), pattern)) return charProblem(s, i, false);
  }
  return undefined;
}

/**
 * Why `value` is not a valid SPIFFE ID, or undefined when it is one. With `pattern`, path
 * segments may also hold `*` (Ward's glob patterns over SPIFFE IDs; the trust domain never may).
 */
export function spiffeIdProblem(value: unknown, pattern = false): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > MAX_SPIFFE_ID_BYTES) return `is longer than ${MAX_SPIFFE_ID_BYTES} bytes`;
  if (!value.startsWith(SPIFFE_SCHEME_PREFIX)) return 'must start with "spiffe://"';
  let slash = value.indexOf('/', START);
  const td = trustDomainProblemIn(value, START, slash < 0 ? value.length : slash);
  if (td !== undefined) return td;
  while (slash >= 0) {
    const next = value.indexOf('/', slash + 1);
    const problem = segmentProblem(value, slash + 1, next < 0 ? value.length : next, pattern);
    if (problem !== undefined) return problem;
    slash = next;
  }
  return undefined;
}

/** True when `value` is a valid SPIFFE ID. */
export function isSpiffeId(value: unknown): value is string {
  return spiffeIdProblem(value) === undefined;
}

/** Parses a SPIFFE ID. Throws `SPIFFE_ID_INVALID` naming `field` and what is wrong. */
export function parseSpiffeId(value: unknown, field = 'spiffeId'): SpiffeId {
  const problem = spiffeIdProblem(value);
  if (problem !== undefined) throw new SpiffeError('SPIFFE_ID_INVALID', field, problem);
  return splitSpiffeId(value as string);
}

/** The parts of an ID already known to be valid. */
export function splitSpiffeId(id: string): SpiffeId {
  const slash = id.indexOf('/', START);
  return slash < 0
    ? { id, trustDomain: id.slice(START), path: '' }
    : { id, trustDomain: id.slice(START, slash), path: id.slice(slash) };
}

/** Trust domain of a valid SPIFFE ID. */
export function trustDomainOf(id: string): string {
  const slash = id.indexOf('/', START);
  return slash < 0 ? id.slice(START) : id.slice(START, slash);
}

/**
 * True when `value` is a valid SPIFFE ID with a path: the ID of a workload, which an X509-SVID
 * leaf must carry (X509-SVID §3.1), as opposed to the ID of a trust domain.
 */
export function isWorkloadSpiffeId(value: unknown): value is string {
  return isSpiffeId(value) && value.indexOf('/', START) > 0;
}

/** Why `value` is not a trust domain name (`example.org`), or undefined when it is one. */
export function trustDomainProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  return trustDomainProblemIn(value, 0, value.length);
}

/** Validates a trust domain name. Throws `SPIFFE_TRUST_DOMAIN_INVALID`. */
export function parseTrustDomain(value: unknown, field = 'trustDomain'): string {
  const problem = trustDomainProblem(value);
  if (problem !== undefined) throw new SpiffeError('SPIFFE_TRUST_DOMAIN_INVALID', field, problem);
  return value as string;
}
