import { RE2JS } from 're2js';

/**
 * Glob patterns over service names, SPIFFE IDs and request paths: `*` matches any run of characters
 * within one `/`-separated segment, `**` any run across segments. Everything else is literal.
 *
 * Matching is linear in the input for a fixed pattern (O(n·m) at worst, for n input and m pattern
 * characters) and never backtracks: a glob used to compile to a JavaScript RegExp, and
 * `/**\/**\/**\/**\/x` against a 1,000-character path then took seconds in one decision.
 *
 * Why a hand-written matcher and not a glob compiled to re2js: the patterns people write have
 * zero or one wildcard, and those reduce to `===`, `startsWith`/`endsWith` and one `indexOf('/')`
 * — tens of nanoseconds, where re2js's DFA costs ~0.8 µs for `/orders/*` against `/orders/123`.
 * Patterns with several `**` split into groups matched left to right with `indexOf` (see
 * `matchGroups`) — on the `**` attacks of `bench/worst-case.ts` 0.2–0.6 µs where a re2js DFA takes
 * 1–14 µs. Only globs with single `*`s beside other wildcards need more: an O(n·m) row programme
 * on inputs up to 64 characters, re2js's DFA beyond (the row programme took 80 µs on a
 * 1,000-character segment where the DFA takes 9 µs).
 */

/** A compiled glob. `test` is safe on hostile input: linear time, no allocation per call. */
export interface Glob {
  readonly source: string;
  test(value: string): boolean;
}

/** Why `pattern` is not a valid glob, or undefined when it is. */
export function globProblem(pattern: string): string | undefined {
  if (/\*{3,}/.test(pattern)) return 'three or more consecutive `*` (use `*` or `**`)';
  if (/[\u0000-\u001f\u007f\s]/.test(pattern)) return 'whitespace or control characters';
  return undefined;
}

/** True when `value` contains glob syntax. */
export function isGlob(value: string): boolean {
  return value.includes('*');
}

/** A token of the general matcher: a literal run, `*` (one segment) or `**` (any). */
type Token = string | 1 | 2;
const STAR = 1;
const DSTAR = 2;

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  let lit = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*') {
      lit += pattern[i];
      continue;
    }
    if (lit !== '') tokens.push(lit);
    lit = '';
    const kind = pattern[i + 1] === '*' ? DSTAR : STAR;
    if (kind === DSTAR) i++;
    const last = tokens[tokens.length - 1];
    // Adjacent wildcards collapse: `**` absorbs a neighbouring `*` or `**`; `*` `*` is `*`.
    if (last === DSTAR) continue;
    if (last === STAR) tokens[tokens.length - 1] = kind;
    else tokens.push(kind);
  }
  if (lit !== '') tokens.push(lit);
  return tokens;
}

/**
 * Compiles a glob. Call `globProblem` first; this does not validate. Patterns with at most one
 * wildcard get a closed-form test; others the group matcher.
 */
export function compileGlob(pattern: string): Glob {
  const tokens = tokenize(pattern);
  // Literal head and tail are checked with startsWith/endsWith before any general matching.
  const head = typeof tokens[0] === 'string' ? (tokens.shift() as string) : '';
  const tail =
    tokens.length > 0 && typeof tokens.at(-1) === 'string' ? (tokens.pop() as string) : '';
  const fixed = head.length + tail.length;
  const ends = (v: string) => v.length >= fixed && v.startsWith(head) && v.endsWith(tail);
  let test: (v: string) => boolean;
  if (tokens.length === 0) {
    test = (v) => v === head;
  } else if (tokens.length === 1 && tokens[0] === DSTAR) {
    test = ends;
  } else if (tokens.length === 1) {
    test = (v) => {
      if (!ends(v)) return false;
      const slash = v.indexOf('/', head.length);
      return slash === -1 || slash >= v.length - tail.length;
    };
  } else {
    const groups = splitAtDoubleStar(tokens);
    if (groups.every((g) => g.length <= 1)) {
      test = (v) => ends(v) && matchGroups(groups, v, head.length, v.length - tail.length);
    } else {
      // Single `*`s beside other wildcards: the row programme on short inputs, re2js's DFA on
      // long ones (both linear; the DFA's per-character cost is lower, its setup cost higher).
      const re = RE2JS.compile(globToRe2(pattern));
      test = (v) =>
        ends(v) &&
        (v.length > ROWS_MAX_INPUT
          ? re.testExact(v)
          : matchGroups(groups, v, head.length, v.length - tail.length));
    }
  }
  return { source: pattern, test };
}

/** Inputs longer than this go to re2js when a glob needs the row programme. */
const ROWS_MAX_INPUT = 64;

/** The same glob as an RE2 pattern (for `testExact`, so anchored). */
function globToRe2(pattern: string): string {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*') re += RE2JS.quote(pattern[i]!);
    else if (pattern[i + 1] === '*') {
      re += '(?s:.*)';
      i++;
    } else re += '[^/]*';
  }
  return re;
}

/** The tokens between `**`s: `[[a, *, b], [c]]` for `a*b**c`. Empty groups stay (`**x`: [[], [x]]). */
function splitAtDoubleStar(tokens: readonly Token[]): Token[][] {
  const groups: Token[][] = [[]];
  for (const t of tokens) {
    if (t === DSTAR) groups.push([]);
    else groups.at(-1)!.push(t);
  }
  return groups;
}

/**
 * Whether `G0 ** G1 ** … ** Gk` matches exactly `text[from, to)`. G0 is anchored at the start and
 * Gk at the end; each middle group takes its earliest-ending occurrence after the previous one —
 * optimal, since a `**` can absorb whatever lies between, so ending earlier never loses a match.
 * A group that is one literal (the usual case, as in `/api/**` or the attack `/**` `/**` … `/x`)
 * costs one `indexOf`; a group
 * with single `*`s runs the row programme of `rows`, over the rest of the text only.
 */
function matchGroups(groups: readonly Token[][], text: string, from: number, to: number): boolean {
  if (groups.length === 1) return rows(groups[0]!, text, from, to, true)?.[to - from] === 1;
  let p = from;
  const last = groups.length - 1;
  for (let i = 0; i <= last; i++) {
    const g = groups[i]!;
    if (g.length === 0) continue;
    const lit = g.length === 1 && typeof g[0] === 'string' ? g[0] : undefined;
    if (i === last) {
      if (lit !== undefined) return to - lit.length >= p && text.startsWith(lit, to - lit.length);
      return rows(g, text, p, to, false)?.[to - p] === 1;
    }
    if (lit !== undefined) {
      const at = i === 0 ? (text.startsWith(lit, p) ? p : -1) : text.indexOf(lit, p);
      if (at === -1 || at + lit.length > to) return false;
      p = at + lit.length;
    } else {
      const row = rows(g, text, p, to, i === 0);
      if (row === undefined) return false;
      let e = 0;
      while (row[e] !== 1) e++; // some cell in [0, to - p] is 1, or rows returned undefined
      p += e;
    }
  }
  return true;
}

let rowA = new Uint8Array(256);
let rowB = new Uint8Array(256);

/**
 * The row programme for literals and single `*`s over `text[from, to)`: after the last token,
 * `row[j]` (for j <= to - from; the array may be longer) is 1 when the tokens can match a run ending at `from + j` that starts at `from`
 * (`anchored`) or anywhere from `from` on. Each token turns one row into the next in O(n) (a
 * literal of length k in O(n·k) at worst). Returns undefined when no run matches. The rows are
 * module scratch, valid until the next call (matching is synchronous).
 */
function rows(
  tokens: readonly Token[],
  text: string,
  from: number,
  to: number,
  anchored: boolean,
): Uint8Array | undefined {
  const n = to - from;
  if (rowA.length <= n) {
    rowA = new Uint8Array(n + 1);
    rowB = new Uint8Array(n + 1);
  }
  let cur = rowA;
  let next = rowB;
  if (anchored) {
    cur.fill(0, 0, n + 1);
    cur[0] = 1;
  } else {
    cur.fill(1, 0, n + 1);
  }
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t]!;
    let any = false;
    if (tok === STAR) {
      let on = 0;
      for (let j = 0; j <= n; j++) {
        if (j > 0 && text.charCodeAt(from + j - 1) === 47) on = 0; // `*` stops at `/`
        on |= cur[j]!;
        next[j] = on;
        any ||= on === 1;
      }
    } else {
      const lit = tok as string;
      const k = lit.length;
      const c0 = lit.charCodeAt(0);
      next.fill(0, 0, Math.min(k, n + 1));
      for (let j = k; j <= n; j++) {
        const at = from + j - k;
        // First character by code before the substring compare: most cells fail there.
        const v =
          cur[j - k] === 1 && text.charCodeAt(at) === c0 && (k === 1 || text.startsWith(lit, at))
            ? 1
            : 0;
        next[j] = v;
        any ||= v === 1;
      }
    }
    if (!any) return undefined;
    const swap = cur;
    cur = next;
    next = swap;
  }
  return cur;
}
