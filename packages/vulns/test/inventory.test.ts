import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  detectInventoryFormat,
  type InstalledPackage,
  readCycloneDx,
  readInventory,
  readNpmLockfile,
  readPnpmLockfile,
  readSpdx,
  readYarnBerryLockfile,
  readYarnClassicLockfile,
  VulnsError,
} from '../src/index.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'inventory');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const find = (ps: InstalledPackage[], name: string, version?: string) =>
  ps.filter((p) => p.name === name && (version === undefined || p.version === version));

function refusal(fn: () => unknown): VulnsError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VulnsError) return error;
    throw error;
  }
  throw new Error('expected a VulnsError');
}

describe('npm lockfiles', () => {
  it('reads a real v3 lockfile (feathers, 1,989 packages): paths, direct, dev, workspaces left out', () => {
    const inv = readInventory(fixture('feathers.package-lock.json'), 'feathers/package-lock.json');
    expect(inv.format).toBe('npm-v3');
    expect(inv.file).toBe('feathers/package-lock.json');
    expect(inv.packages).toHaveLength(1989);
    expect(find(inv.packages, 'express')).toEqual([
      {
        name: 'express',
        version: '4.18.3',
        path: 'node_modules/express',
        direct: true,
        dev: false,
      },
    ]);
    expect(find(inv.packages, 'lerna')[0]).toMatchObject({ direct: true, dev: true });
    // Two versions of mongodb: a workspace's own, and an older one nested under a dev tool.
    expect(find(inv.packages, 'mongodb').map((p) => [p.version, p.path, p.direct, p.dev])).toEqual([
      ['6.5.0', 'node_modules/mongodb', true, false],
      ['5.9.2', 'node_modules/mongodb-memory-server-core/node_modules/mongodb', false, true],
    ]);
    // The workspace packages (linked into node_modules) are the project's own code.
    expect(find(inv.packages, '@feathersjs/feathers')).toEqual([]);
    expect(inv.packages.some((p) => p.path === '' || !p.path.includes('node_modules/'))).toBe(
      false,
    );
  });

  it("reads this repository's own package-lock.json (workspaces and their links are not packages)", () => {
    const text = readFileSync(
      join(import.meta.dirname, '..', '..', '..', 'package-lock.json'),
      'utf8',
    );
    const inv = readInventory(text, 'package-lock.json');
    expect(inv.format).toBe('npm-v3');
    expect(inv.packages.length).toBeGreaterThan(100);
    expect(inv.packages.some((p) => p.name.startsWith('@ward/'))).toBe(false);
    // A workspace's dependency is direct, and not development-only.
    expect(
      find(inv.packages, 'semver').find((p) => p.path === 'node_modules/semver'),
    ).toMatchObject({
      direct: true,
      dev: false,
    });
    expect(find(inv.packages, 'vitest')[0]).toMatchObject({ direct: true, dev: true });
  });

  it('reads a v2 lockfile from its packages map', () => {
    const inv = readNpmLockfile(
      fixture('cyclonedx-package-integrity.package-lock.json'),
      'package-lock.json',
    );
    expect(inv.format).toBe('npm-v2');
    expect(inv.packages).toHaveLength(5);
    expect(inv.packages.every((p) => p.path.startsWith('node_modules/'))).toBe(true);
  });

  it('reads a small v3 lockfile with nested and dev packages', () => {
    const inv = readNpmLockfile(
      fixture('cyclonedx-with-prepared.package-lock.json'),
      'package-lock.json',
    );
    expect(inv.format).toBe('npm-v3');
    expect(inv.packages).toHaveLength(233);
    expect(inv.packages.filter((p) => p.dev)).toHaveLength(3);
  });

  it('v2/v3: workspace folders, links and bundled packages', () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'root', workspaces: ['packages/*'], devDependencies: { tap: '^1' } },
        'node_modules/@me/app': { resolved: 'packages/app', link: true },
        'packages/app': {
          name: '@me/app',
          version: '1.0.0',
          dependencies: { lodash: '^4', ms: '^1' },
        },
        'packages/app/node_modules/lodash': { version: '4.17.20' },
        'node_modules/lodash': { version: '4.17.21', dev: true },
        'node_modules/ms': { version: '1.0.0' },
        'node_modules/tap': { version: '1.2.3', dev: true },
        'node_modules/tap/node_modules/inner': { version: '0.1.0', dev: true, inBundle: true },
        'node_modules/alias': { name: 'real-pkg', version: '2.0.0' },
      },
    };
    const inv = readNpmLockfile(JSON.stringify(lock), 'package-lock.json');
    expect(inv.packages).toEqual([
      {
        name: 'lodash',
        version: '4.17.20',
        path: 'packages/app/node_modules/lodash',
        direct: true,
        dev: false,
      },
      { name: 'lodash', version: '4.17.21', path: 'node_modules/lodash', direct: false, dev: true },
      { name: 'ms', version: '1.0.0', path: 'node_modules/ms', direct: true, dev: false },
      { name: 'tap', version: '1.2.3', path: 'node_modules/tap', direct: true, dev: true },
      {
        name: 'inner',
        version: '0.1.0',
        path: 'node_modules/tap/node_modules/inner',
        direct: false,
        dev: true,
      },
      { name: 'real-pkg', version: '2.0.0', path: 'node_modules/alias', direct: false, dev: false },
    ]);
  });

  it('v1: the nested dependencies tree, aliases, and non-registry entries left out', () => {
    const lock = {
      name: 'old',
      lockfileVersion: 1,
      requires: true,
      dependencies: {
        debug: {
          version: '2.6.9',
          requires: { ms: '2.0.0' },
          dependencies: { ms: { version: '2.0.0' } },
        },
        ms: { version: '2.1.3', dev: true },
        'my-alias': { version: 'npm:left-pad@1.3.0' },
        'from-git': {
          version: 'git+https://github.com/a/b.git#0123456789abcdef',
          from: 'git+https://github.com/a/b.git',
        },
        local: { version: 'file:../local' },
      },
    };
    const inv = readInventory(JSON.stringify(lock), 'npm-shrinkwrap.json');
    expect(inv.format).toBe('npm-v1');
    expect(inv.packages).toEqual([
      { name: 'debug', version: '2.6.9', path: 'node_modules/debug', dev: false },
      { name: 'ms', version: '2.0.0', path: 'node_modules/debug/node_modules/ms', dev: false },
      { name: 'ms', version: '2.1.3', path: 'node_modules/ms', dev: true },
      { name: 'left-pad', version: '1.3.0', path: 'node_modules/my-alias', dev: false },
    ]);
  });

  it('refuses what is not a lockfile, naming the file and the entry or line', () => {
    let e = refusal(() =>
      readNpmLockfile(
        '{\n  "lockfileVersion": 3,\n  "packages": {\n    "x": \n}',
        'p/package-lock.json',
      ),
    );
    expect(e.code).toBe('VULNS_BAD_LOCKFILE');
    expect(e.file).toBe('p/package-lock.json');
    expect(e.at).toMatch(/^line [45]$/);
    expect(e.message).toContain('p/package-lock.json');

    e = refusal(() =>
      readNpmLockfile(
        '{"lockfileVersion":3,"packages":{"node_modules/a":{"resolved":"x"}}}',
        'package-lock.json',
      ),
    );
    expect(e.at).toBe('packages["node_modules/a"].version');

    e = refusal(() =>
      readNpmLockfile(
        '{"lockfileVersion":3,"packages":{"node_modules/a":{"version":"^1.0.0"}}}',
        'package-lock.json',
      ),
    );
    expect(e.message).toContain('"^1.0.0" is not exact');

    e = refusal(() => readNpmLockfile('{"lockfileVersion":4,"packages":{}}', 'package-lock.json'));
    expect(e.at).toBe('lockfileVersion');

    e = refusal(() =>
      readNpmLockfile(
        '{"lockfileVersion":1,"dependencies":{"a":{"version":"latest"}}}',
        'package-lock.json',
      ),
    );
    expect(e.at).toBe('dependencies["a"].version');
  });
});

describe('pnpm-lock.yaml', () => {
  it('reads a real 9.0 lockfile (typeorm, legacy-naming-strategies)', () => {
    const inv = readInventory(
      fixture('typeorm-legacy-naming-strategies.pnpm-lock.yaml'),
      'pnpm-lock.yaml',
    );
    expect(inv.format).toBe('pnpm');
    expect(inv.packages).toHaveLength(207);
    // Peer variants (`typeorm@1.0.0(ts-node@…)`) merge into one package.
    expect(find(inv.packages, 'typeorm')).toEqual([
      { name: 'typeorm', version: '1.0.0', path: 'typeorm@1.0.0', direct: true, dev: true },
    ]);
    // The project has only devDependencies: everything is development-only.
    expect(inv.packages.every((p) => p.dev === true)).toBe(true);
  });

  it('9.x: production reachability decides dev; links are left out; aliases resolve', () => {
    const text = `lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      express:
        specifier: ^4
        version: 4.21.2
      my-ms:
        specifier: npm:ms@^2
        version: ms@2.1.3
      local:
        specifier: link:../local
        version: link:../local
    devDependencies:
      vitest:
        specifier: ^4
        version: 4.1.12(@types/node@22.0.0)
packages:
  express@4.21.2:
    resolution: {integrity: sha512-a}
  ms@2.1.3:
    resolution: {integrity: sha512-b}
  debug@2.6.9:
    resolution: {integrity: sha512-c}
  vitest@4.1.12:
    resolution: {integrity: sha512-d}
  '@types/node@22.0.0':
    resolution: {integrity: sha512-e}
  tinyspy@4.0.0:
    resolution: {integrity: sha512-f}
snapshots:
  express@4.21.2:
    dependencies:
      debug: 2.6.9
  ms@2.1.3: {}
  debug@2.6.9:
    dependencies:
      ms: 2.1.3
  vitest@4.1.12(@types/node@22.0.0):
    dependencies:
      tinyspy: 4.0.0
      debug: 2.6.9
  '@types/node@22.0.0': {}
  tinyspy@4.0.0: {}
`;
    const inv = readPnpmLockfile(text, 'pnpm-lock.yaml');
    expect(inv.packages).toEqual([
      { name: 'express', version: '4.21.2', path: 'express@4.21.2', direct: true, dev: false },
      { name: 'ms', version: '2.1.3', path: 'ms@2.1.3', direct: true, dev: false },
      { name: 'debug', version: '2.6.9', path: 'debug@2.6.9', direct: false, dev: false },
      { name: 'vitest', version: '4.1.12', path: 'vitest@4.1.12', direct: true, dev: true },
      {
        name: '@types/node',
        version: '22.0.0',
        path: '@types/node@22.0.0',
        direct: false,
        dev: true,
      },
      { name: 'tinyspy', version: '4.0.0', path: 'tinyspy@4.0.0', direct: false, dev: true },
    ]);
  });

  it('6.x keys (/name@version(peer)) and the dev flag', () => {
    const text = `lockfileVersion: '6.0'
dependencies:
  react-dom:
    specifier: ^18
    version: 18.2.0(react@18.2.0)
devDependencies:
  '@babel/core':
    specifier: ^7
    version: 7.24.4
packages:
  /react-dom@18.2.0(react@18.2.0):
    resolution: {integrity: sha512-a}
    dev: false
  /react@18.2.0:
    resolution: {integrity: sha512-b}
    dev: false
  /@babel/core@7.24.4:
    resolution: {integrity: sha512-c}
    dev: true
  github.com/user/repo/0123456:
    resolution: {tarball: https://codeload.github.com/user/repo/tar.gz/0123456}
    name: from-github
    version: 0.3.0
    dev: false
`;
    const inv = readPnpmLockfile(text, 'pnpm-lock.yaml');
    expect(inv.packages).toEqual([
      { name: 'react-dom', version: '18.2.0', path: 'react-dom@18.2.0', direct: true, dev: false },
      { name: 'react', version: '18.2.0', path: 'react@18.2.0', direct: false, dev: false },
      {
        name: '@babel/core',
        version: '7.24.4',
        path: '@babel/core@7.24.4',
        direct: true,
        dev: true,
      },
      {
        name: 'from-github',
        version: '0.3.0',
        path: 'from-github@0.3.0',
        direct: false,
        dev: false,
      },
    ]);
  });

  it('5.x keys (/name/version_peer@x) with importers', () => {
    const text = `lockfileVersion: 5.4
importers:
  .:
    specifiers:
      '@scope/pkg': ^1.0.0
    dependencies:
      '@scope/pkg': 1.0.0_react@18.2.0
packages:
  /@scope/pkg/1.0.0_react@18.2.0:
    resolution: {integrity: sha512-a}
    dev: false
  /react/18.2.0:
    resolution: {integrity: sha512-b}
    dev: true
`;
    const inv = readPnpmLockfile(text, 'pnpm-lock.yaml');
    expect(inv.packages).toEqual([
      { name: '@scope/pkg', version: '1.0.0', path: '@scope/pkg@1.0.0', direct: true, dev: false },
      { name: 'react', version: '18.2.0', path: 'react@18.2.0', direct: false, dev: true },
    ]);
  });

  it('refuses bad YAML (with its line) and entries without a version', () => {
    let e = refusal(() =>
      readPnpmLockfile(
        "lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {\n  b: [\n",
        'pnpm-lock.yaml',
      ),
    );
    expect(e.code).toBe('VULNS_BAD_LOCKFILE');
    expect(e.at).toMatch(/^line \d+$/);
    e = refusal(() =>
      readPnpmLockfile("lockfileVersion: '9.0'\npackages:\n  just-a-name: {}\n", 'pnpm-lock.yaml'),
    );
    expect(e.at).toBe('packages["just-a-name"]');
    e = refusal(() => readPnpmLockfile("lockfileVersion: '3'\n", 'pnpm-lock.yaml'));
    expect(e.at).toBe('lockfileVersion');
  });
});

describe('yarn.lock', () => {
  it('reads a real yarn classic lockfile (hyper app): one entry per name@version', () => {
    const inv = readInventory(fixture('hyper-app.yarn.lock'), 'app/yarn.lock');
    expect(inv.format).toBe('yarn-classic');
    expect(inv.packages).toHaveLength(181);
    expect(
      find(inv.packages, 'semver')
        .map((p) => p.version)
        .sort(),
    ).toEqual(['5.7.1', '7.6.0']);
    expect(find(inv.packages, 'lodash')).toEqual([
      { name: 'lodash', version: '4.17.21', path: 'lodash@4.17.21' },
    ]);
  });

  it('yarn classic: aliases, merged keys, and errors with their line', () => {
    const text = `# yarn lockfile v1


"my-alias@npm:left-pad@^1.3.0":
  version "1.3.0"
  resolved "https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz"

ms@2.1.3, ms@^2.1.1:
  version "2.1.3"
`;
    expect(readYarnClassicLockfile(text, 'yarn.lock').packages).toEqual([
      { name: 'left-pad', version: '1.3.0', path: 'left-pad@1.3.0' },
      { name: 'ms', version: '2.1.3', path: 'ms@2.1.3' },
    ]);
    let e = refusal(() =>
      readYarnClassicLockfile(
        '# yarn lockfile v1\n\na@^1:\n  version "1.0.0"\n  x: y\n  z\n',
        'yarn.lock',
      ),
    );
    expect(e.code).toBe('VULNS_BAD_LOCKFILE');
    expect(e.at).toMatch(/^line \d+$/);
    e = refusal(() => readYarnClassicLockfile('a@^1:\n  resolved "x"\n', 'yarn.lock'));
    expect(e.at).toBe('"a@^1".version');
  });

  it('reads a real yarn berry lockfile (prettier bundle-test): the workspace is left out, its dependency is direct', () => {
    const inv = readInventory(fixture('prettier-bundle-test.yarn.lock'), 'yarn.lock');
    expect(inv.format).toBe('yarn-berry');
    expect(inv.packages).toHaveLength(70);
    expect(find(inv.packages, '@prettier/bundle-test')).toEqual([]);
    expect(find(inv.packages, 'webpack')).toEqual([
      { name: 'webpack', version: '5.108.4', path: 'webpack@5.108.4', direct: true },
    ]);
    expect(find(inv.packages, 'acorn')[0]?.direct).toBe(false);
  });

  it('yarn berry: patch: entries list the patched package once; links and portals are left out', () => {
    const text = `__metadata:
  version: 8
  cacheKey: 10c0

"root@workspace:.":
  version: 0.0.0-use.local
  resolution: "root@workspace:."
  dependencies:
    typescript: "npm:^5.4.0"
    local: "link:./local"
  languageName: unknown
  linkType: soft

"typescript@npm:^5.4.0":
  version: 5.4.5
  resolution: "typescript@npm:5.4.5"
  languageName: node
  linkType: hard

"typescript@patch:typescript@npm%3A^5.4.0#optional!builtin<compat/typescript>":
  version: 5.4.5
  resolution: "typescript@patch:typescript@npm%3A5.4.5#optional!builtin<compat/typescript>::version=5.4.5&hash=5adc0c"
  languageName: node
  linkType: hard

"local@link:./local::locator=root%40workspace%3A.":
  version: 0.0.0-use.local
  resolution: "local@link:./local::locator=root%40workspace%3A."
  languageName: node
  linkType: soft
`;
    expect(readYarnBerryLockfile(text, 'yarn.lock').packages).toEqual([
      { name: 'typescript', version: '5.4.5', path: 'typescript@5.4.5', direct: true },
    ]);
    const e = refusal(() =>
      readYarnBerryLockfile(
        '__metadata:\n  version: 8\n\n"a@npm:^1":\n  version: 1.0.0\n',
        'yarn.lock',
      ),
    );
    expect(e.at).toBe('"a@npm:^1".resolution');
  });
});

describe('SBOMs', () => {
  it('reads a real CycloneDX 1.6 SBOM (cyclonedx-npm demo): dev property, direct from dependencies', () => {
    const inv = readInventory(fixture('cyclonedx-dev-dependencies.bom.1.6.json'), 'bom.json');
    expect(inv.format).toBe('cyclonedx');
    expect(inv.packages).toEqual([
      {
        name: '@types/node',
        version: '20.14.10',
        path: 'node_modules/@types/node',
        direct: true,
        dev: true,
      },
      {
        name: '@types/uuid',
        version: '8.3.4',
        path: 'node_modules/@types/uuid',
        direct: true,
        dev: true,
      },
      {
        name: 'undici-types',
        version: '5.26.5',
        path: 'node_modules/undici-types',
        direct: false,
        dev: true,
      },
      { name: 'uuid', version: '8.3.2', path: 'node_modules/uuid', direct: true, dev: true },
      { name: 'uuidv4', version: '6.2.13', path: 'node_modules/uuidv4', direct: true, dev: false },
    ]);
  });

  it('reads nested components of a real CycloneDX 1.4 SBOM (bundled dependencies)', () => {
    const inv = readCycloneDx(fixture('cyclonedx-bundled-dependencies.bom.1.4.json'), 'bom.json');
    expect(inv.packages.length).toBe(52);
    expect(find(inv.packages, 'ansi-regex', '2.0.0')[0]?.path).toBe(
      'node_modules/bundle-dependencies/node_modules/ansi-regex',
    );
  });

  it('CycloneDX: other ecosystems are left out, duplicates merge, a component without a version is refused', () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      metadata: { component: { name: 'svc', 'bom-ref': 'svc' } },
      components: [
        { name: 'requests', version: '2.0.0', purl: 'pkg:pypi/requests@2.0.0' },
        { name: 'core', group: '@babel', purl: 'pkg:npm/%40babel/core@7.24.4', 'bom-ref': 'a' },
        {
          name: 'core',
          group: '@babel',
          purl: 'pkg:npm/%40babel/core@7.24.4?vcs_url=x#sub',
          'bom-ref': 'b',
        },
      ],
      dependencies: [{ ref: 'svc', dependsOn: ['b'] }],
    };
    expect(readCycloneDx(JSON.stringify(bom), 'bom.json').packages).toEqual([
      {
        name: '@babel/core',
        version: '7.24.4',
        path: '@babel/core@7.24.4',
        direct: true,
        dev: false,
      },
    ]);
    const e = refusal(() =>
      readCycloneDx(
        JSON.stringify({
          bomFormat: 'CycloneDX',
          specVersion: '1.6',
          components: [{ name: 'a', purl: 'pkg:npm/a' }],
        }),
        'bom.json',
      ),
    );
    expect(e.code).toBe('VULNS_BAD_SBOM');
    expect(e.at).toBe('components[0].version');
  });

  it("reads npm's own SPDX output (npm sbom): the described project is left out, path from packageFileName", () => {
    expect(
      readInventory(fixture('npm-sbom-docs-example.spdx.json'), 'sbom.spdx.json').packages,
    ).toEqual([{ name: 'lodash', version: '4.17.21', path: 'node_modules/lodash', direct: true }]);
    const inv = readSpdx(fixture('npm-cli-sbom-workspaces.spdx.json'), 'sbom.json');
    expect(inv.format).toBe('spdx');
    expect(inv.packages).toHaveLength(10);
    expect(find(inv.packages, 'baz')[0]).toMatchObject({ direct: false, dev: true });
    expect(find(inv.packages, 'foo')[0]).toMatchObject({ version: '1.1.1', direct: false });
    expect(find(inv.packages, 'foo')[0]?.dev).toBeUndefined();
  });

  it('SPDX: refuses a document of another version and a package without a version', () => {
    expect(refusal(() => readSpdx('{"spdxVersion":"SPDX-3.0"}', 'x.spdx.json')).at).toBe(
      'spdxVersion',
    );
    const e = refusal(() =>
      readSpdx(
        JSON.stringify({
          spdxVersion: 'SPDX-2.2',
          packages: [
            { name: 'a', externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:npm/a' }] },
          ],
        }),
        'x.spdx.json',
      ),
    );
    expect(e.code).toBe('VULNS_BAD_SBOM');
    expect(e.at).toBe('packages[0].versionInfo');
  });
});

describe('readInventory tells the format', () => {
  it('from the file name, else from the content', () => {
    const cases: [string, string, string | undefined][] = [
      ['fixtures/package-lock.json', 'feathers.package-lock.json', 'npm'],
      ['lock', 'feathers.package-lock.json', 'npm'],
      ['x/pnpm-lock.yaml', 'typeorm-legacy-naming-strategies.pnpm-lock.yaml', 'pnpm'],
      ['lock', 'typeorm-legacy-naming-strategies.pnpm-lock.yaml', 'pnpm'],
      ['yarn.lock', 'hyper-app.yarn.lock', 'yarn-classic'],
      ['lock', 'hyper-app.yarn.lock', 'yarn-classic'],
      ['yarn.lock', 'prettier-bundle-test.yarn.lock', 'yarn-berry'],
      ['lock', 'prettier-bundle-test.yarn.lock', 'yarn-berry'],
      ['sbom', 'cyclonedx-dev-dependencies.bom.1.6.json', 'cyclonedx'],
      ['app.cdx.json', 'cyclonedx-dev-dependencies.bom.1.6.json', 'cyclonedx'],
      ['sbom', 'npm-sbom-docs-example.spdx.json', 'spdx'],
      ['app.spdx.json', 'npm-sbom-docs-example.spdx.json', 'spdx'],
    ];
    for (const [file, name, format] of cases)
      expect([file, detectInventoryFormat(fixture(name), file)]).toEqual([file, format]);
  });

  it('refuses text it cannot place', () => {
    const e = refusal(() => readInventory('hello', 'notes.txt'));
    expect(e.code).toBe('VULNS_BAD_LOCKFILE');
    expect(e.file).toBe('notes.txt');
    expect(e.message).toContain('notes.txt');
  });
});
