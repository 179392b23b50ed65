/**
 * Finds the packages a source file imports: static imports and re-exports, side-effect imports,
 * `import('x')` (types included) and `require`/`createRequire(…)('x')`. Statements are matched
 * only where they start a line, so an `import` inside a JSDoc example is not one; a line written
 * into a script a test runs is, which is right, since that script resolves from the package.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';

const STATIC = /^[ \t]*(?:import|export)\b[^;'"`]*?\sfrom\s*['"]([^'"\n]+)['"]/gm;
const SIDE_EFFECT = /^[ \t]*import\s*['"]([^'"\n]+)['"]/gm;
const DYNAMIC = /\b(?:import|require|createRequire\([^)]*\))\s*\(\s*['"]([^'"\n]+)['"]\s*,?\s*\)/g;
const COMMENT_LINE = /^\s*(?:\/\/|\*|\/\*)/;

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`); undefined otherwise. */
export function packageOf(specifier: string): string | undefined {
  if (/^[./#]/.test(specifier) || specifier.includes(':') || isBuiltin(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The packages one file's text imports, each with the first line that imports it. */
export function importsOf(text: string): Map<string, number> {
  const found = new Map<string, number>();
  const add = (specifier: string, index: number): void => {
    const name = packageOf(specifier);
    const lineStart = text.lastIndexOf('\n', index) + 1;
    const line = text.slice(lineStart, text.indexOf('\n', index) >>> 0 || undefined);
    if (!name || COMMENT_LINE.test(line)) return;
    if (!found.has(name)) found.set(name, text.slice(0, index).split('\n').length);
  };
  for (const re of [STATIC, SIDE_EFFECT, DYNAMIC]) {
    for (const m of text.matchAll(re)) add(m[1]!, m.index + m[0].lastIndexOf(m[1]!));
  }
  return found;
}

const SOURCE = /\.(?:ts|tsx|js|mjs|cjs|mts|cts)$/;

/** Every source file under `dir` (recursively; no node_modules, dist or fixtures). */
export function sourceFiles(dir: string): string[] {
  let entries: string[];
  try {
    if (statSync(dir).isFile()) return SOURCE.test(dir) ? [dir] : [];
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'fixtures') return [];
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return SOURCE.test(entry) && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

/** Package name → the first `file:line` that imports it, over all files under the given dirs. */
export function importsUnder(...dirs: string[]): Map<string, string> {
  const all = new Map<string, string>();
  for (const file of dirs.flatMap(sourceFiles)) {
    for (const [name, line] of importsOf(readFileSync(file, 'utf8'))) {
      if (!all.has(name)) all.set(name, `${file}:${line}`);
    }
  }
  return all;
}
