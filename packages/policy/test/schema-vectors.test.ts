import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lintPolicy, loadPolicy } from '../src/index.ts';

/**
 * Conformance vectors for attribute schemas that must NOT compile (or must lint): each file in
 * conformance/schemas/ lists, in leading comments, the diagnostics `loadPolicy` reports
 * (`# expect: CODE line:col`) and the warnings `lintPolicy` adds (`# lint: CODE line:col`), in
 * order. Valid schemas with decisions are in conformance/schemas.yaml (conformance.test.ts).
 */
const vectors = (sub: string) => {
  const dir = join(import.meta.dirname, 'conformance', sub);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((name) => ({ name, file: join(dir, name) }));
};

const expected = (text: string, tag: string) =>
  [...text.matchAll(new RegExp(`^# ${tag}: (\\S+) (\\d+:\\d+)$`, 'gm'))].map(
    (m) => `${m[1]} ${m[2]}`,
  );

describe.each([
  { sub: 'schemas', what: 'attribute schema', least: 5 },
  { sub: 'invalid', what: 'invalid document', least: 4 },
])('$what vectors (conformance/$sub)', ({ sub, least }) => {
  const files = vectors(sub);
  it('has vectors', () => {
    expect(files.length).toBeGreaterThanOrEqual(least);
  });
  for (const { name, file } of files) {
    it(name, () => {
      const text = readFileSync(file, 'utf8');
      const loaded = loadPolicy([{ file: name, text }]);
      expect(loaded.diagnostics.map((d) => `${d.code} ${d.line}:${d.col}`)).toEqual(
        expected(text, 'expect'),
      );
      expect(loaded.diagnostics.every((d) => d.file === name && d.message.length > 0)).toBe(true);
      const lint = lintPolicy(loaded.documents).map((d) => `${d.code} ${d.line}:${d.col}`);
      expect(lint).toEqual(expected(text, 'lint'));
    });
  }
});
