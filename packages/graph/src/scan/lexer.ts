/**
 * Splits a source or configuration file into the pieces the scan looks at: string literals,
 * identifiers, and (for line-oriented configuration) keys and values, each with its offset.
 * Comments are skipped. One forward pass over the characters, no regular expressions: files
 * are untrusted input, and the scan must stay linear whatever they hold.
 */

/** How a file is read, chosen from its name. */
export type Syntax = 'c' | 'python' | 'config';

export type TokenKind = 'string' | 'ident' | 'key' | 'value';

export interface Token {
  kind: TokenKind;
  /** Offset of the first character of the token's text in the file. */
  start: number;
  /** Offset just past its last character. */
  end: number;
  /** 0-based line index of `start`. */
  line: number;
}

const C_LIKE = new Set([
  'js',
  'mjs',
  'cjs',
  'jsx',
  'ts',
  'mts',
  'cts',
  'tsx',
  'go',
  'java',
  'kt',
  'kts',
  'scala',
  'groovy',
  'cs',
  'php',
  'json',
  'rs',
  'swift',
]);
const PYTHON = new Set(['py', 'pyw']);
const CONFIG = new Set([
  'yaml',
  'yml',
  'properties',
  'env',
  'conf',
  'cfg',
  'ini',
  'toml',
  'template',
  'tpl',
]);

/** The syntax of `path`, or undefined when the scan does not read files of its kind. */
export function syntaxOf(path: string): Syntax | undefined {
  const base = (path.split(/[\\/]/).pop() ?? '').toLowerCase();
  if (base === 'dockerfile' || base.startsWith('dockerfile.') || base.endsWith('.dockerfile'))
    return 'config';
  if (base === '.env' || base.startsWith('.env.')) return 'config';
  const dot = base.lastIndexOf('.');
  if (dot < 0) return undefined;
  const ext = base.slice(dot + 1);
  if (C_LIKE.has(ext)) return 'c';
  if (PYTHON.has(ext)) return 'python';
  if (CONFIG.has(ext)) return 'config';
  return undefined;
}

/** Offsets where each line starts, for turning an offset into line and column. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** 0-based line index of `offset`. */
export function lineOf(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
}

export function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

/** Tokens of `text` read as `syntax`, in order. */
export function tokenize(text: string, syntax: Syntax): Token[] {
  return syntax === 'config' ? tokenizeConfig(text) : tokenizeCode(text, syntax);
}

/**
 * C-family (`//`, `/* *\/`) and Python (`#`) sources. Strings run to their
 * closing quote; an unterminated single-line string ends at the line's end so one stray quote
 * does not swallow the file.
 */
function tokenizeCode(text: string, syntax: 'c' | 'python'): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let line = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      i++;
    } else if (syntax === 'c' && c === 47 && text.charCodeAt(i + 1) === 47) {
      i = skipToEol(text, i);
    } else if (syntax === 'c' && c === 47 && text.charCodeAt(i + 1) === 42) {
      const close = text.indexOf('*/', i + 2);
      const end = close < 0 ? n : close + 2;
      line += countNewlines(text, i, end);
      i = end;
    } else if (c === 35 && syntax === 'python') {
      i = skipToEol(text, i);
    } else if (c === 34 || c === 39 || c === 96) {
      const triple =
        syntax === 'python' && text.charCodeAt(i + 1) === c && text.charCodeAt(i + 2) === c;
      const open = triple ? 3 : 1;
      const end = stringEnd(text, i + open, c, triple, syntax === 'c' && c === 96);
      const close = Math.min(end.close, n);
      out.push({ kind: 'string', start: i + open, end: close, line });
      line += countNewlines(text, i, end.next);
      i = end.next;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(text.charCodeAt(j))) j++;
      out.push({ kind: 'ident', start: i, end: j, line });
      i = j;
    } else i++;
  }
  return out;
}

function skipToEol(text: string, i: number): number {
  const nl = text.indexOf('\n', i);
  return nl < 0 ? text.length : nl;
}

function countNewlines(text: string, from: number, to: number): number {
  // A manual loop: `indexOf` would look past `to`, quadratic on a one-line minified file.
  let k = 0;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 10) k++;
  return k;
}

/**
 * Where a string that opened just before `i` closes (`close`: offset of the closing quote) and
 * where scanning resumes (`next`). Backslash escapes are honoured; single-line strings stop at a
 * newline.
 */
function stringEnd(
  text: string,
  i: number,
  quote: number,
  triple: boolean,
  multiline: boolean,
): { close: number; next: number } {
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 92) {
      i += 2;
      continue;
    }
    if (c === 10 && !triple && !multiline) return { close: i, next: i };
    if (c === quote) {
      if (!triple) return { close: i, next: i + 1 };
      if (text.charCodeAt(i + 1) === quote && text.charCodeAt(i + 2) === quote)
        return { close: i, next: i + 3 };
    }
    i++;
  }
  return { close: n, next: n };
}

/**
 * Line-oriented configuration: YAML, `.properties`, `.env`, INI/TOML, nginx, Dockerfiles. A `#`
 * at the start of a line or after a space starts a comment (`!` too at a line's start, for
 * properties). Each line gives a key (before the first `:` or `=`, list dashes and `export`
 * dropped) and a value (the rest, quotes dropped); a line without either gives one value.
 */
function tokenizeConfig(text: string): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let line = 0;
  let start = 0;
  while (start <= n) {
    let eol = text.indexOf('\n', start);
    if (eol < 0) eol = n;
    let end = eol;
    // Comment: `#` at the start or after whitespace.
    for (let i = start; i < eol; i++) {
      const c = text.charCodeAt(i);
      if (c === 35 && (i === start || isSpace(text.charCodeAt(i - 1)))) {
        end = i;
        break;
      }
    }
    let s = skipSpace(text, start, end);
    if (text.charCodeAt(s) === 33) s = end; // `!` comment (properties)
    while (text.charCodeAt(s) === 45 && isSpace(text.charCodeAt(s + 1)))
      s = skipSpace(text, s + 1, end);
    if (text.startsWith('export ', s)) s = skipSpace(text, s + 7, end);
    if (s < end) configLine(text, s, trimEnd(text, s, end), line, out);
    if (eol >= n) break;
    start = eol + 1;
    line++;
  }
  return out;
}

function configLine(text: string, s: number, e: number, line: number, out: Token[]): void {
  let sep = -1;
  for (let i = s; i < e; i++) {
    const c = text.charCodeAt(i);
    // `:` followed by `//` is a URL, not a key separator; a space in a key means no key.
    if (
      c === 61 ||
      (c === 58 && !(text.charCodeAt(i + 1) === 47 && text.charCodeAt(i + 2) === 47))
    ) {
      sep = i;
      break;
    }
    if (c === 32 || c === 9 || c === 34 || c === 39) break;
  }
  let vs = s;
  if (sep > s) {
    out.push({ kind: 'key', start: s, end: trimEnd(text, s, sep), line });
    vs = skipSpace(text, sep + 1, e);
  }
  let ve = e;
  const q = text.charCodeAt(vs);
  if ((q === 34 || q === 39) && ve - vs >= 2 && text.charCodeAt(ve - 1) === q) {
    vs++;
    ve--;
  }
  if (vs < ve) out.push({ kind: 'value', start: vs, end: ve, line });
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
}

function skipSpace(text: string, i: number, end: number): number {
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  return i;
}

function trimEnd(text: string, s: number, e: number): number {
  while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
  return e;
}
