import type { Inventory } from '../types.ts';
import {
  exactVersion,
  fail,
  isPackageName,
  isRecord,
  type Json,
  own,
  PackageSet,
  parseJson,
} from './shared.ts';

const CODE = 'VULNS_BAD_LOCKFILE';
const DEP_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

/**
 * Reads an npm `package-lock.json` or `npm-shrinkwrap.json`: lockfile version 1 (the nested
 * `dependencies` tree) and versions 2 and 3 (the `packages` map keyed by `node_modules` paths).
 * The project itself, workspace folders and links to them are not installed packages and are
 * left out. Version 1 entries that are not from a registry (git, file, tarball URLs) have no
 * exact version and are left out too.
 *
 * @example
 * const inv = readNpmLockfile(text, 'package-lock.json');
 * inv.packages.find((p) => p.name === 'lodash'); // { name, version, path: 'node_modules/lodash', direct, dev }
 */
export function readNpmLockfile(text: string, file: string): Inventory {
  const doc = parseJson(CODE, text, file);
  if (!isRecord(doc)) fail(CODE, file, 'a package-lock.json is a JSON object');
  const version = own(doc, 'lockfileVersion');
  if (version !== 1 && version !== 2 && version !== 3) {
    fail(
      CODE,
      file,
      `lockfileVersion ${JSON.stringify(version) ?? 'missing'} is not 1, 2 or 3`,
      'lockfileVersion',
    );
  }
  const packages = own(doc, 'packages');
  if (version !== 1 || packages !== undefined) {
    if (!isRecord(packages)) fail(CODE, file, '"packages" is not an object', 'packages');
    return readPackagesMap(packages, file, version === 1 ? 'npm-v2' : `npm-v${version}`);
  }
  const out = new PackageSet();
  const deps = own(doc, 'dependencies');
  if (deps !== undefined) readTree(deps, 'node_modules', 'dependencies', file, out);
  return out.inventory('npm-v1', file);
}

function readPackagesMap(packages: Json, file: string, format: string): Inventory {
  const entries = Object.entries(packages);
  // The projects that declare dependencies: the root ("") and each workspace folder.
  const importers: [string, Json][] = [];
  for (const [key, entry] of entries) {
    if (!isRecord(entry))
      fail(CODE, file, 'an entry is not an object', `packages[${JSON.stringify(key)}]`);
    if (key === '' || !isInstallPath(key)) importers.push([key, entry]);
  }
  const direct = new Set<string>();
  for (const [folder, entry] of importers) {
    for (const field of DEP_FIELDS) {
      const declared = own(entry, field);
      if (!isRecord(declared)) continue;
      for (const name of Object.keys(declared)) {
        const at = resolveFrom(packages, folder, name);
        if (at !== undefined) direct.add(at);
      }
    }
  }
  const out = new PackageSet();
  for (const [key, entry] of entries as [string, Json][]) {
    if (key === '' || !isInstallPath(key)) continue;
    if (own(entry, 'link') === true) continue;
    const at = `packages[${JSON.stringify(key)}]`;
    const named = own(entry, 'name');
    const name = typeof named === 'string' ? named : nameFromPath(key);
    if (name === undefined || !isPackageName(name))
      fail(CODE, file, 'the entry has no valid package name', at);
    const version = exactVersion(own(entry, 'version'));
    if (version === undefined) {
      fail(
        CODE,
        file,
        `the version ${JSON.stringify(own(entry, 'version')) ?? '(missing)'} is not exact`,
        `${at}.version`,
      );
    }
    out.add({ name, version, path: key, direct: direct.has(key), dev: own(entry, 'dev') === true });
  }
  return out.inventory(format, file);
}

function isInstallPath(key: string): boolean {
  return (
    key === 'node_modules' || key.startsWith('node_modules/') || key.includes('/node_modules/')
  );
}

/** The package name a `node_modules` path ends in (`a/node_modules/@s/b` gives `@s/b`). */
function nameFromPath(key: string): string | undefined {
  const i = key.lastIndexOf('node_modules/');
  if (i < 0) return undefined;
  const name = key.slice(i + 'node_modules/'.length);
  return name.length > 0 ? name : undefined;
}

/** Node's lookup: the folder's own node_modules, then each parent's. */
function resolveFrom(packages: Json, folder: string, name: string): string | undefined {
  let dir = folder;
  for (;;) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (Object.hasOwn(packages, candidate)) return candidate;
    if (dir === '') return undefined;
    const slash = dir.lastIndexOf('/');
    dir = slash < 0 ? '' : dir.slice(0, slash);
  }
}

function readTree(
  deps: unknown,
  base: string,
  at: string,
  file: string,
  out: PackageSet,
  depth = 0,
): void {
  if (!isRecord(deps)) fail(CODE, file, 'a "dependencies" field is not an object', at);
  // Deeper than any real tree; bounds the recursion on hostile input.
  if (depth > 256) fail(CODE, file, 'dependencies nest too deeply', at);
  for (const [key, entry] of Object.entries(deps)) {
    const where = `${at}[${JSON.stringify(key)}]`;
    if (!isRecord(entry)) fail(CODE, file, 'an entry is not an object', where);
    if (!isPackageName(key)) fail(CODE, file, 'not a package name', where);
    const path = `${base}/${key}`;
    const raw = own(entry, 'version');
    if (typeof raw !== 'string') fail(CODE, file, 'the entry has no version', `${where}.version`);
    let name = key;
    let version = exactVersion(raw);
    if (raw.startsWith('npm:')) {
      // An alias: `"version": "npm:real-name@1.2.3"`.
      const spec = raw.slice(4);
      const split = spec.lastIndexOf('@');
      name = split > 0 ? spec.slice(0, split) : '';
      version = split > 0 ? exactVersion(spec.slice(split + 1)) : undefined;
      if (!isPackageName(name) || version === undefined) {
        fail(
          CODE,
          file,
          `the alias ${JSON.stringify(raw)} names no exact version`,
          `${where}.version`,
        );
      }
    } else if (
      version === undefined &&
      !/^(?:file|git|git\+[a-z]+|github|https?|link):/.test(raw)
    ) {
      fail(CODE, file, `the version ${JSON.stringify(raw)} is not exact`, `${where}.version`);
    }
    if (version !== undefined) out.add({ name, version, path, dev: own(entry, 'dev') === true });
    const nested = own(entry, 'dependencies');
    if (nested !== undefined)
      readTree(nested, `${path}/node_modules`, `${where}.dependencies`, file, out, depth + 1);
  }
}
