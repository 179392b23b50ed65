/**
 * The two import scanners on the load forms they must see (and the ones they must not).
 * Specifiers here carry an `x:` scheme so the repository's own import scanner
 * (test/_imports.ts, which checks declared dependencies) does not take them for packages.
 */
import { describe, expect, it } from 'vitest';
import { type ScanResult, scanJs, scanTokens } from '../src/index.ts';

const summary = (r: ScanResult) =>
  r.imports.map((s) => ({
    spec: s.specifier,
    kind: s.kind,
    usage: s.usage.kind === 'all' ? 'all' : [...s.usage.names].sort(),
  }));

describe('scanJs (meriyah and acorn-walk)', () => {
  it('reads named, default, namespace and re-exported loads', () => {
    const r = scanJs(
      [
        "import a, { b, c as d } from 'm1';",
        "import * as ns from 'm2';",
        "export { e, f as g } from 'm3';",
        "export * from 'm4';",
        "import 'm5';",
        'ns.x(); ns["y"]; a();',
      ].join('\n'),
    );
    expect(r.method).toBe('parser');
    expect(summary(r)).toEqual([
      { spec: 'm1', kind: 'import', usage: ['b', 'c', 'default'] },
      { spec: 'm2', kind: 'import', usage: ['x', 'y'] },
      { spec: 'm3', kind: 'import', usage: ['e', 'f'] },
      { spec: 'm4', kind: 'import', usage: 'all' },
      { spec: 'm5', kind: 'import', usage: [] },
    ]);
  });

  it('reads require forms, createRequire aliases and require.resolve', () => {
    const r = scanJs(
      [
        "const { a, b: c } = require('x:r1');",
        "const r2 = require('x:r2'); r2.z();",
        "require('x:r3').w;",
        "require('x:r4');",
        "module.exports = require('x:r5');",
        "const req = createRequire(import.meta.url); req('r6');",
        "require.resolve('r7');",
        "const { x } = await import('x:r8');",
        "import.meta.resolve('r9');",
      ].join('\n'),
    );
    expect(summary(r)).toEqual([
      { spec: 'x:r1', kind: 'require', usage: ['a', 'b'] },
      { spec: 'x:r2', kind: 'require', usage: ['z'] },
      { spec: 'x:r3', kind: 'require', usage: ['w'] },
      { spec: 'x:r4', kind: 'require', usage: [] },
      { spec: 'x:r5', kind: 'require', usage: 'all' },
      { spec: 'r6', kind: 'require', usage: [] },
      { spec: 'r7', kind: 'require', usage: 'all' },
      { spec: 'x:r8', kind: 'import', usage: ['x'] },
      { spec: 'r9', kind: 'import', usage: 'all' },
    ]);
    expect(r.dynamic).toEqual([]);
  });

  it('a use before the binding (hoisting) and a namespace passed around count', () => {
    const r = scanJs("function f() { return m.late; }\nconst m = require('x:m');\nuse(m);");
    expect(summary(r)).toEqual([{ spec: 'x:m', kind: 'require', usage: 'all' }]);
  });

  it('finds loads and binding uses nested deep, whatever the binding is named', () => {
    // The walk skips subtrees without a load word or a binding's name: these are inside such
    // subtrees, or named with `$`, which a regular expression must escape.
    const r = scanJs(
      [
        "const $ = require('x:jq');",
        "const m = require('x:m');",
        'class A { static { if (c) { (() => require(`x:deep`).k)(); } } }',
        "const o = { key: async () => (await import('x:d2')).z };",
        'function f() { return () => { $.ajax(); mm.no; $x.no; return [m.used]; }; }',
      ].join('\n'),
    );
    expect(summary(r)).toEqual([
      { spec: 'x:jq', kind: 'require', usage: ['ajax'] },
      { spec: 'x:m', kind: 'require', usage: ['used'] },
      { spec: 'x:deep', kind: 'require', usage: ['k'] },
      { spec: 'x:d2', kind: 'import', usage: ['z'] },
    ]);
  });

  it('finds every computed load with its line and literal start', () => {
    const r = scanJs(
      [
        'require(name);',
        "import('./p/' + x);",
        'eval(code);',
        'new Function(body);',
        "module.require('a' + b);",
        'const r = require;',
        "new Function('return this');",
        'eval("require(\'lit\')");',
      ].join('\n'),
    );
    expect(r.dynamic).toEqual([
      { line: 1, what: 'require(expr)' },
      { line: 2, what: 'import(expr)', prefix: './p/' },
      { line: 3, what: 'eval' },
      { line: 4, what: 'new Function' },
      { line: 5, what: 'module.require(expr)', prefix: 'a' },
      { line: 6, what: '`require` handed on as a value' },
    ]);
    expect(summary(r)).toEqual([{ spec: 'lit', kind: 'require', usage: [] }]);
  });

  it('falls back to the token scanner on what the parser refuses (JSX)', () => {
    const r = scanJs("import React from 'react';\nexport const A = () => <div>it's</div>;");
    expect(r.method).toBe('scanner');
    expect(r.imports.map((s) => s.specifier)).toEqual(['react']);
  });
});

describe('scanTokens (TypeScript)', () => {
  it('skips type-only imports and exports, type specifiers and typeof import()', () => {
    const r = scanTokens(
      [
        "import type { A } from 't1';",
        "import type * as T from 't2';",
        "export type { B } from 't3';",
        "import { type C, d } from 'v1';",
        "type M = typeof import('x:t4');",
      ].join('\n'),
    );
    expect(summary(r)).toEqual([{ spec: 'v1', kind: 'import', usage: ['d'] }]);
    // a default import named `type` is not a type-only import
    expect(summary(scanTokens("import type from 'v2';\ntype();"))).toEqual([
      { spec: 'v2', kind: 'import', usage: ['default'] },
    ]);
  });

  it('reads import = require, require in TS, createRequire aliases and computed loads', () => {
    const r = scanTokens(
      [
        "import fs = require('x:r1');",
        'fs.readFileSync(p);',
        "const { a } = require('x:r2');",
        "const req = module.createRequire(import.meta.url);\nconst x = req('x:r3');",
        'const y = require(name as string);',
        "export * as ns from 'x:r4';",
      ].join('\n'),
    );
    expect(summary(r)).toEqual([
      { spec: 'x:r1', kind: 'require', usage: ['readFileSync'] },
      { spec: 'x:r2', kind: 'require', usage: ['a'] },
      { spec: 'x:r3', kind: 'require', usage: [] },
      { spec: 'x:r4', kind: 'import', usage: 'all' },
    ]);
    expect(r.dynamic).toEqual([{ line: 6, what: 'require(expr)' }]);
  });

  it('ignores loads inside comments, strings, templates and regular expressions', () => {
    const r = scanTokens(
      [
        "// import 'c1'",
        "/* require('x:c2') */",
        'const s = "import \'c3\'";',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: source text under test
        "const t = `require('x:c4') ${ import('./real.js') }`;",
        "const re = /import 'c5'/;",
        'const q = a / b; // require("x:c6")',
      ].join('\n'),
    );
    expect(summary(r)).toEqual([{ spec: './real.js', kind: 'import', usage: 'all' }]);
  });
});
