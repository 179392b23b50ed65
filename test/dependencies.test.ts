import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, importsUnder } from './_imports.ts';

/**
 * Issue 12 item 1: every package declares exactly what it imports. A package's source may
 * import only its `dependencies` and `peerDependencies`, and uses every one of them (an
 * installed package gets nothing else). Its tests may also use its `devDependencies`, each
 * imported by them, and the workspace toolchain in the root `devDependencies`. The root's own
 * files (test/, bench/, tools/) import only root devDependencies or workspace packages, and
 * every root devDependency is imported somewhere or is a tool listed below with where it is used.
 * A type-only import of `x` is declared by `@types/x` as well.
 */
const root = join(import.meta.dirname, '..');
type Manifest = {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};
const read = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
const keys = (...records: (Record<string, string> | undefined)[]): Set<string> =>
  new Set(records.flatMap((r) => Object.keys(r ?? {})));

const rootManifest = read(root);
const packages = readdirSync(join(root, 'packages')).map((name) => {
  const dir = join(root, 'packages', name);
  return { dir, manifest: read(dir) };
});
const workspaceNames = new Set(packages.map((p) => p.manifest.name));

/** Root devDependencies no file imports, and where each is used instead. */
const TOOLS: Record<string, { file: string; evidence: string }> = {
  '@biomejs/biome': { file: 'package.json', evidence: 'biome check' },
  typescript: { file: 'package.json', evidence: 'tsc -p tsconfig.json' },
  node: { file: 'test/package-purity.test.ts', evidence: "'node_modules', '.bin', 'node'" },
  '@types/node': { file: 'tsconfig.json', evidence: '"node"' },
  '@cerbos/cerbos-linux-x64': {
    file: 'bench/_middleware-fixture.ts',
    evidence: 'node_modules/@cerbos/cerbos-linux-x64',
  },
};

const declares = (declared: Set<string>, name: string): boolean =>
  declared.has(name) || declared.has(`@types/${name.replace(/^@(.*)\/(.*)$/, '$1__$2')}`);
const isUsed = (imported: Map<string, string>, dep: string): boolean => {
  const typed = dep.match(/^@types\/(.+)$/)?.[1]?.replace(/^(.*)__(.*)$/, '@$1/$2');
  return imported.has(dep) || (typed !== undefined && imported.has(typed));
};
const undeclared = (imported: Map<string, string>, declared: Set<string>, self: string) =>
  [...imported]
    .filter(([name]) => name !== self && !declares(declared, name))
    .map(([n, at]) => `${n} (${at.slice(root.length + 1)})`);

describe('declared dependencies', () => {
  for (const { dir, manifest } of packages) {
    const runtime = keys(manifest.dependencies, manifest.peerDependencies);
    const source = importsUnder(join(dir, 'src'), join(dir, 'bin'));
    // Build-time code (a web app under web/, its bundler's config) counts with the tests: it
    // uses devDependencies and never runs from an installed package.
    const tests = importsUnder(join(dir, 'test'), join(dir, 'web'), join(dir, 'vite.config.ts'));

    it(`${manifest.name}: its source imports only what it declares, and all of it`, () => {
      expect(undeclared(source, runtime, manifest.name)).toEqual([]);
      expect([...runtime].filter((dep) => !isUsed(source, dep))).toEqual([]);
    });

    it(`${manifest.name}: its tests import only declared packages, and use its devDependencies`, () => {
      const available = keys(
        manifest.dependencies,
        manifest.peerDependencies,
        manifest.devDependencies,
        rootManifest.devDependencies,
      );
      expect(undeclared(tests, available, manifest.name)).toEqual([]);
      const dev = Object.keys(manifest.devDependencies ?? {});
      expect(dev.filter((dep) => !isUsed(tests, dep))).toEqual([]);
    });
  }

  it('the root imports only its devDependencies and workspace packages', () => {
    const imported = importsUnder(join(root, 'test'), join(root, 'bench'), join(root, 'tools'));
    for (const [name, line] of importsOf(readFileSync(join(root, 'vitest.config.ts'), 'utf8'))) {
      imported.set(name, `${join(root, 'vitest.config.ts')}:${line}`);
    }
    const declared = new Set([...keys(rootManifest.devDependencies), ...workspaceNames]);
    expect(undeclared(imported, declared, rootManifest.name)).toEqual([]);
  });

  it('every root devDependency is imported somewhere in the repository, or is a listed tool', () => {
    const everywhere = importsUnder(
      join(root, 'test'),
      join(root, 'bench'),
      join(root, 'tools'),
      ...packages.flatMap(({ dir }) => [join(dir, 'src'), join(dir, 'test')]),
    );
    for (const [name] of importsOf(readFileSync(join(root, 'vitest.config.ts'), 'utf8'))) {
      everywhere.set(name, 'vitest.config.ts');
    }
    const unused = Object.keys({
      ...rootManifest.devDependencies,
      ...rootManifest.optionalDependencies,
    }).filter((dep) => !isUsed(everywhere, dep) && !TOOLS[dep]);
    expect(unused).toEqual([]);
    for (const [tool, { file, evidence }] of Object.entries(TOOLS)) {
      expect(readFileSync(join(root, file), 'utf8'), `${tool} is used by ${file}`).toContain(
        evidence,
      );
    }
  });
});

describe('the import scanner', () => {
  it('finds static, re-exported, side-effect, dynamic and required imports, not comments', () => {
    const text = readFileSync(join(import.meta.dirname, 'fixtures/imports-sample.txt'), 'utf8');
    expect([...importsOf(text).keys()].sort()).toEqual(
      ['@scope/one', 'five', 'four', 'six', 'three', 'two'].sort(),
    );
  });
});
