import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Ties the error codes in every `errors.ts` under a package's `src/` to docs/errors.md (as fastify ties its
 * registry to Errors.md): a code that users can see must be documented, and a documented code
 * must still exist, so the list can neither go stale nor miss one.
 */
const root = join(import.meta.dirname, '..');
const CODE = /['"]([A-Z][A-Z0-9]*_[A-Z0-9_]+)['"]/g;

function codesInErrorFiles(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'errors.ts') {
        const text = readFileSync(path, 'utf8');
        for (const match of text.matchAll(CODE)) found.set(match[1]!, relative(root, path));
      }
    }
  };
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    if (existsSync(src)) walk(src);
  }
  return found;
}

function allSourceText(): string {
  const parts: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) parts.push(readFileSync(path, 'utf8'));
    }
  };
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    if (existsSync(src)) walk(src);
  }
  return parts.join('\n');
}

describe('error code registry', () => {
  const docs = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...docs.matchAll(/^- `([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]!));

  it('documents every code a package defines', () => {
    const missing = [...codesInErrorFiles()]
      .filter(([code]) => !documented.has(code))
      .map(([code, file]) => `${code} (${file})`);
    expect(missing).toEqual([]);
  });

  it('documents no code that the source no longer uses', () => {
    const source = allSourceText();
    const stale = [...documented].filter((code) => !source.includes(code));
    expect(stale).toEqual([]);
  });
});
