/**
 * Reachability on small fixture projects (CJS, ESM, TypeScript, computed loads, exports maps)
 * and on this repository itself (the demo's entry point).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { analyzeReachability, type FileSystem, scanJs } from '../src/index.ts';
import { diskFileSystem } from './reachability-disk.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/reachability/', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const fixture = (name: string, entries?: string[]) =>
  analyzeReachability({
    fs: diskFileSystem(),
    root: `${FIXTURES}${name}`,
    ...(entries ? { entries } : {}),
  });

describe('CommonJS app (entry from package.json main)', () => {
  const index = fixture('cjs-app');

  it('finds the entry and follows require() through node_modules, nested copies first', () => {
    expect(index.entries).toEqual(['server.js']);
    expect(index.loadedPackages()).toEqual(['debug', 'express', 'lodash', 'qs']);
    const express = index.verdictFor('express');
    expect(express).toMatchObject({ verdict: 'reachable', confidence: 'high' });
    expect(express.chain).toEqual(['server.js', 'node_modules/express/index.js']);
    // express's own debug@2 (node_modules/express/node_modules/debug), not the root's debug@4
    expect(index.verdictFor('debug').chain?.at(-1)).toBe(
      'node_modules/express/node_modules/debug/src/index.js',
    );
  });

  it('tells used exports from unused ones (destructuring, member access)', () => {
    expect(index.verdictFor('lodash', ['merge']).verdict).toBe('reachable');
    const template = index.verdictFor('lodash', ['template']);
    expect(template.verdict).toBe('imported-unused');
    expect(template.reason).toContain('uses: merge');
    expect(index.verdictFor('qs', ['parse'])).toMatchObject({
      verdict: 'reachable',
      confidence: 'medium',
    });
    expect(index.verdictFor('qs', ['stringify']).verdict).toBe('imported-unused');
    // an advisory naming a module path inside the package
    expect(index.verdictFor('qs', ['lib/parse.js']).verdict).toBe('reachable');
  });

  it('calls an installed package no chain reaches not-imported (comments and strings load nothing)', () => {
    const leftPad = index.verdictFor('left-pad');
    expect(leftPad).toMatchObject({ verdict: 'not-imported', confidence: 'high' });
    expect(leftPad.reason).toBe(
      'no import chain from server.js reaches left-pad (8 files followed)',
    );
  });
});

describe('ESM app (entry from package.json bin)', () => {
  const index = fixture('esm-app');

  it('follows import, import() and package imports (#x), with exports conditions', () => {
    expect(index.entries).toEqual(['bin/cli.js']);
    expect(index.loadedPackages()).toEqual(['chalk', 'ms', 'nanoid', 'yaml']);
    // the `node` condition of yaml's exports, not `default` (browser)
    expect(index.verdictFor('yaml').chain?.at(-1)).toBe('node_modules/yaml/dist/index.js');
    expect(index.verdictFor('lodash').verdict).toBe('not-imported');
  });

  it('reads member access on a namespace; a namespace passed around may use anything', () => {
    expect(index.verdictFor('yaml', ['parse']).verdict).toBe('reachable');
    expect(index.verdictFor('yaml', ['stringify']).verdict).toBe('imported-unused');
    expect(index.verdictFor('nanoid', ['customAlphabet']).verdict).toBe('imported-unused');
    expect(index.verdictFor('chalk', ['default'])).toMatchObject({ verdict: 'reachable' });
    const ms = index.verdictFor('ms', ['parse']);
    expect(ms).toMatchObject({ verdict: 'reachable', confidence: 'medium' });
    expect(ms.reason).toContain('`ms` is used as a value at line 9');
  });
});

describe('TypeScript app', () => {
  const index = fixture('ts-app');

  it('skips type-only imports, follows import x = require() and .js → .ts, with medium confidence', () => {
    expect(index.entries).toEqual(['src/index.ts']);
    expect(index.loadedPackages()).toEqual(['jsonwebtoken', 'zod']);
    expect(index.verdictFor('zod').chain?.at(-1)).toBe('node_modules/zod/lib/index.mjs');
    const typeFest = index.verdictFor('type-fest');
    expect(typeFest).toMatchObject({ verdict: 'not-imported', confidence: 'medium' });
    expect(typeFest.reason).toContain('TypeScript read by the import scanner');
    expect(index.verdictFor('jsonwebtoken', ['sign']).verdict).toBe('reachable');
    expect(index.verdictFor('jsonwebtoken', ['verify']).verdict).toBe('imported-unused');
    expect(index.files).toBe(7); // index, setup, handler, zod, jsonwebtoken ×3
    expect(index.verdictFor('commented-out').verdict).toBe('not-imported');
  });
});

describe('computed loads', () => {
  it('a require(expr) in the project makes every unproven package unknown, naming file and line', () => {
    const index = fixture('dynamic-app');
    expect(index.verdictFor('dep-a').verdict).toBe('reachable');
    const other = index.verdictFor('other');
    expect(other).toMatchObject({ verdict: 'unknown', confidence: 'medium' });
    expect(other.reason).toBe(
      'require(expr) at index.js:4 computes what it loads and could load other',
    );
    expect(index.dynamic).toEqual([{ file: 'index.js', line: 4, what: 'require(expr)' }]);
  });

  it('a literal start bounds what it can reach; literal new Function bodies are read', () => {
    const index = fixture('dynamic-app', ['prefix.js']);
    expect(index.verdictFor('plugin-foo').verdict).toBe('unknown');
    expect(index.verdictFor('other').verdict).toBe('not-imported');
    expect(index.dynamic.map((d) => d.prefix)).toEqual(['./locales/', 'plugin-']);
  });
});

describe('package.json exports and imports maps', () => {
  const index = fixture('exports-app');

  it('picks import/require conditions, subpaths, patterns; a blocked subpath is unresolved', () => {
    expect(index.entries).toEqual(['src/main.js']);
    const files = index.verdictFor('pkg-exports');
    expect(files.chain?.at(-1)).toBe('node_modules/pkg-exports/esm/index.mjs');
    expect(index.verdictFor('pkg-exports', ['connect']).verdict).toBe('reachable');
    expect(index.verdictFor('pkg-exports', ['lib/utils/strings.js']).verdict).toBe('reachable');
    expect(index.verdictFor('pkg-exports', ['feature-browser.js']).verdict).toBe('imported-unused');
    expect(index.verdictFor('pkg-exports', ['feature-node.js']).verdict).toBe('reachable');
    expect(index.verdictFor('pkg-exports', ['cjs/index.cjs']).verdict).toBe('reachable');
    const blocked = index.verdictFor('blocked');
    expect(blocked).toMatchObject({ verdict: 'unknown', confidence: 'low' });
    expect(blocked.reason).toBe(
      'src/db.cjs:2 loads blocked but it could not be resolved from there',
    );
  });
});

describe('scanJs', () => {
  it('numbers lines as ECMAScript does (CRLF, CR, LF, U+2028 each end one line)', () => {
    const r = scanJs('// a\r\n// b\r// c\u2028\nconst x = require("./x");\neval(code);\n');
    expect(r.imports.map((s) => [s.specifier, s.line])).toEqual([['./x', 5]]);
    expect(r.dynamic).toEqual([{ line: 6, what: 'eval' }]);
  });

  it('finds nothing in a file without require, import, export, eval or Function', () => {
    expect(scanJs('module.exports = function add(a, b) { return a + b; };')).toEqual({
      imports: [],
      dynamic: [],
      method: 'parser',
    });
    // The same file with one load is parsed.
    expect(scanJs('module.exports = require("./add");').imports).toHaveLength(1);
  });
});

/** A read-only file system over a map of absolute paths to texts. */
function memoryFs(files: Record<string, string>): FileSystem {
  return { readFile: (p) => files[p], isFile: (p) => p in files };
}

describe('entry points of a service without main', () => {
  it('takes the file `scripts.start` runs with node', () => {
    const fs = memoryFs({
      '/srv/goof/package.json': JSON.stringify({
        name: 'goof',
        scripts: { start: 'NODE_OPTIONS=--openssl-legacy-provider node --trace-warnings app.js' },
      }),
      '/srv/goof/app.js': 'require("express");',
      '/srv/goof/node_modules/express/package.json': '{"name":"express","main":"index.js"}',
      '/srv/goof/node_modules/express/index.js': 'module.exports = {};',
    });
    const index = analyzeReachability({ fs, root: '/srv/goof' });
    expect(index.entries).toEqual(['app.js']);
    expect(index.verdictFor('express').verdict).toBe('reachable');
  });

  it('skips the value of -r and takes the preloaded module as an entry too', () => {
    // An index.js that is not the service must not become its entry (express would then be
    // not-imported with high confidence: suppressed).
    const fs = memoryFs({
      '/srv/pre/package.json': JSON.stringify({
        scripts: { start: 'node -r dotenv/config --import=tsx server.js' },
      }),
      '/srv/pre/index.js': 'console.log("old");',
      '/srv/pre/server.js': 'require("express");',
      '/srv/pre/node_modules/express/package.json': '{"name":"express","main":"index.js"}',
      '/srv/pre/node_modules/express/index.js': 'module.exports = {};',
      '/srv/pre/node_modules/dotenv/package.json': '{"name":"dotenv"}',
      '/srv/pre/node_modules/dotenv/config.js': 'module.exports = {};',
    });
    const index = analyzeReachability({ fs, root: '/srv/pre' });
    expect(index.entries).toEqual(['server.js', 'node_modules/dotenv/config.js']);
    expect(index.verdictFor('express').verdict).toBe('reachable');
    expect(index.verdictFor('dotenv').verdict).toBe('reachable');
  });

  it('finds node after a build step (`npm run build && node dist/server.js`)', () => {
    const fs = memoryFs({
      '/srv/b/package.json': JSON.stringify({
        scripts: { start: 'npm run build && node dist/server.js' },
      }),
      '/srv/b/dist/server.js': 'require("express");',
      '/srv/b/node_modules/express/package.json': '{"name":"express","main":"index.js"}',
      '/srv/b/node_modules/express/index.js': 'module.exports = {};',
    });
    const index = analyzeReachability({ fs, root: '/srv/b' });
    expect(index.entries).toEqual(['dist/server.js']);
    expect(index.verdictFor('express').verdict).toBe('reachable');
  });

  it('leaves every verdict unknown when only a preload resolves, not the service file', () => {
    const fs = memoryFs({
      '/srv/p2/package.json': JSON.stringify({ scripts: { start: 'node -r dotenv/config x.js' } }),
      '/srv/p2/node_modules/dotenv/package.json': '{"name":"dotenv"}',
      '/srv/p2/node_modules/dotenv/config.js': 'module.exports = {};',
    });
    const index = analyzeReachability({ fs, root: '/srv/p2' });
    expect(index.entries).toEqual([]);
    expect(index.verdictFor('express').verdict).toBe('unknown');
  });

  it('ignores a start script that is not node (nx serve)', () => {
    const fs = memoryFs({
      '/srv/rw/package.json': JSON.stringify({ scripts: { start: 'nx serve' } }),
      '/srv/rw/main.js': 'console.log(1);',
    });
    expect(analyzeReachability({ fs, root: '/srv/rw' }).entries).toEqual([]);
  });
});

describe('a workspace member (this repository: packages/demo, dependencies in the root)', () => {
  it('takes the entries from packageDir, and an unbuilt workspace package leaves its tree unknown', () => {
    // Without the `ward-source` condition the workspace packages' exports point at dist/, which
    // is not built: what they load must not be called not-imported.
    const index = analyzeReachability({
      fs: diskFileSystem(),
      root: REPO,
      packageDir: 'packages/demo',
    });
    expect(index.entries).toEqual(['packages/demo/src/index.ts']);
    expect(index.verdictFor('pino').verdict).toBe('reachable');
    const fastify = index.verdictFor('fastify');
    expect(fastify).toMatchObject({ verdict: 'unknown', confidence: 'low' });
    expect(fastify.reason).toMatch(
      /loads node_modules\/@ward\/\S+, whose entry could not be resolved/,
    );
  });
});

describe('bounds', () => {
  it('says when maxFiles stopped it, and unvisited packages are unknown', () => {
    const index = analyzeReachability({
      fs: diskFileSystem(),
      root: `${FIXTURES}cjs-app`,
      maxFiles: 2,
    });
    expect(index.boundHit).toBe('the analysis stopped after 2 files (maxFiles)');
    expect(index.verdictFor('left-pad')).toMatchObject({ verdict: 'unknown', confidence: 'low' });
  });

  it('says when a file was too large to scan', () => {
    const index = analyzeReachability({
      fs: diskFileSystem(),
      root: `${FIXTURES}cjs-app`,
      maxFileSize: 100,
    });
    expect(index.boundHit).toMatch(/^server\.js is larger than 100 characters/);
    expect(index.verdictFor('express').verdict).toBe('unknown');
  });
});

describe('this repository (packages/demo)', () => {
  it('loads the demo’s runtime packages and not the dev-only ones', () => {
    const fs = diskFileSystem();
    const index = analyzeReachability({
      fs,
      root: REPO,
      entries: ['packages/demo/src/index.ts'],
      conditions: ['ward-source'],
    });
    expect(index.boundHit).toBeUndefined();
    for (const name of ['pino', 'pg', 'undici', 'fastify', '@ward/server']) {
      expect(index.verdictFor(name).verdict, name).toBe('reachable');
    }
    expect(index.verdictFor('pino').chain?.[0]).toBe('packages/demo/src/index.ts');
    for (const name of ['fast-check', 'vitest', '@biomejs/biome', 'typescript']) {
      expect(index.verdictFor(name).verdict, name).toBe('not-imported');
    }
    expect(fs.reads.every((p) => p === REPO || p.startsWith(`${REPO}/`))).toBe(true);
  });
});
