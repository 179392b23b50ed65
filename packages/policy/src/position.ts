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
