import { parseDocument } from 'yaml';
import type { Inventory } from '../types.ts';
import {
  exactVersion,
  fail,
  isPackageName,
  isRecord,
  type Json,
  lineOf,
  own,
  PackageSet,
} from './shared.ts';

const CODE = 'VULNS_BAD_LOCKFILE';
const PROD_FIELDS = ['dependencies', 'optionalDependencies'];

/**
 * Reads a `pnpm-lock.yaml` of lockfile versions 5.x (`/name/1.0.0_peer@2.0.0` keys), 6.x
 * (`/name@1.0.0(peer@2.0.0)`) and 9.x (`name@1.0.0` in `packages`, with peers in `snapshots`).
 * Each package is listed once per name@version (its path); peer variants merge. Direct: an
 * importer (the project or a workspace) declares it. Development-only: the lockfile's `dev` flag
 * (5.x, 6.x), else not reachable from any importer's `dependencies` or `optionalDependencies`.
 * Packages that are not from a registry and record no version (`link:`, folders) are left out.
 *
 * @example
 * readPnpmLockfile(text, 'pnpm-lock.yaml').packages; // [{ name: 'yaml', version: '2.9.1', path: 'yaml@2.9.1', direct: true, dev: false }, …]
 */
export function readPnpmLockfile(text: string, file: string): Inventory {
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    const at =
      error.linePos?.[0] !== undefined
        ? `line ${error.linePos[0].line}`
        : lineOf(text, error.pos[0]);
    fail(CODE, file, `not YAML (${error.message.split('\n')[0]})`, at, error);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    fail(
      CODE,
      file,
      `not a usable YAML document (${err instanceof Error ? err.message : String(err)})`,
      undefined,
      err,
    );
  }
  if (!isRecord(root)) fail(CODE, file, 'a pnpm lockfile is a YAML mapping');
  const rawVersion = own(root, 'lockfileVersion');
  const major = Number.parseInt(String(rawVersion), 10);
  if (!(major === 5 || major === 6 || major === 7 || major === 9)) {
    fail(
      CODE,
      file,
      `lockfileVersion ${JSON.stringify(rawVersion) ?? 'missing'} is not 5.x, 6.x or 9.x`,
      'lockfileVersion',
    );
  }

  const packages = optionalMap(root, 'packages', file);
  const snapshots = optionalMap(root, 'snapshots', file);
  const importers = importersOf(root, file);

  // name@version → what the lockfile says of it; several keys (peer variants) may share one.
  const nodes = new Map<
    string,
    { name: string; version: string; dev?: boolean; deps: Set<string>; at: string }
  >();
  const visit = (section: string, key: string, entry: unknown): void => {
    const at = `${section}[${JSON.stringify(key)}]`;
    if (entry !== null && !isRecord(entry)) fail(CODE, file, 'an entry is not a mapping', at);
    const body: Json = isRecord(entry) ? entry : {};
    const id = identify(key, body, major);
    if (id === undefined) {
      if (isLocal(key)) return;
      fail(CODE, file, 'the entry names no package with an exact version', at);
    }
    const nodeKey = `${id.name}@${id.version}`;
    let node = nodes.get(nodeKey);
    if (node === undefined) {
      node = { name: id.name, version: id.version, deps: new Set(), at };
      nodes.set(nodeKey, node);
    }
    const dev = own(body, 'dev');
    if (typeof dev === 'boolean') node.dev = node.dev === undefined ? dev : node.dev && dev;
    for (const field of PROD_FIELDS) {
      const deps = own(body, field);
      if (deps === undefined || deps === null) continue;
      if (!isRecord(deps)) fail(CODE, file, `"${field}" is not a mapping`, `${at}.${field}`);
      for (const [name, ref] of Object.entries(deps)) {
        const target = reference(name, ref, major);
        if (target !== undefined) node.deps.add(target);
      }
    }
  };
  for (const [key, entry] of Object.entries(packages)) visit('packages', key, entry);
  for (const [key, entry] of Object.entries(snapshots)) visit('snapshots', key, entry);

  const direct = new Set<string>();
  const prodRoots: string[] = [];
  for (const [importer, body] of Object.entries(importers)) {
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
      const deps = own(body, field);
      if (deps === undefined || deps === null) continue;
      if (!isRecord(deps))
        fail(
          CODE,
          file,
          `"${field}" is not a mapping`,
          `importers[${JSON.stringify(importer)}].${field}`,
        );
      for (const [name, spec] of Object.entries(deps)) {
        // 6.x and 9.x: { specifier, version }; 5.x: the version itself.
        const ref = isRecord(spec) ? own(spec, 'version') : spec;
        const target = reference(name, ref, major);
        if (target === undefined) continue;
        direct.add(target);
        if (field !== 'devDependencies') prodRoots.push(target);
      }
    }
  }
  const prod = new Set<string>();
  const stack = [...prodRoots];
  for (let key = stack.pop(); key !== undefined; key = stack.pop()) {
    if (prod.has(key)) continue;
    prod.add(key);
    const node = nodes.get(key);
    if (node !== undefined) for (const dep of node.deps) if (!prod.has(dep)) stack.push(dep);
  }

  const out = new PackageSet();
  for (const [key, node] of nodes) {
    out.add({
      name: node.name,
      version: node.version,
      path: key,
      direct: direct.has(key),
      dev: node.dev ?? !prod.has(key),
    });
  }
  return out.inventory('pnpm', file);
}

function optionalMap(root: Json, field: string, file: string): Json {
  const value = own(root, field);
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) fail(CODE, file, `"${field}" is not a mapping`, field);
  return value;
}

function importersOf(root: Json, file: string): Record<string, Json> {
  const importers = own(root, 'importers');
  if (importers === undefined || importers === null) return { '.': root };
  if (!isRecord(importers)) fail(CODE, file, '"importers" is not a mapping', 'importers');
  const out: Record<string, Json> = {};
  for (const [key, body] of Object.entries(importers)) {
    if (body === null) continue;
    if (!isRecord(body))
      fail(CODE, file, 'an importer is not a mapping', `importers[${JSON.stringify(key)}]`);
    out[key] = body;
  }
  return out;
}

function isLocal(key: string): boolean {
  return (
    /(?:^|@)(?:link|file|workspace):/.test(key) ||
    key.startsWith('file:') ||
    key.startsWith('link:')
  );
}

/** `(peer@1.0.0)` suffixes (6.x, 9.x) and `_peer@1.0.0` suffixes (5.x) removed. */
function stripPeers(ref: string, major: number): string {
  const paren = ref.indexOf('(');
  let out = paren >= 0 ? ref.slice(0, paren) : ref;
  if (major === 5) {
    const underscore = out.indexOf('_');
    if (underscore >= 0) out = out.slice(0, underscore);
  }
  return out;
}

/** A package key's name and exact version, or undefined when it has none. */
function identify(
  key: string,
  body: Json,
  major: number,
): { name: string; version: string } | undefined {
  const parsed = parseKey(key, major);
  const named = own(body, 'name');
  const versioned = exactVersion(own(body, 'version'));
  const name = typeof named === 'string' && isPackageName(named) ? named : parsed?.name;
  const version = parsed?.version ?? versioned;
  if (name === undefined || version === undefined) return undefined;
  return { name, version };
}

/** `/a/1.0.0_p@1` (5.x), `/a@1.0.0(p@1)` (6.x), `a@1.0.0(p@1)` (9.x). */
function parseKey(key: string, major: number): { name: string; version: string } | undefined {
  const bare = stripPeers(key.startsWith('/') ? key.slice(1) : key, major);
  if (major === 5) {
    const slash = bare.lastIndexOf('/');
    if (slash <= 0) return undefined;
    const name = bare.slice(0, slash);
    const version = exactVersion(bare.slice(slash + 1));
    return isPackageName(name) && version !== undefined ? { name, version } : undefined;
  }
  const at = bare.indexOf('@', 1);
  if (at < 0) return undefined;
  const name = bare.slice(0, at);
  const version = exactVersion(bare.slice(at + 1));
  return isPackageName(name) && version !== undefined ? { name, version } : undefined;
}

/** What a dependency reference points at, as name@version; undefined for links and the like. */
function reference(name: string, ref: unknown, major: number): string | undefined {
  if (typeof ref !== 'string' && typeof ref !== 'number') return undefined;
  const text = String(ref);
  const version = exactVersion(stripPeers(text, major));
  if (version !== undefined && isPackageName(name)) return `${name}@${version}`;
  // An alias or a non-registry package, written as a package key.
  const id = parseKey(text, major);
  return id === undefined ? undefined : `${id.name}@${id.version}`;
}
