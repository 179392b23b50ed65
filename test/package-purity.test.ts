import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 9 item 7: no package changes globals when imported, and the pure cores do no I/O.
 * Each import runs in a fresh Node process (Node 26 from node_modules/.bin, as the packages ship),
 * so no other test's imports hide a change.
 */
const root = join(import.meta.dirname, '..');
const node = join(root, 'node_modules', '.bin', 'node');

// Lists the own keys of the objects a library could patch, imports the package, and prints what
// changed. Only keys are listed: reading a descriptor of one of Node's lazy globals (`FormData`)
// would itself load Node's fetch and change `globalThis`.
const PROBE = `
const watched = {
  globalThis, Reflect, Object, Symbol, Error, JSON, Math, Promise, Array, Function,
  'Object.prototype': Object.prototype, 'Function.prototype': Function.prototype,
  'Array.prototype': Array.prototype, 'String.prototype': String.prototype,
  'Promise.prototype': Promise.prototype, 'Map.prototype': Map.prototype,
  'Error.prototype': Error.prototype, 'RegExp.prototype': RegExp.prototype,
};
const snap = () => Object.fromEntries(
  Object.entries(watched).map(([k, o]) => [k, Reflect.ownKeys(o).map(String).sort()]));
const hostPolyfill = process.argv.includes('--host-polyfill');
const mine = () => undefined;
if (hostPolyfill) Reflect.getMetadata = mine;
const before = snap();
await import(process.argv.at(-1));
const after = snap();
const changed = {};
for (const k of Object.keys(before)) {
  const added = after[k].filter((x) => !before[k].includes(x));
  const removed = before[k].filter((x) => !after[k].includes(x));
  if (added.length || removed.length) changed[k] = { added, removed };
}
if (hostPolyfill && Reflect.getMetadata !== mine) changed.hostPolyfill = 'replaced or removed';
console.log(JSON.stringify(changed));
`;

function globalsChangedBy(pkg: string, ...flags: string[]): Record<string, unknown> {
  const out = execFileSync(node, ['--input-type=module', '-e', PROBE, '--', ...flags, pkg], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

// undici fills Node's global dispatcher slot (Symbol.for('undici.globalDispatcher.1'/'.2'),
// which Node's own fetch fills on first use) when it loads, if nothing has yet. The SDK loads it
// at first use (packages/sdk/src/undici.ts); the demo, an application rather than a library,
// imports it directly.
const UNDICI_SLOT = {
  globalThis: {
    added: ['Symbol(undici.globalDispatcher.1)', 'Symbol(undici.globalDispatcher.2)'],
    removed: [],
  },
};

// `@ward/cli` is an executable entry point, not a library; it is left out.
const LIBRARIES: Record<string, Record<string, unknown>> = {
  '@ward/spiffe': {},
  '@ward/spiffe/workload-api': {},
  '@ward/api-types': {},
  '@ward/bundle': {},
  '@ward/passport': {},
  '@ward/secrets': {},
  '@ward/policy': {},
  '@ward/graph': {},
  '@ward/vulns': {},
  '@ward/ca': {},
  '@ward/agent': {},
  '@ward/server': {},
  '@ward/sdk': {},
  '@ward/gateway': {},
  '@ward/dev-idp': {},
  '@ward/demo': UNDICI_SLOT,
};

describe('importing a package changes no globals', () => {
  for (const [pkg, expected] of Object.entries(LIBRARIES)) {
    it(`${pkg}`, () => {
      expect(globalsChangedBy(pkg)).toEqual(expected);
    });
  }

  it('@ward/ca leaves a host service’s own Reflect metadata polyfill in place', () => {
    expect(globalsChangedBy('@ward/ca', '--host-polyfill')).toEqual({});
  });
});

/** Modules through which a package could do I/O. `import type` is erased and does not count. */
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|net|http|https|http2|tls|dgram|dns|dns\/promises|child_process|cluster|worker_threads|inspector|readline|repl)$|^undici($|\/)/;

// api-types holds only types and JSON schemas, so the pure cores may use it.
const PURE = [
  'spiffe',
  'api-types',
  'policy',
  'graph',
  'passport',
  'bundle',
  'ca',
  'secrets',
  'vulns',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Module specifiers a file loads at run time: static value imports, re-exports, import(), require(). */
function runtimeImports(text: string): string[] {
  const found: string[] = [];
  const stmt =
    /^\s*(import|export)\s+(type\s+)?[^;]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(stmt)) if (!m[2]) found.push((m[3] ?? m[4])!);
  for (const m of text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g))
    found.push(m[1]!);
  return found;
}

describe('pure packages do no I/O', () => {
  for (const pkg of PURE) {
    it(`@ward/${pkg} imports no file, network or process module`, () => {
      const offenders: string[] = [];
      for (const file of sourceFiles(join(root, 'packages', pkg, 'src'))) {
        const rel = relative(root, file);
        for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
          if (IO_MODULES.test(spec)) offenders.push(`${rel}: ${spec}`);
        }
      }
      expect(offenders).toEqual([]);
    });

    it(`@ward/${pkg} depends only on pure workspace packages`, () => {
      const manifest = JSON.parse(
        readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8'),
      ) as { dependencies?: Record<string, string> };
      const ward = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@ward/'));
      expect(ward.filter((d) => !PURE.includes(d.slice('@ward/'.length)))).toEqual([]);
    });
  }

  it('the import scanner sees what it must', () => {
    expect(
      runtimeImports(
        "import { a } from 'node:fs';\nimport type { B } from 'node:http';\nexport { c } from 'undici';\nimport 'node:net';\nconst x = await import('node:https');",
      ),
    ).toEqual(['node:fs', 'undici', 'node:net', 'node:https']);
  });
});
