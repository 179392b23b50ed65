/**
 * Glob patterns over service names, SPIFFE IDs and request paths: `*` matches any run of characters
 * within one `/`-separated segment, `**` any run across segments. Everything else is literal.
 * Compiled once to an anchored RegExp; the hot path only calls `test`.
 */

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

/** Compiles a glob to an anchored RegExp. Call `globProblem` first; this does not validate. */
export function compileGlob(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else {
        re += '[^/]*';
      }
    } else {
      re += c.replace(/[\\^$.|?+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`${re}$`, 's');
}
