/**
 * The import scanners read untrusted source text: they never throw, and resolution never
 * reads outside the analysis root whatever the specifiers say.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyzeReachability, type FileSystem, scanJs, scanTokens } from '../src/index.ts';

const sourceish = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc
    .array(
      fc.constantFrom(
        'import ',
        'export ',
        'require',
        '(',
        ')',
        '{',
        '}',
        '`',
        '${',
        "'",
        '"',
        '/',
        '*',
        '//',
        '/*',
        '*/',
        '\n',
        'x',
        ' from ',
        'type ',
        '=',
        '.',
        ',',
        'eval',
        'new Function',
        'as ',
        "'./a'",
        "'pkg'",
        '[',
        ']',
        '\\',
        ';',
        'module.require',
        'import(',
        'await ',
      ),
      { maxLength: 80 },
    )
    .map((parts) => parts.join('')),
);

describe('import scanners (untrusted source)', () => {
  it('never throw on arbitrary text', () => {
    fc.assert(
      fc.property(sourceish, (text) => {
        for (const result of [scanTokens(text), scanJs(text)]) {
          expect(Array.isArray(result.imports)).toBe(true);
          for (const site of result.imports) expect(typeof site.specifier).toBe('string');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('resolution (untrusted specifiers)', () => {
  const specifier = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc
      .array(fc.constantFrom('..', '.', 'node_modules', 'pkg', '@s', 'x.js', '', 'etc', '#a'), {
        maxLength: 8,
      })
      .map((parts) => parts.join('/')),
  );

  it('never reads outside the root', () => {
    fc.assert(
      fc.property(fc.array(specifier, { maxLength: 6 }), fc.boolean(), (specs, esm) => {
        const root = '/srv/app';
        const entry = `${root}/src/index.js`;
        const code = specs
          .map((s) => (esm ? `import ${JSON.stringify(s)};` : `require(${JSON.stringify(s)});`))
          .join('\n');
        const touched: string[] = [];
        const files = new Map<string, string>([
          [entry, code],
          [`${root}/package.json`, '{"imports":{"#a":"../../etc/passwd"}}'],
          [`${root}/node_modules/pkg/package.json`, '{"exports":{"./*":"../../../*"}}'],
          ['/srv/secret.js', 'module.exports = 1'],
          ['/srv/node_modules/pkg/index.js', 'module.exports = 1'],
        ]);
        const fs: FileSystem = {
          readFile: (p) => {
            touched.push(p);
            return files.get(p);
          },
          isFile: (p) => {
            touched.push(p);
            return files.has(p);
          },
        };
        const index = analyzeReachability({ fs, root, entries: ['src/index.js'] });
        expect(touched.every((p) => p === root || p.startsWith(`${root}/`))).toBe(true);
        expect(index.verdictFor('pkg').chain ?? []).not.toContain('../secret.js');
      }),
      { numRuns: 300 },
    );
  });
});
