/**
 * The glob compiler Ward had before globs matched in linear time: a backtracking JavaScript
 * RegExp. Kept as the reference the linear matcher must agree with on short inputs, and as the
 * peer of the worst-case benchmark (where it takes seconds on inputs of a few dozen characters).
 */
export function backtrackingGlob(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[\\^$.|?+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`${re}$`, 's');
}
