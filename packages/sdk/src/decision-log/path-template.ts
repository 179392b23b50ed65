/**
 * Turns a concrete request path into a template for decision logs, so logs group by endpoint and
 * carry no identifiers or secrets: `/orders/8f14e45f-…/items/42?token=x` → `/orders/{id}/items/{id}`.
 *
 * Used only when the framework does not know the route pattern (Fastify and Express do; theirs
 * wins). It runs when a batch is shipped, never on the request path.
 */

/** Paths longer than this are cut: a template is a label, and the input is untrusted. */
export const MAX_TEMPLATE_LENGTH = 256;
const MAX_SEGMENTS = 32;

const NUMBER = /^[+-]?\d+(?:[.,]\d+)*$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX = /^(?:0x)?[0-9a-f]{12,}$/i;
// Opaque tokens: long runs of base64url/base64 characters that mix letters and digits (keys,
// session ids, JWTs), or anything with an `@` (e-mail addresses) or `=` (encoded values).
const OPAQUE = /^[A-Za-z0-9_~.+/-]{16,}$/;
const HAS_DIGIT = /\d/;
const HAS_LETTER = /[A-Za-z]/;

/** Template of one segment: `{id}` when it looks like an identifier, else the segment itself. */
function segmentTemplate(segment: string): string {
  if (segment === '') return segment;
  // Nothing readable is that long; an endpoint name never is, a key or a token often is.
  if (segment.length >= 40) return '{id}';
  if (NUMBER.test(segment) || UUID.test(segment) || HEX.test(segment)) return '{id}';
  if (segment.includes('@') || segment.includes('=') || segment.includes('%')) return '{id}';
  if (OPAQUE.test(segment) && HAS_DIGIT.test(segment) && HAS_LETTER.test(segment)) return '{id}';
  // A segment that is mostly digits (`inv-2024-000123`, `a1b2c3d4`) is an identifier too.
  let digits = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  if (digits >= 4 && digits * 2 >= segment.length) return '{id}';
  return segment;
}

/**
 * The path template of `path`: query string and fragment removed, identifier-like segments
 * collapsed to `{id}`, at most 32 segments and 256 characters, always starting with `/`.
 */
export function pathTemplate(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const h = path.indexOf('#');
  if (h >= 0 && h < end) end = h;
  // Bound the work on untrusted input before splitting.
  const raw = path.slice(0, Math.min(end, MAX_TEMPLATE_LENGTH * 4));
  const segments = raw.split('/');
  const out: string[] = [];
  // segments[0] is what precedes the first `/` (empty for a well-formed path).
  const first = segments[0]!;
  if (first !== '') out.push(segmentTemplate(first));
  for (let i = 1; i < segments.length && out.length < MAX_SEGMENTS; i++) {
    out.push(segmentTemplate(segments[i]!));
  }
  let template = `/${out.join('/')}`;
  if (segments.length - (first === '' ? 1 : 0) > MAX_SEGMENTS) template += '/…';
  if (template.length > MAX_TEMPLATE_LENGTH)
    template = `${template.slice(0, MAX_TEMPLATE_LENGTH - 1)}…`;
  return template;
}
