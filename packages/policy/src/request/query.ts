/**
 * The query of a canonical request, read into parameters the one way every part of Ward reads it
 * (`query` permissions; `ward policy eval`, the playground, the SDK middleware and the PDP all pass
 * the raw query of `canonicalRequest` to the engine, which parses it here).
 *
 * The parsing is the WHATWG `application/x-www-form-urlencoded` parser (what `URLSearchParams`,
 * Node's `querystring` and Fastify's `fast-querystring` implement, give or take invalid escapes):
 * split on `&` only, empty pieces skipped, the name ends at the first `=` (no `=`: an empty value),
 * `+` is a space, percent-escapes are decoded as UTF-8 with U+FFFD for invalid sequences, and a
 * `%` not followed by two hex digits is kept as is. Names are case-sensitive and kept in order;
 * a repeated name keeps every value (what a repeated name means to a rule: `matchers.ts`).
 *
 * Bounds: a query longer than `MAX_QUERY_LENGTH` characters or with more than
 * `MAX_QUERY_PARAMETERS` parameters is not read at all; `problem` says why, and every `query`
 * matcher then fails closed (an allow does not match, a deny does). The same holds for a query
 * whose escapes are not UTF-8: frameworks disagree on what it says.
 *
 * Pure (no I/O).
 */

/** Longest raw query read, in characters (Node refuses request lines past 16 KiB anyway). */
export const MAX_QUERY_LENGTH = 8192;
/** Most parameters read; a query with more is not read. */
export const MAX_QUERY_PARAMETERS = 256;

/** A parsed query. */
export interface QueryParameters {
  /**
   * The values of each name, in order of appearance; empty when the query is over a bound.
   * Escapes that are not UTF-8 read as U+FFFD (and set `problem`).
   */
  readonly params: ReadonlyMap<string, readonly string[]>;
  /**
   * Why the rules cannot trust this reading (over a bound, or escapes that are not UTF-8), or
   * undefined. `query` matchers fail closed when it is set.
   */
  readonly problem: string | undefined;
}

const EMPTY: QueryParameters = Object.freeze({
  params: new Map<string, readonly string[]>(),
  problem: undefined,
});

const ENCODER = new TextEncoder();
const ASCII = /^[\x00-\x7f]*$/;
/** Decoded bytes of one ASCII name or value: never longer than the query itself. */
const SCRATCH = new Uint8Array(MAX_QUERY_LENGTH);
// `ignoreBOM: true` keeps a leading U+FEFF: WHATWG decodes "UTF-8 without BOM" here.
const DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Parses a raw query (without its `?`, as `CanonicalRequest.query` gives it). `undefined` (no
 * query) and `''` give no parameters.
 */
export function parseQuery(query: string | undefined): QueryParameters {
  if (query === undefined || query === '') return EMPTY;
  if (typeof query !== 'string') throw new TypeError('parseQuery: query must be a string');
  if (query.length > MAX_QUERY_LENGTH) {
    return overflow(
      `the query is ${query.length} characters long (at most ${MAX_QUERY_LENGTH} are read)`,
    );
  }
  const params = new Map<string, string[]>();
  notUtf8 = false;
  let count = 0;
  let from = 0;
  const n = query.length;
  while (from <= n) {
    let to = query.indexOf('&', from);
    if (to < 0) to = n;
    if (to > from) {
      if (++count > MAX_QUERY_PARAMETERS) {
        return overflow(`the query has more than ${MAX_QUERY_PARAMETERS} parameters`);
      }
      const piece = query.slice(from, to);
      const eq = piece.indexOf('=');
      const name = decodeComponent(eq < 0 ? piece : piece.slice(0, eq));
      const value = eq < 0 ? '' : decodeComponent(piece.slice(eq + 1));
      const values = params.get(name);
      if (values === undefined) params.set(name, [value]);
      else values.push(value);
    }
    from = to + 1;
  }
  // Frameworks disagree on escapes that are not UTF-8 (WHATWG and Node's querystring read
  // U+FFFD, Fastify keeps the text undecoded): what the rule would read is not surely what the
  // handler reads, so such a query is read, but flagged, and the matchers fail closed on it.
  return {
    params,
    problem: notUtf8
      ? 'its escapes do not decode to UTF-8, which frameworks read differently'
      : undefined,
  };
}

/** Set by `decodeComponent` when escapes decode to bytes that are not UTF-8. */
let notUtf8 = false;

let lastRaw: string | undefined;
let lastParsed: QueryParameters = EMPTY;

/**
 * `parseQuery` for the decision's hot path: remembers the last query, so the permissions of every
 * rule considered in one decision (and a run of requests with the same query) parse it once.
 * The result is shared: never change it.
 */
export function cachedQuery(query: string | undefined): QueryParameters {
  if (query === undefined || query === '') return EMPTY;
  if (query !== lastRaw) {
    lastParsed = parseQuery(query);
    lastRaw = query;
  }
  return lastParsed;
}

function overflow(problem: string): QueryParameters {
  return { params: EMPTY.params, problem };
}

/** `+` as space, then percent-decoding of the UTF-8 bytes, as the WHATWG parser does. */
function decodeComponent(s: string): string {
  const plus = s.indexOf('+');
  const percent = s.indexOf('%');
  if (plus < 0 && percent < 0) return s.isWellFormed() ? s : s.toWellFormed();
  const spaced = plus < 0 ? s : s.replaceAll('+', ' ');
  if (percent < 0) return spaced.isWellFormed() ? spaced : spaced.toWellFormed();
  // An ASCII string (all a request line carries) is its own UTF-8: decode its escapes straight
  // into a scratch buffer, with no encoding step and no allocation but the result.
  if (ASCII.test(spaced)) {
    let w = 0;
    const n = spaced.length;
    for (let r = 0; r < n; r++) {
      const c = spaced.charCodeAt(r);
      if (c === 0x25 && r + 2 < n) {
        const hi = hexValue(spaced.charCodeAt(r + 1));
        const lo = hi < 0 ? -1 : hexValue(spaced.charCodeAt(r + 2));
        if (lo >= 0) {
          SCRATCH[w++] = (hi << 4) | lo;
          r += 2;
          continue;
        }
      }
      SCRATCH[w++] = c;
    }
    if (!validUtf8(SCRATCH, w)) notUtf8 = true;
    return DECODER.decode(SCRATCH.subarray(0, w));
  }
  // TextEncoder writes a lone surrogate as U+FFFD, as the WHATWG parser's UTF-8 encode does.
  const bytes = ENCODER.encode(spaced);
  let w = 0;
  for (let r = 0; r < bytes.length; r++) {
    const b = bytes[r]!;
    if (b === 0x25 && r + 2 < bytes.length) {
      const hi = hexValue(bytes[r + 1]!);
      const lo = hi < 0 ? -1 : hexValue(bytes[r + 2]!);
      if (lo >= 0) {
        bytes[w++] = (hi << 4) | lo;
        r += 2;
        continue;
      }
    }
    bytes[w++] = b;
  }
  if (!validUtf8(bytes, w)) notUtf8 = true;
  return DECODER.decode(bytes.subarray(0, w));
}

/**
 * True when the first `n` bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
function validUtf8(b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let len = 0;
    let min = 0x80;
    let max = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) min = 0xa0;
      if (c === 0xed) max = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) min = 0x90;
      if (c === 0xf4) max = 0x8f;
    } else return false;
    if (i + len > n) return false;
    const c1 = b[i + 1]!;
    if (c1 < min || c1 > max) return false;
    for (let j = 2; j < len; j++) {
      const cj = b[i + j]!;
      if (cj < 0x80 || cj > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}
