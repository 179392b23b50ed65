import * as yarnLockfile from '@yarnpkg/lockfile';
import { stringifySyml } from '@yarnpkg/parsers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  type InstalledPackage,
  type Inventory,
  readCycloneDx,
  readInventory,
  readNpmLockfile,
  readPnpmLockfile,
  readSpdx,
  readYarnBerryLockfile,
  readYarnClassicLockfile,
  VulnsError,
} from '../src/index.ts';

const RUNS = { numRuns: 200 };

const lib = yarnLockfile as unknown as {
  stringify?: (o: unknown) => string;
  default?: { stringify?: (o: unknown) => string };
};
const stringifyLockfile = (lib.stringify ?? lib.default?.stringify)!;

type Reader = (text: string, file: string) => Inventory;
const READERS: [string, Reader, string][] = [
  ['readNpmLockfile', readNpmLockfile, 'package-lock.json'],
  ['readPnpmLockfile', readPnpmLockfile, 'pnpm-lock.yaml'],
  ['readYarnClassicLockfile', readYarnClassicLockfile, 'yarn.lock'],
  ['readYarnBerryLockfile', readYarnBerryLockfile, 'yarn.lock'],
  ['readCycloneDx', readCycloneDx, 'bom.cdx.json'],
  ['readSpdx', readSpdx, 'sbom.spdx.json'],
  ['readInventory', readInventory, 'input'],
];

/** Runs a reader; only a VulnsError naming the file may escape, and a result is well formed. */
function survives(read: Reader, text: string): void {
  let inv: Inventory;
  try {
    inv = read(text, 'fuzz-input');
  } catch (error) {
    if (!(error instanceof VulnsError)) throw error;
    expect(error.code).toMatch(/^VULNS_BAD_(LOCKFILE|SBOM)$/);
    expect(error.file).toBe('fuzz-input');
    expect(error.message).toContain('fuzz-input');
    return;
  }
  expect(inv.file).toBe('fuzz-input');
  for (const p of inv.packages) {
    expect(typeof p.name).toBe('string');
    expect(p.name.length).toBeGreaterThan(0);
    expect(typeof p.version).toBe('string');
    expect(typeof p.path).toBe('string');
  }
  const keys = inv.packages.map((p) => `${p.name}@${p.version}@${p.path}`);
  expect(new Set(keys).size).toBe(keys.length);
}

// Text that looks like each format, so the fuzzing gets past the first check.
const seeds = [
  '{"lockfileVersion":3,"packages":{"":{"dependencies":{"a":"1"}},"node_modules/a":{"version":"1.0.0"}}}',
  '{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"npm:c@2.0.0"}}}}}',
  "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: ^1\n        version: 1.0.0\npackages:\n  a@1.0.0:\n    resolution: {integrity: x}\nsnapshots:\n  a@1.0.0: {}\n",
  'lockfileVersion: 5.4\npackages:\n  /a/1.0.0_b@2.0.0:\n    dev: false\n',
  '# yarn lockfile v1\n\n"a@^1.0.0", a@1:\n  version "1.0.0"\n  resolved "https://r/a.tgz"\n',
  '__metadata:\n  version: 8\n\n"a@npm:^1":\n  version: 1.0.0\n  resolution: "a@npm:1.0.0"\n',
  '{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"a","purl":"pkg:npm/a@1.0.0","components":[{"purl":"pkg:npm/%40s/b@2.0.0"}]}]}',
  '{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"SPDXRef-a","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/a@1.0.0"}]}]}',
];

/** A seed with a slice replaced by random text: mostly-valid inputs with one defect. */
const mutated = fc
  .tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(8), fc.string({ maxLength: 8 }))
  .map(([seed, at, del, ins]) => {
    const i = at % (seed.length + 1);
    return seed.slice(0, i) + ins + seed.slice(i + del);
  });

describe('inventory readers take any text: an Inventory or a VulnsError', () => {
  for (const [name, read] of READERS) {
    it(`${name}: arbitrary text`, () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => survives(read, text)),
        RUNS,
      );
    });
    it(`${name}: one defect in a valid input`, () => {
      fc.assert(
        fc.property(mutated, (text) => survives(read, text)),
        RUNS,
      );
    });
    it(`${name}: valid JSON or YAML of random shape`, () => {
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (value, yaml) =>
          survives(read, yaml ? stringify(value) : JSON.stringify(value)),
        ),
        RUNS,
      );
    });
  }
});

// ---- generated valid inputs round-trip their packages ----

const segment = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const pkgName = fc.oneof(
  segment,
  fc.tuple(segment, segment).map(([s, n]) => `@${s}/${n}`),
);
const version = fc
  .tuple(
    fc.nat(30),
    fc.nat(30),
    fc.nat(30),
    fc.option(fc.constantFrom('beta.1', 'rc.2', 'alpha'), { nil: undefined }),
  )
  .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-${pre}`}`);
const spec = fc.record({ name: pkgName, version, direct: fc.boolean(), dev: fc.boolean() });
/** Packages with distinct names (one path each in a flat node_modules). */
const byName = fc.uniqueArray(spec, { selector: (p) => p.name, maxLength: 25 });
/** Packages with distinct name@version (several versions of a name allowed). */
const byVersion = fc.uniqueArray(spec, {
  selector: (p) => `${p.name}@${p.version}`,
  maxLength: 25,
});

const sortKey = (p: InstalledPackage) => `${p.name}@${p.version}@${p.path}`;
const sorted = (ps: InstalledPackage[]) =>
  [...ps].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
const nv = (ps: { name: string; version: string }[]) =>
  ps.map((p) => `${p.name}@${p.version}`).sort();

describe('generated lockfiles and SBOMs round-trip their packages', () => {
  it('npm v3 (and v2): name, version, path, direct and dev', () => {
    fc.assert(
      fc.property(byName, fc.constantFrom(2, 3), (pkgs, lockfileVersion) => {
        const root = {
          name: 'project',
          version: '1.0.0',
          dependencies: Object.fromEntries(
            pkgs.filter((p) => p.direct && !p.dev).map((p) => [p.name, `^${p.version}`]),
          ),
          devDependencies: Object.fromEntries(
            pkgs.filter((p) => p.direct && p.dev).map((p) => [p.name, p.version]),
          ),
        };
        const packages: Record<string, unknown> = { '': root };
        for (const p of pkgs)
          packages[`node_modules/${p.name}`] = {
            version: p.version,
            ...(p.dev ? { dev: true } : {}),
          };
        const inv = readInventory(
          JSON.stringify({ name: 'project', lockfileVersion, packages }),
          'x/package-lock.json',
        );
        expect(inv.format).toBe(`npm-v${lockfileVersion}`);
        expect(sorted(inv.packages)).toEqual(
          sorted(
            pkgs.map((p) => ({
              name: p.name,
              version: p.version,
              path: `node_modules/${p.name}`,
              direct: p.direct,
              dev: p.dev,
            })),
          ),
        );
      }),
      RUNS,
    );
  });

  it('npm v1: the nested dependencies tree', () => {
    fc.assert(
      fc.property(byName, byName, (top, nested) => {
        const [first, ...rest] = top;
        const entry = (p: { version: string; dev: boolean }) => ({
          version: p.version,
          ...(p.dev ? { dev: true } : {}),
        });
        const dependencies: Record<string, unknown> = Object.fromEntries(
          rest.map((p) => [p.name, entry(p)]),
        );
        if (first !== undefined) {
          dependencies[first.name] = {
            ...entry(first),
            dependencies: Object.fromEntries(nested.map((p) => [p.name, entry(p)])),
          };
        }
        const inv = readNpmLockfile(
          JSON.stringify({ lockfileVersion: 1, dependencies }),
          'package-lock.json',
        );
        const expected = [
          ...top.map((p) => ({
            name: p.name,
            version: p.version,
            path: `node_modules/${p.name}`,
            dev: p.dev,
          })),
          ...(first === undefined
            ? []
            : nested.map((p) => ({
                name: p.name,
                version: p.version,
                path: `node_modules/${first.name}/node_modules/${p.name}`,
                dev: p.dev,
              }))),
        ];
        expect(inv.format).toBe('npm-v1');
        expect(sorted(inv.packages)).toEqual(sorted(expected));
      }),
      RUNS,
    );
  });

  it('pnpm 9.x, 6.x and 5.x: name@version, direct, dev', () => {
    fc.assert(
      fc.property(byVersion, fc.constantFrom('9.0', '6.0', 5.4), (pkgs, lockfileVersion) => {
        const major = Number.parseInt(String(lockfileVersion), 10);
        const key = (p: { name: string; version: string }) =>
          major === 9
            ? `${p.name}@${p.version}`
            : major === 6
              ? `/${p.name}@${p.version}`
              : `/${p.name}/${p.version}`;
        // One direct entry per name (an importer lists a name once).
        const seen = new Set<string>();
        const direct = pkgs.filter((p) => p.direct && !seen.has(p.name) && seen.add(p.name));
        const ref = (p: { version: string }) =>
          major === 5 ? p.version : { specifier: `^${p.version}`, version: p.version };
        const importer = {
          dependencies: Object.fromEntries(
            direct.filter((p) => !p.dev).map((p) => [p.name, ref(p)]),
          ),
          devDependencies: Object.fromEntries(
            direct.filter((p) => p.dev).map((p) => [p.name, ref(p)]),
          ),
        };
        const packages = Object.fromEntries(
          pkgs.map((p) => [
            key(p),
            { resolution: { integrity: 'sha512-x' }, ...(major === 9 ? {} : { dev: p.dev }) },
          ]),
        );
        const doc: Record<string, unknown> = {
          lockfileVersion,
          importers: { '.': importer },
          packages,
        };
        if (major === 9) doc.snapshots = Object.fromEntries(pkgs.map((p) => [key(p), {}]));
        const inv = readInventory(stringify(doc), 'pnpm-lock.yaml');
        expect(inv.format).toBe('pnpm');
        const directKeys = new Set(direct.map((p) => `${p.name}@${p.version}`));
        expect(sorted(inv.packages)).toEqual(
          sorted(
            pkgs.map((p) => {
              const id = `${p.name}@${p.version}`;
              // 9.x: dev means not reachable from a production dependency (here: not a direct one).
              const dev = major === 9 ? !(directKeys.has(id) && !p.dev) : p.dev;
              return {
                name: p.name,
                version: p.version,
                path: id,
                direct: directKeys.has(id),
                dev,
              };
            }),
          ),
        );
      }),
      RUNS,
    );
  });

  it('yarn classic: name@version (written by @yarnpkg/lockfile)', () => {
    fc.assert(
      fc.property(byVersion, (pkgs) => {
        const object = Object.fromEntries(
          pkgs.map((p) => [
            `${p.name}@^${p.version}`,
            {
              version: p.version,
              resolved: `https://registry.npmjs.org/${p.name}/-/x-${p.version}.tgz`,
            },
          ]),
        );
        const text = `# yarn lockfile v1\n\n${stringifyLockfile(object)}`;
        const inv = readInventory(text, 'yarn.lock');
        expect(inv.format).toBe('yarn-classic');
        expect(nv(inv.packages)).toEqual(nv(pkgs));
        expect(
          inv.packages.every((p) => p.path === `${p.name}@${p.version}` && p.direct === undefined),
        ).toBe(true);
      }),
      RUNS,
    );
  });

  it('yarn berry: name@version, direct from the workspace (written by stringifySyml)', () => {
    fc.assert(
      fc.property(byVersion, (pkgs) => {
        const seen = new Set<string>();
        const direct = pkgs.filter((p) => p.direct && !seen.has(p.name) && seen.add(p.name));
        const doc: Record<string, unknown> = {
          __metadata: { version: 8, cacheKey: '10c0' },
          'project@workspace:.': {
            version: '0.0.0-use.local',
            resolution: 'project@workspace:.',
            dependencies: Object.fromEntries(direct.map((p) => [p.name, `npm:^${p.version}`])),
            languageName: 'unknown',
            linkType: 'soft',
          },
        };
        for (const p of pkgs) {
          doc[`${p.name}@npm:^${p.version}`] = {
            version: p.version,
            resolution: `${p.name}@npm:${p.version}`,
            languageName: 'node',
            linkType: 'hard',
          };
        }
        const inv = readInventory(stringifySyml(doc), 'yarn.lock');
        expect(inv.format).toBe('yarn-berry');
        expect(nv(inv.packages)).toEqual(nv(pkgs));
        const directKeys = new Set(direct.map((p) => `${p.name}@${p.version}`));
        for (const p of inv.packages)
          expect(p.direct).toBe(directKeys.has(`${p.name}@${p.version}`));
      }),
      RUNS,
    );
  });

  const purl = (p: { name: string; version: string }) =>
    `pkg:npm/${p.name.replace('@', '%40')}@${p.version}`;

  it('CycloneDX: nested components, direct and dev', () => {
    fc.assert(
      fc.property(byVersion, fc.constantFrom('1.4', '1.5', '1.6'), (pkgs, specVersion) => {
        const component = (p: (typeof pkgs)[number], i: number) => ({
          type: 'library',
          name: p.name,
          version: p.version,
          purl: purl(p),
          'bom-ref': `ref-${i}`,
          ...(p.dev
            ? { properties: [{ name: 'cdx:npm:package:development', value: 'true' }] }
            : {}),
        });
        const half = Math.floor(pkgs.length / 2);
        const outer = pkgs.slice(0, half).map(component);
        const inner = pkgs.slice(half).map((p, i) => component(p, half + i));
        if (outer[0] !== undefined) Object.assign(outer[0], { components: inner });
        const doc = {
          bomFormat: 'CycloneDX',
          specVersion,
          metadata: { component: { type: 'application', name: 'project', 'bom-ref': 'root' } },
          components: outer[0] === undefined ? inner : outer,
          dependencies: [
            { ref: 'root', dependsOn: pkgs.flatMap((p, i) => (p.direct ? [`ref-${i}`] : [])) },
          ],
        };
        const inv = readInventory(JSON.stringify(doc), 'bom.json');
        expect(inv.format).toBe('cyclonedx');
        expect(sorted(inv.packages)).toEqual(
          sorted(
            pkgs.map((p) => ({
              name: p.name,
              version: p.version,
              path: `${p.name}@${p.version}`,
              direct: p.direct,
              dev: p.dev,
            })),
          ),
        );
      }),
      RUNS,
    );
  });

  it('SPDX: packages with purls, direct and dev from relationships', () => {
    fc.assert(
      fc.property(byVersion, fc.constantFrom('SPDX-2.2', 'SPDX-2.3'), (pkgs, spdxVersion) => {
        const doc = {
          spdxVersion,
          SPDXID: 'SPDXRef-DOCUMENT',
          name: 'project',
          packages: [
            {
              SPDXID: 'SPDXRef-root',
              name: 'project',
              versionInfo: '1.0.0',
              externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:npm/project@1.0.0' }],
            },
            ...pkgs.map((p, i) => ({
              SPDXID: `SPDXRef-${i}`,
              name: p.name,
              versionInfo: p.version,
              externalRefs: [
                {
                  referenceCategory: 'PACKAGE-MANAGER',
                  referenceType: 'purl',
                  referenceLocator: purl(p),
                },
              ],
            })),
          ],
          relationships: [
            {
              spdxElementId: 'SPDXRef-DOCUMENT',
              relationshipType: 'DESCRIBES',
              relatedSpdxElement: 'SPDXRef-root',
            },
            ...pkgs.flatMap((p, i) =>
              !p.direct
                ? []
                : p.dev
                  ? [
                      {
                        spdxElementId: `SPDXRef-${i}`,
                        relationshipType: 'DEV_DEPENDENCY_OF',
                        relatedSpdxElement: 'SPDXRef-root',
                      },
                    ]
                  : [
                      {
                        spdxElementId: 'SPDXRef-root',
                        relationshipType: 'DEPENDS_ON',
                        relatedSpdxElement: `SPDXRef-${i}`,
                      },
                    ],
            ),
          ],
        };
        const inv = readInventory(JSON.stringify(doc), 'sbom.spdx.json');
        expect(inv.format).toBe('spdx');
        expect(sorted(inv.packages)).toEqual(
          sorted(
            pkgs.map((p) => ({
              name: p.name,
              version: p.version,
              path: `${p.name}@${p.version}`,
              direct: p.direct,
              ...(p.direct && p.dev ? { dev: true } : {}),
            })),
          ),
        );
      }),
      RUNS,
    );
  });
});
