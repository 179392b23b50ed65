/**
 * The one canonical form of an HTTP request that every policy decision is made on.
 *
 * Frameworks route on decoded, normalised paths while a naive middleware decides on the raw
 * request target; every difference between the two is a way past a rule (`/%61dmin`,
 * `/orders/../admin`, `http://host/admin`, `/ADMIN` on a case-insensitive router). This module
 * gives each request exactly one form, or refuses it when no single form exists:
 *
 * - method upper-cased; HEAD is decided as GET (every router runs the GET handler for HEAD);
 * - absolute-form targets (`http://host/path`) reduced to their path; `*` only for OPTIONS;
 * - the fragment dropped and the query split off (rules match the path alone);
 * - percent-escapes of unreserved characters decoded (RFC 3986 §2.3), other escapes upper-cased
 *   (§6.2.2.1), characters outside RFC 3986 (`"`, `<`, `|`, …) percent-encoded;
 * - dot segments removed (§5.2.4), including encoded dots (`%2e`);
 * - refused: encoded slashes (`%2F`, `%5C`), backslashes, control characters raw or encoded,
 *   invalid escapes, escapes that are not UTF-8, raw non-ASCII, a path starting with `//`.
 *
 * `RouterRules` describe how the serving router matches, so the decision is made on that form:
 * `match` is the path folded the way the router folds it (lower-cased, trailing slash trimmed,
 * duplicate slashes merged), which makes a deny on `/admin` also catch `/ADMIN/` there.
 *
 * Pure (no I/O). The common case (an origin-form path needing no change) costs one scan and no
 * allocation beyond the result.
 */
import { type RequestErrorCode, RequestTargetError } from '../errors.ts';

/** How the router that serves the request matches paths (defaults: a strict router). */
export interface RouterRules {
  /** False when the router matches paths case-insensitively (Express's default). Default true. */
  readonly caseSensitive?: boolean;
  /** True when the router serves `/a/` from `/a` (Express's default; Fastify's option). */
  readonly ignoreTrailingSlash?: boolean;
  /** True when the router serves `/a//b` from `/a/b` (Fastify's `ignoreDuplicateSlashes`). */
  readonly ignoreDuplicateSlashes?: boolean;
  /** True when `;` starts the query as `?` does (Fastify's `useSemicolonDelimiter`). */
  readonly semicolonDelimiter?: boolean;
  /**
   * False when the router routes on the raw path and the middleware cannot make it route on the
   * canonical one (Fastify routes before any hook runs): dot segments are then refused with
   * `REQUEST_DOT_SEGMENT` instead of resolved, since the router would not resolve them. Default true.
   */
  readonly resolveDotSegments?: boolean;
}

/** A request in canonical form. */
export interface CanonicalRequest {
  /** Upper-cased; `GET` for a HEAD request. */
  readonly method: string;
  /** The canonical path (case kept), or `*` for `OPTIONS *`. */
  readonly path: string;
  /** The raw query without its `?` (not decoded), or undefined when the target had none. */
  readonly query: string | undefined;
  /** `path` plus `?query`: the origin-form target to route on. The input itself when unchanged. */
  readonly target: string;
  /** The path as the router matches it (`RouterRules`): what rules are matched against. */
  readonly match: string;
}

const STRICT: RouterRules = Object.freeze({});

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const DOT = 0x2e;
const QUESTION = 0x3f;
const HASH = 0x23;
const SEMICOLON = 0x3b;

/**
 * Per ASCII code: 0 kept as is; 1 needs the slow path (`%`, `.`, and characters to encode);
 * 2 refused (controls, backslash). Codes >= 0x80 are refused separately.
 */
const CLASS = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) CLASS[c] = 2;
CLASS[0x7f] = 2;
CLASS[BACKSLASH] = 2;
CLASS[0x20] = 2;
for (const ch of '%."<>[]^`{|}') CLASS[ch.charCodeAt(0)] = 1;

/** Unreserved characters (RFC 3986 §2.3): their escapes are decoded. */
const UNRESERVED = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
  UNRESERVED[ch.charCodeAt(0)] = 1;
}

/** tchar of RFC 9110 §5.6.2: the characters of a method token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Why a request has no canonical form. Not an `Error`: building one costs no stack trace, so a
 * flood of refused requests costs the middleware no more than good ones. `canonicalRequest`
 * throws it as a `RequestTargetError`.
 */
export class RequestProblem {
  readonly code: RequestErrorCode;
  readonly message: string;
  /**
   * Offset of the offending character in the target (in its path for an absolute-form target),
   * or -1 for the method or the target as a whole.
   */
  readonly index: number;

  constructor(code: RequestErrorCode, message: string, index = -1) {
    this.code = code;
    this.message = message;
    this.index = index;
  }
}

/**
 * The canonical form of `method` and `target` (an HTTP request-target: origin form, absolute
 * form, or `*`). Throws `RequestTargetError` (its `code` and `index` say what and where) for a
 * request that has no single canonical form; answer it with 400.
 */
export function canonicalRequest(
  method: string,
  target: string,
  rules: RouterRules = STRICT,
): CanonicalRequest {
  const result = tryCanonicalRequest(method, target, rules);
  if (result instanceof RequestProblem) {
    throw new RequestTargetError(result.code, result.message, result.index);
  }
  return result;
}

/** `canonicalRequest` for hot paths: returns the `RequestProblem` instead of throwing. */
export function tryCanonicalRequest(
  method: string,
  target: string,
  rules: RouterRules = STRICT,
): CanonicalRequest | RequestProblem {
  try {
    const m = methodOf(method);
    if (target.charCodeAt(0) !== SLASH) {
      if (target === '*' && m === 'OPTIONS') {
        return new Canonical(m, '*', target, '*', target, -1, 0);
      }
      return canonicalPath(m, originFormOf(target), rules, true);
    }
    return canonicalPath(m, target, rules, false);
  } catch (error) {
    if (error instanceof RequestProblem) return error;
    throw error;
  }
}

/** The method upper-cased, HEAD as GET; throws `RequestTargetError` for a non-token method. */
export function canonicalMethod(method: string): string {
  try {
    return methodOf(method);
  } catch (error) {
    if (!(error instanceof RequestProblem)) throw error;
    throw new RequestTargetError(error.code, error.message, error.index);
  }
}

function methodOf(method: string): string {
  if (method === 'GET' || method === 'POST') return method;
  if (method === 'HEAD') return 'GET';
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new RequestProblem(
      'REQUEST_METHOD_INVALID',
      `method ${quote(method)} is not an HTTP token`,
    );
  }
  const upper = method.toUpperCase();
  return upper === 'HEAD' ? 'GET' : upper;
}

function canonicalPath(
  method: string,
  target: string,
  rules: RouterRules,
  rewritten: boolean,
): CanonicalRequest {
  const n = target.length;
  const scanned = scanPath(target, rules.semicolonDelimiter === true);
  if (scanned < -n) throw refusedChar(target, -scanned - n - 1);
  const slow = scanned < 0;
  const end = slow ? -scanned : scanned;
  const path = slow ? normalisePath(target, end, rules) : end === n ? target : target.slice(0, end);
  // The query starts after the `?` (or `;` for such routers); a `#` starts the fragment.
  const qAt = end < n && target.charCodeAt(end) !== HASH ? end : -1;
  const hash = qAt < 0 ? -1 : target.indexOf('#', qAt);
  const qEnd = hash < 0 ? n : hash;
  const unchanged =
    !slow && !rewritten && (end === n || (hash < 0 && target.charCodeAt(end) === QUESTION));
  const routed = unchanged ? target : qAt < 0 ? path : `${path}?${target.slice(qAt + 1, qEnd)}`;
  return new Canonical(method, path, routed, matchForm(path, rules), target, qAt, qEnd);
}

/**
 * The fast scan of a path that starts with `/`: where the path ends (at `?`, `#`, or `;` for
 * `semicolon`), negated when something in it needs `normalisePath`; for a refused character at
 * `i`, `-n - 1 - i` (below `-n`). Numbers, not exceptions: `isCanonicalPath` runs it per decision.
 */
function scanPath(target: string, semicolon: boolean): number {
  const n = target.length;
  let slow = false;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === QUESTION || c === HASH || (c === SEMICOLON && semicolon)) return slow ? -i : i;
    if (c >= 0x80) return -n - 1 - i;
    const k = CLASS[c]!;
    if (k !== 0) {
      if (k === 2) return -n - 1 - i;
      // A dot matters only at the start of a segment; `%` and characters to encode always do.
      if (c !== DOT || prev === SLASH) slow = true;
    } else if (c === SLASH && i === 1 && prev === SLASH) {
      slow = true; // a leading `//`: refused (or merged) by normalisePath
    }
    prev = c;
  }
  return slow ? -n : n;
}

/**
 * True when `path` is already a canonical path with no query or fragment (strict rules): what
 * `canonicalRequest` would give back unchanged. One scan, no allocation: the check a decision
 * entry makes before paying for the canonical form.
 */
export function isCanonicalPath(path: string): boolean {
  return (
    typeof path === 'string' &&
    path.charCodeAt(0) === SLASH &&
    scanPath(path, false) === path.length
  );
}

/** The result; the query is cut from the input only when read (most requests never read it). */
class Canonical implements CanonicalRequest {
  readonly method: string;
  readonly path: string;
  readonly target: string;
  readonly match: string;
  readonly #input: string;
  /** Index of the `?` (or `;`) before the query, or -1 for none; and where the query ends. */
  readonly #qAt: number;
  readonly #qEnd: number;

  constructor(
    method: string,
    path: string,
    target: string,
    match: string,
    input: string,
    qAt: number,
    qEnd: number,
  ) {
    this.method = method;
    this.path = path;
    this.target = target;
    this.match = match;
    this.#input = input;
    this.#qAt = qAt;
    this.#qEnd = qEnd;
  }

  get query(): string | undefined {
    return this.#qAt < 0 ? undefined : this.#input.slice(this.#qAt + 1, this.#qEnd);
  }
}

/**
 * Decodes unreserved escapes, upper-cases the others, encodes characters outside RFC 3986,
 * checks UTF-8, then removes dot segments.
 */
function normalisePath(target: string, end: number, rules: RouterRules): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === PERCENT) {
      const b = escapeAt(target, i, end);
      out += target.slice(from, i);
      if (b < 0x80 && UNRESERVED[b] === 1) {
        out += String.fromCharCode(b);
        i += 2;
      } else if (b < 0x80) {
        if (b === SLASH || b === BACKSLASH) {
          throw new RequestProblem(
            'REQUEST_ENCODED_SLASH',
            `encoded ${b === SLASH ? 'slash' : 'backslash'} ${target.slice(i, i + 3)} at ${i}: a path segment cannot contain a slash`,
            i,
          );
        }
        if (b < 0x20 || b === 0x7f) {
          throw new RequestProblem(
            'REQUEST_CONTROL_CHARACTER',
            `encoded control character ${target.slice(i, i + 3)} at ${i}`,
            i,
          );
        }
        out += hex(b);
        i += 2;
      } else {
        const len = utf8SequenceAt(target, i, end, b);
        for (let j = 0; j < len; j++) out += hex(escapeAt(target, i + 3 * j, end));
        i += 3 * len - 1;
      }
      from = i + 1;
    } else if (c !== DOT && CLASS[c] === 1) {
      out += `${target.slice(from, i)}${hex(c)}`;
      from = i + 1;
    }
  }
  out += target.slice(from, end);
  const path = removeDotSegments(out, rules.resolveDotSegments !== false);
  if (path.charCodeAt(1) === SLASH && rules.ignoreDuplicateSlashes !== true) {
    // `//host/x` is a network-path reference: `new URL('//admin/x', base)` reads `admin` as a host.
    throw new RequestProblem(
      'REQUEST_TARGET_INVALID',
      'the path starts with "//" (a network-path reference, not a path)',
      0,
    );
  }
  return path;
}

/** The byte value of the escape at `i`, or throws `REQUEST_PERCENT_INVALID`. */
function escapeAt(s: string, i: number, end: number): number {
  const hi = i + 2 < end ? hexValue(s.charCodeAt(i + 1)) : -1;
  const lo = hi < 0 ? -1 : hexValue(s.charCodeAt(i + 2));
  if (lo < 0) {
    throw new RequestProblem(
      'REQUEST_PERCENT_INVALID',
      `"%" at ${i} is not followed by two hex digits`,
      i,
    );
  }
  return (hi << 4) | lo;
}

/**
 * The number of escapes (1..4) forming one well-formed UTF-8 sequence that starts with byte
 * `lead` at `i` (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 */
function utf8SequenceAt(s: string, i: number, end: number, lead: number): number {
  let len = 0;
  let min = 0x80;
  let max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) len = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    len = 3;
    if (lead === 0xe0) min = 0xa0;
    if (lead === 0xed) max = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    len = 4;
    if (lead === 0xf0) min = 0x90;
    if (lead === 0xf4) max = 0x8f;
  }
  for (let j = 1; j < len; j++) {
    const at = i + 3 * j;
    const b = s.charCodeAt(at) === PERCENT ? escapeAt(s, at, end) : -1;
    if (b < (j === 1 ? min : 0x80) || b > (j === 1 ? max : 0xbf)) len = 0;
  }
  if (len === 0) {
    throw new RequestProblem(
      'REQUEST_UTF8_INVALID',
      `the escapes at ${i} do not decode to well-formed UTF-8`,
      i,
    );
  }
  return len;
}

/** RFC 3986 §5.2.4 on an absolute path whose escapes are already normalised. */
function removeDotSegments(path: string, resolve: boolean): string {
  const segments = path.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i]!;
    if (s === '.' || s === '..') {
      if (!resolve) {
        throw new RequestProblem(
          'REQUEST_DOT_SEGMENT',
          `the path has a "${s}" segment, which this router does not resolve`,
        );
      }
      if (s === '..') out.pop();
      if (i === last) out.push('');
    } else {
      out.push(s);
    }
  }
  return `/${out.join('/')}`;
}

/** The path as the router matches it. */
function matchForm(path: string, rules: RouterRules): string {
  if (rules === STRICT) return path;
  let match = path;
  if (rules.ignoreDuplicateSlashes === true && match.includes('//')) {
    match = match.replace(/\/{2,}/g, '/');
  }
  if (rules.ignoreTrailingSlash === true && match.length > 1 && match.endsWith('/')) {
    match = match.slice(0, -1);
  }
  if (rules.caseSensitive === false) match = lowerCase(match);
  return match;
}

/**
 * Lower case as a case-insensitive router compares: ASCII letters, and the characters that
 * UTF-8 escapes decode to (Fastify lower-cases the decoded path, where U+212A KELVIN SIGN becomes
 * `k`), leaving the hex digits of escapes upper-case.
 */
function lowerCase(path: string): string {
  if (!path.includes('%')) return path.toLowerCase();
  return path.replace(/(?:%[89A-F][0-9A-F])+|%[0-7][0-9A-F]|[A-Z]+/g, (s) => {
    if (s.charCodeAt(0) !== PERCENT) return s.toLowerCase();
    if (s.length === 3 && s.charCodeAt(1) < 0x38) return s;
    return reencode(decodeURIComponent(s).toLowerCase());
  });
}

/** Percent-encodes the non-ASCII characters of `s` (upper-case hex), keeping ASCII as is. */
function reencode(s: string): string {
  return s.replace(/[^\x00-\x7f]+/g, (t) => encodeURIComponent(t));
}

/**
 * The origin form of an absolute-form target `http(s)://authority/path?query`: `/path?query`.
 * Other schemes, an empty or malformed authority, and relative targets are refused.
 */
function originFormOf(target: string): string {
  const scheme = /^(https?):\/\//i.exec(target);
  if (scheme === null) {
    throw new RequestProblem(
      'REQUEST_TARGET_INVALID',
      target === ''
        ? 'the request target is empty'
        : target === '*'
          ? 'the target "*" is only valid for OPTIONS'
          : `request target ${quote(target)} is neither a path ("/…") nor an http(s) URL`,
      0,
    );
  }
  const start = scheme[0].length;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === SLASH || c === QUESTION) break;
    if (c >= 0x80 || !AUTHORITY[c]) {
      throw new RequestProblem(
        'REQUEST_TARGET_INVALID',
        `character ${quote(target[end]!)} at ${end} is not allowed in the authority of an absolute-form target`,
        end,
      );
    }
    end++;
  }
  if (end === start) {
    throw new RequestProblem(
      'REQUEST_TARGET_INVALID',
      'the absolute-form target has no host',
      start,
    );
  }
  return end === target.length
    ? '/'
    : target.charCodeAt(end) === SLASH
      ? target.slice(end)
      : `/${target.slice(end)}`;
}

/** Characters of an authority (RFC 3986 §3.2): unreserved, sub-delims, `:`, `@`, `[`, `]`, `%`. */
const AUTHORITY = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@[]%") {
  AUTHORITY[ch.charCodeAt(0)] = 1;
}

function refusedChar(target: string, i: number): RequestProblem {
  const c = target.charCodeAt(i);
  if (c === BACKSLASH) {
    return new RequestProblem('REQUEST_BACKSLASH', `backslash at ${i}: paths use "/"`, i);
  }
  if (c < 0x20 || c === 0x7f) {
    return new RequestProblem(
      'REQUEST_CONTROL_CHARACTER',
      `control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at ${i}`,
      i,
    );
  }
  return new RequestProblem(
    'REQUEST_TARGET_INVALID',
    `${c === 0x20 ? 'space' : `non-ASCII character U+${c.toString(16).toUpperCase().padStart(4, '0')}`} at ${i}: percent-encode it`,
    i,
  );
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

const HEX = '0123456789ABCDEF';
function hex(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

function quote(value: unknown): string {
  const s = String(value);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}
