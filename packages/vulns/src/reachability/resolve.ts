/**
 * Node's module resolution over a {@link FileSystem}: relative files with extensions and
 * `index.*`, package.json `exports` (conditions, subpaths, patterns), `imports` (`#x`), `main`,
 * and the `node_modules` lookup upward — never above the analysis root.
 */

import { dirname, type FileSystem, isInside, joinPath, packageOf } from './file_system.ts';

const BUILTINS = new Set(
  (
    'assert buffer child_process cluster console constants crypto dgram diagnostics_channel dns ' +
    'domain events fs http http2 https inspector module net os path perf_hooks process punycode ' +
    'querystring readline repl stream string_decoder sys timers tls trace_events tty url util v8 ' +
    'vm wasi worker_threads zlib async_hooks'
  ).split(' '),
);

export const EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.tsx', '.mts', '.cts', '.json'];
/** A TypeScript source imports `./x.js` and means `./x.ts`. */
const TS_TWINS: Record<string, string[]> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};

export type Resolution =
  | { kind: 'builtin' }
  | { kind: 'file'; path: string }
  /**
   * Not found; `packageName` when the specifier names a package, `pkgDir` when that package is
   * installed but the requested entry could not be resolved (exports conditions, unbuilt files).
   */
  | { kind: 'missing'; packageName?: string; pkgDir?: string };

export interface ResolveContext {
  fs: FileSystem;
  root: string;
  /** Extra conditions before Node's (`ward-source`, `development`). */
  conditions: string[];
  /** Parsed package.json files by path (undefined: none or unreadable). */
  manifests: Map<string, Record<string, unknown> | undefined>;
}

export function isBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return true;
  const top = specifier.split('/')[0] as string;
  return BUILTINS.has(top);
}

/** `@a/b/c` → [`@a/b`, `./c`]; `x` → [`x`, `.`]. */
export function splitPackageSpecifier(spec: string): [string, string] | undefined {
  const parts = spec.split('/');
  const count = spec.startsWith('@') ? 2 : 1;
  if (
    parts.length < count ||
    parts.slice(0, count).some((p) => p === '' || p === '.' || p === '..')
  )
    return undefined;
  const name = parts.slice(0, count).join('/');
  const rest = parts.slice(count).join('/');
  return [name, rest === '' ? '.' : `./${rest}`];
}

export function readManifest(
  ctx: ResolveContext,
  path: string,
): Record<string, unknown> | undefined {
  if (ctx.manifests.has(path)) return ctx.manifests.get(path);
  let manifest: Record<string, unknown> | undefined;
  const text = ctx.fs.isFile(path) ? ctx.fs.readFile(path) : undefined;
  if (text !== undefined) {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        manifest = value as Record<string, unknown>;
      }
    } catch {
      manifest = undefined;
    }
  }
  ctx.manifests.set(path, manifest);
  return manifest;
}

function inRoot(ctx: ResolveContext, path: string): boolean {
  return isInside(ctx.root, path);
}

function fileAt(ctx: ResolveContext, path: string): string | undefined {
  return inRoot(ctx, path) && ctx.fs.isFile(path) ? path : undefined;
}

/** A file as named, with an extension added, or its TypeScript twin. */
function asFile(ctx: ResolveContext, path: string): string | undefined {
  const exact = fileAt(ctx, path);
  if (exact !== undefined) return exact;
  for (const ext of EXTENSIONS) {
    const found = fileAt(ctx, path + ext);
    if (found !== undefined) return found;
  }
  const dot = path.lastIndexOf('.');
  if (dot > path.lastIndexOf('/')) {
    for (const twin of TS_TWINS[path.slice(dot)] ?? []) {
      const found = fileAt(ctx, path.slice(0, dot) + twin);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** A directory: its package.json `main`, then `index.*`. */
function asDirectory(ctx: ResolveContext, dir: string): string | undefined {
  const manifest = readManifest(ctx, `${dir}/package.json`);
  const main = manifest?.main;
  if (typeof main === 'string' && main !== '') {
    const path = joinPath(dir, main);
    const found = asFile(ctx, path) ?? asIndex(ctx, path);
    if (found !== undefined) return found;
  }
  return asIndex(ctx, dir);
}

function asIndex(ctx: ResolveContext, dir: string): string | undefined {
  for (const ext of EXTENSIONS) {
    const found = fileAt(ctx, `${dir}/index${ext}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function conditionsFor(ctx: ResolveContext, kind: 'import' | 'require'): Set<string> {
  return new Set([...ctx.conditions, kind, 'node', 'module-sync', 'default']);
}

/** Resolves an `exports`/`imports` target (string, array, conditions object). */
function resolveTarget(
  target: unknown,
  star: string | undefined,
  conditions: Set<string>,
  depth = 0,
): string | null | undefined {
  if (depth > 20) return undefined;
  if (typeof target === 'string') {
    return star === undefined ? target : target.split('*').join(star);
  }
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t, star, conditions, depth + 1);
      if (typeof r === 'string') return r;
    }
    return undefined;
  }
  if (target !== null && typeof target === 'object') {
    for (const [key, value] of Object.entries(target)) {
      if (!conditions.has(key)) continue;
      const r = resolveTarget(value, star, conditions, depth + 1);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  return target === null ? null : undefined;
}

/** Matches a subpath (`.`, `./x`, `#x`) against an exports/imports map. */
export function matchMap(
  map: unknown,
  subpath: string,
  conditions: Set<string>,
): string | null | undefined {
  const isSubpathMap =
    map !== null &&
    typeof map === 'object' &&
    !Array.isArray(map) &&
    Object.keys(map).some((k) => k.startsWith('.') || k.startsWith('#'));
  if (!isSubpathMap) return subpath === '.' ? resolveTarget(map, undefined, conditions) : undefined;
  const entries = map as Record<string, unknown>;
  if (Object.hasOwn(entries, subpath) && !subpath.includes('*')) {
    return resolveTarget(entries[subpath], undefined, conditions);
  }
  let best: { key: string; star: string } | undefined;
  for (const key of Object.keys(entries)) {
    const at = key.indexOf('*');
    if (at < 0) {
      // legacy folder mapping "./x/": "./y/"
      if (
        key.endsWith('/') &&
        subpath.startsWith(key) &&
        (best === undefined || key.length > best.key.length)
      ) {
        best = { key, star: subpath.slice(key.length) };
      }
      continue;
    }
    const head = key.slice(0, at);
    const tail = key.slice(at + 1);
    if (
      subpath.startsWith(head) &&
      subpath.length >= key.length - 1 &&
      subpath.endsWith(tail) &&
      (best === undefined || head.length > best.key.indexOf('*'))
    ) {
      best = { key, star: subpath.slice(head.length, subpath.length - tail.length) };
    }
  }
  if (best === undefined) return undefined;
  const target = entries[best.key];
  if (!best.key.includes('*')) {
    const r = resolveTarget(target, undefined, conditions);
    return typeof r === 'string' ? r + best.star : r;
  }
  return resolveTarget(target, best.star, conditions);
}

/** Resolves `specifier` as loaded by `from` with `kind` (import or require). */
export function resolveSpecifier(
  ctx: ResolveContext,
  specifier: string,
  from: string,
  kind: 'import' | 'require',
): Resolution {
  if (isBuiltin(specifier)) return { kind: 'builtin' };
  let spec = specifier;
  if (spec.startsWith('file://')) spec = spec.slice('file://'.length);
  const q = spec.search(/[?#]/);
  if (q > 0 && !spec.startsWith('#')) spec = spec.slice(0, q);
  if (
    spec.startsWith('./') ||
    spec.startsWith('../') ||
    spec === '.' ||
    spec === '..' ||
    spec.startsWith('/')
  ) {
    const path = spec.startsWith('/') ? joinPath(ctx.root, spec) : joinPath(dirname(from), spec);
    if (!inRoot(ctx, path)) return { kind: 'missing' };
    const found = asFile(ctx, path) ?? asDirectory(ctx, path);
    return found === undefined ? { kind: 'missing' } : { kind: 'file', path: found };
  }
  const conditions = conditionsFor(ctx, kind);
  if (spec.startsWith('#')) {
    const scope = nearestManifest(ctx, from);
    if (scope === undefined) return { kind: 'missing' };
    const target = matchMap(scope.manifest.imports, spec, conditions);
    if (typeof target !== 'string') return { kind: 'missing' };
    if (!target.startsWith('./')) return resolveSpecifier(ctx, target, from, kind);
    return fileResult(ctx, joinPath(scope.dir, target));
  }
  const split = splitPackageSpecifier(spec);
  if (split === undefined) return { kind: 'missing' };
  const [name, subpath] = split;
  // Self-reference and the node_modules lookup, from the importing file's folder upward.
  const own = packageOf(from);
  if (own?.name === name) {
    const r = fromPackageDir(ctx, own.dir, subpath, conditions);
    if (r !== undefined) return r;
  }
  let dir = dirname(from);
  for (;;) {
    if (!dir.endsWith('/node_modules')) {
      const pkgDir = joinPath(dir, 'node_modules', name);
      const r = fromPackageDir(ctx, pkgDir, subpath, conditions);
      if (r !== undefined) return r;
    }
    if (dir === ctx.root || !inRoot(ctx, dir) || dir === '/') break;
    dir = dirname(dir);
  }
  return { kind: 'missing', packageName: name };
}

function fileResult(ctx: ResolveContext, path: string): Resolution {
  if (!inRoot(ctx, path)) return { kind: 'missing' };
  const found = fileAt(ctx, path) ?? asFile(ctx, path);
  return found === undefined ? { kind: 'missing' } : { kind: 'file', path: found };
}

function installedMissing(pkgDir: string): Resolution {
  const packageName = packageOf(`${pkgDir}/x`)?.name;
  return packageName === undefined
    ? { kind: 'missing', pkgDir }
    : { kind: 'missing', packageName, pkgDir };
}

/** A package folder: undefined when it is not there (keep looking upward). */
function fromPackageDir(
  ctx: ResolveContext,
  pkgDir: string,
  subpath: string,
  conditions: Set<string>,
): Resolution | undefined {
  if (!inRoot(ctx, pkgDir)) return undefined;
  const manifest = readManifest(ctx, `${pkgDir}/package.json`);
  if (manifest === undefined) {
    // A folder without package.json still resolves files under it.
    const path = subpath === '.' ? pkgDir : joinPath(pkgDir, subpath);
    const found = asFile(ctx, path) ?? asIndex(ctx, path);
    return found === undefined ? undefined : { kind: 'file', path: found };
  }
  if (manifest.exports !== undefined && manifest.exports !== null) {
    const target = matchMap(manifest.exports, subpath, conditions);
    if (typeof target !== 'string' || !target.startsWith('./')) {
      // Not exported (or blocked): Node refuses the load too, so nothing behind it runs.
      return { kind: 'missing', packageName: packageOf(`${pkgDir}/x`)?.name ?? pkgDir };
    }
    const r = fileResult(ctx, joinPath(pkgDir, target));
    return r.kind === 'file' ? r : installedMissing(pkgDir);
  }
  const path = subpath === '.' ? pkgDir : joinPath(pkgDir, subpath);
  const found =
    subpath === '.' ? asDirectory(ctx, path) : (asFile(ctx, path) ?? asDirectory(ctx, path));
  return found === undefined ? installedMissing(pkgDir) : { kind: 'file', path: found };
}

function nearestManifest(
  ctx: ResolveContext,
  from: string,
): { dir: string; manifest: Record<string, unknown> } | undefined {
  let dir = dirname(from);
  for (;;) {
    const manifest = readManifest(ctx, `${dir}/package.json`);
    if (manifest !== undefined) return { dir, manifest };
    if (dir === ctx.root || dir === '/' || !inRoot(ctx, dir)) return undefined;
    dir = dirname(dir);
  }
}
