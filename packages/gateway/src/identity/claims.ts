/**
 * From verified token claims to a passport's subject and attrs (`Gateway.spec.passport.attrs`:
 * attr name -> dot path into the claims). Claims are data signed by an IdP but shaped by
 * whoever controls that IdP's mappers, so the walk is defensive: own properties only (a path
 * like `__proto__.polluted` or `constructor.name` finds nothing), JSON values only, bounded
 * depth and size, and results built with define-semantics (no prototype ever set).
 */
import { GatewayError } from '../errors.ts';

/** Segments a claim path may have (`realm_access.roles` has 2). */
export const MAX_PATH_SEGMENTS = 8;
/** Nesting a mapped value may have. */
export const MAX_VALUE_DEPTH = 8;
/** Serialized size of all mapped attrs: they travel in every passport (4 KiB in all). */
export const MAX_ATTRS_BYTES = 2048;
/** Length of a subject. */
export const MAX_SUBJECT_LENGTH = 256;

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/** The segments of a configured dot path; TypeError on a path no claim can have. */
export function parseClaimPath(path: string): string[] {
  if (typeof path !== 'string' || path === '')
    throw new TypeError('a claim path must be a non-empty string');
  const segments = path.split('.');
  if (segments.length > MAX_PATH_SEGMENTS) {
    throw new TypeError(
      `claim path ${JSON.stringify(path)} has more than ${MAX_PATH_SEGMENTS} segments`,
    );
  }
  for (const segment of segments) {
    if (segment === '' || FORBIDDEN_SEGMENTS.has(segment)) {
      throw new TypeError(`claim path ${JSON.stringify(path)} has an empty or forbidden segment`);
    }
  }
  return segments;
}

/** The value at `segments` in `claims`, following own properties of plain objects only. */
export function claimAt(claims: unknown, segments: readonly string[]): unknown {
  let current: unknown = claims;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (FORBIDDEN_SEGMENTS.has(segment) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * A copy of `value` made only of JSON values (null, boolean, finite number, string, arrays and
 * plain objects of these), or undefined when it is anything else or nests too deep.
 */
export function jsonValue(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'object' || depth >= MAX_VALUE_DEPTH) return undefined;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      const copy = jsonValue(item, depth + 1);
      if (copy === undefined) return undefined;
      out.push(copy);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(value)) {
    const copy = jsonValue((value as Record<string, unknown>)[key], depth + 1);
    if (copy === undefined) return undefined;
    entries.push([key, copy]);
  }
  // fromEntries defines properties: a key `__proto__` stays an ordinary own property.
  return Object.fromEntries(entries);
}

/** A compiled `passport.attrs` mapping. */
export interface ClaimMapping {
  attrs: readonly (readonly [name: string, segments: readonly string[]])[];
  subject: readonly string[];
}

/** Compiles `attrs` and the subject claim path; TypeError on an unusable path. */
export function compileClaimMapping(
  attrs: Record<string, string> | undefined,
  subjectClaim = 'sub',
): ClaimMapping {
  const compiled: [string, string[]][] = [];
  for (const [name, path] of Object.entries(attrs ?? {})) {
    if (name === '') throw new TypeError('a passport attr name must be non-empty');
    compiled.push([name, parseClaimPath(path)]);
  }
  return { attrs: compiled, subject: parseClaimPath(subjectClaim) };
}

/**
 * The subject and attrs `mapping` takes from `claims`. An attr whose claim is absent or not a
 * JSON value is left out (a policy condition on it then fails closed).
 * @throws GatewayError `GATEWAY_UNAUTHENTICATED` when the subject is missing or unusable, or the
 *   attrs exceed MAX_ATTRS_BYTES.
 */
export function mapClaims(
  claims: unknown,
  mapping: ClaimMapping,
): { subject: string; attrs: Record<string, unknown> } {
  const subject = claimAt(claims, mapping.subject);
  if (typeof subject !== 'string' || subject === '' || subject.length > MAX_SUBJECT_LENGTH) {
    throw new GatewayError(
      'GATEWAY_UNAUTHENTICATED',
      `the token's subject claim is missing, not a string or longer than ${MAX_SUBJECT_LENGTH}`,
    );
  }
  const entries: [string, unknown][] = [];
  for (const [name, segments] of mapping.attrs) {
    const value = jsonValue(claimAt(claims, segments));
    if (value !== undefined) entries.push([name, value]);
  }
  const attrs = Object.fromEntries(entries);
  if (Buffer.byteLength(JSON.stringify(attrs)) > MAX_ATTRS_BYTES) {
    throw new GatewayError(
      'GATEWAY_UNAUTHENTICATED',
      `the mapped passport attrs exceed ${MAX_ATTRS_BYTES} bytes`,
    );
  }
  return { subject, attrs };
}
