import type { Diagnostic } from './types.ts';

/** Where each field of a document starts, keyed by JSON pointer. */
export type PositionMap = Map<string, { line: number; col: number }>;

/** Escapes a key for a JSON pointer (RFC 6901). */
export function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The position of `path`, or of its nearest ancestor that has one, or 1:1. */
export function positionOf(
  positions: ReadonlyMap<string, { line: number; col: number }> | undefined,
  path: string,
): { line: number; col: number } {
  if (positions) {
    let p = path;
    for (;;) {
      const found = positions.get(p);
      if (found) return found;
      if (p === '') break;
      p = p.slice(0, p.lastIndexOf('/'));
    }
  }
  return { line: 1, col: 1 };
}

export function diag(
  file: string,
  line: number,
  col: number,
  code: string,
  path: string,
  message: string,
  severity: 'error' | 'warning' = 'error',
): Diagnostic {
  return { file, line, col, code, severity, path, message };
}

/** Characters the YAML source may hold around a value's characters: quotes, escapes, folding. */
const SOURCE_ONLY = new Set([' ', '\t', '\n', '\r', '\\', "'", '"']);

/**
 * Where character `offset` of a string scalar's value is in the file. `raw` is the scalar as
 * written (quoted, escaped, folded or a block `|`/`>`), starting at `line`:`col`. Value and source
 * are aligned greedily: each value character is found at the next source position, skipping only
 * quote, escape and whitespace characters; an escape that changes a character (`\n`) consumes one.
 * Exact for plain, quoted and block scalars without escapes; near for the rest, never out of the
 * scalar.
 */
export function scalarPosition(
  scalar: { raw: string; line: number; col: number },
  value: string,
  offset: number,
): { line: number; col: number } {
  const raw = scalar.raw;
  let j = 0;
  if (raw[0] === '|' || raw[0] === '>') {
    const nl = raw.indexOf('\n');
    j = nl === -1 ? raw.length : nl + 1; // the content starts after the block header
  }
  const target = Math.max(0, Math.min(offset, value.length));
  for (let i = 0; i < target && j < raw.length; i++) {
    const c = value[i];
    while (j < raw.length && raw[j] !== c && SOURCE_ONLY.has(raw[j]!)) j++;
    if (j < raw.length) j++; // the character itself, or the one an escape replaced
  }
  // Skip what only the source has (an opening quote, indentation) before the character itself.
  while (j < raw.length && raw[j] !== value[target] && SOURCE_ONLY.has(raw[j]!)) j++;
  let line = scalar.line;
  let col = scalar.col;
  for (let k = 0; k < Math.min(j, raw.length); k++) {
    if (raw[k] === '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return { line, col };
}
