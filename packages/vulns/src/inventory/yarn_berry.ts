import { parseSyml } from '@yarnpkg/parsers';
import type { Inventory } from '../types.ts';
import {
  exactVersion,
  fail,
  isPackageName,
  isRecord,
  type Json,
  own,
  PackageSet,
} from './shared.ts';

const CODE = 'VULNS_BAD_LOCKFILE';

/**
 * Reads a yarn berry (2+) `yarn.lock` (with its `__metadata` block). Each package is listed once
 * per name@version (its path). Workspaces and local folders (`workspace:`, `link:`, `portal:`,
 * `file:`) are the project's own code and left out; a `patch:` of a registry package is listed as
 * that package. Direct: a workspace depends on it. The lockfile does not tell development
 * dependencies apart, so `dev` is not set.
 *
 * @example
 * readYarnBerryLockfile(text, 'yarn.lock').packages; // [{ name: 'tslib', version: '2.8.1', path: 'tslib@2.8.1', direct: true }, …]
 */
export function readYarnBerryLockfile(text: string, file: string): Inventory {
  let doc: Json;
  try {
    doc = parseSyml(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const line = /line (\d+)/i.exec(message)?.[1];
    fail(
      CODE,
      file,
      `not a yarn lockfile (${message.split('\n')[0]?.slice(0, 200)})`,
      line === undefined ? undefined : `line ${line}`,
      err,
    );
  }
  if (!isRecord(doc)) fail(CODE, file, 'not a yarn lockfile');
  if (!isRecord(own(doc, '__metadata')))
    fail(CODE, file, 'a yarn berry lockfile starts with __metadata', '__metadata');

  // Every descriptor (`a@npm:^1`) names the entry it resolved to.
  const entries = new Map<string, Json>();
  const byDescriptor = new Map<string, string>();
  for (const [key, entry] of Object.entries(doc)) {
    if (key === '__metadata') continue;
    if (!isRecord(entry)) fail(CODE, file, 'an entry is not a mapping', JSON.stringify(key));
    entries.set(key, entry);
    for (const descriptor of key.split(',')) byDescriptor.set(descriptor.trim(), key);
  }
  const resolved = new Map<string, { name: string; version: string } | undefined>();
  for (const [key, entry] of entries) resolved.set(key, identify(key, entry, file));
  const direct = new Set<string>();
  for (const [key, entry] of entries) {
    if (resolved.get(key) !== undefined || !/@workspace:/.test(String(own(entry, 'resolution'))))
      continue;
    for (const field of ['dependencies', 'optionalDependencies']) {
      const deps = own(entry, field);
      if (!isRecord(deps)) continue;
      for (const [name, range] of Object.entries(deps)) {
        const hit = byDescriptor.get(`${name}@${String(range)}`);
        const id = hit === undefined ? undefined : resolved.get(hit);
        if (id !== undefined) direct.add(`${id.name}@${id.version}`);
      }
    }
  }
  const out = new PackageSet();
  for (const id of resolved.values()) {
    if (id === undefined) continue;
    const path = `${id.name}@${id.version}`;
    out.add({ name: id.name, version: id.version, path, direct: direct.has(path) });
  }
  return out.inventory('yarn-berry', file);
}

/** The package an entry resolved to, or undefined for the project's own code. */
function identify(
  key: string,
  entry: Json,
  file: string,
): { name: string; version: string } | undefined {
  const at = JSON.stringify(key);
  const resolution = own(entry, 'resolution');
  if (typeof resolution !== 'string')
    fail(CODE, file, 'the entry has no resolution', `${at}.resolution`);
  const split = resolution.indexOf('@', 1);
  if (split < 0)
    fail(
      CODE,
      file,
      `the resolution ${JSON.stringify(resolution)} names no package`,
      `${at}.resolution`,
    );
  const name = resolution.slice(0, split);
  const reference = resolution.slice(split + 1);
  if (/^(?:workspace|link|portal|file):/.test(reference)) return undefined;
  if (!isPackageName(name))
    fail(CODE, file, `${JSON.stringify(name)} is not a package name`, `${at}.resolution`);
  const raw = own(entry, 'version');
  const version = exactVersion(typeof raw === 'number' ? String(raw) : raw);
  if (version === undefined) {
    // A `0.0.0-use.local` or similar placeholder marks local code too.
    fail(
      CODE,
      file,
      `the version ${JSON.stringify(raw) ?? '(missing)'} is not exact`,
      `${at}.version`,
    );
  }
  return { name, version };
}
