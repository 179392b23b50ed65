/**
 * Reachability of npm packages from a JavaScript/TypeScript service's entry points: follows the
 * static loads through the project and node_modules with Node's resolution, records per package
 * whether it loads and which exports its importers use, and answers per advisory with a verdict
 * a reviewer can check. Dynamic loads make what they could reach `unknown`, never `not-imported`.
 *
 * Assumption: a computed specifier with a relative literal start (`require('./locales/' + x)`)
 * stays in that folder; one with a bare start (`require('pino-' + x)`) reaches the packages so
 * named; one without a literal start (and non-literal `eval`/`new Function`) reaches anything.
 */

import type { Reachability } from '../types.ts';
import {
  dirname,
  type FileSystem,
  isInside,
  joinPath,
  normalizePath,
  packageOf,
  relativeTo,
} from './file_system.ts';
import { scanJs } from './js_scan.ts';
import { type Resolution, type ResolveContext, readManifest, resolveSpecifier } from './resolve.ts';
import type { ScanResult } from './sites.ts';
import { scanTokens } from './token_scan.ts';

export type { FileSystem } from './file_system.ts';

export interface AnalyzeOptions {
  fs: FileSystem;
  /** The project folder (absolute); nothing above it is read. */
  root: string;
  /** Entry files (absolute or root-relative); found from the root package.json when absent. */
  entries?: string[];
  /**
   * The service's package folder inside `root` (absolute or root-relative), whose package.json
   * gives the entries when `entries` is absent: a workspace member whose dependencies are
   * installed in the root's node_modules. Default: `root`.
   */
  packageDir?: string;
  /** Conditions tried before Node's (`import`/`require`, `node`, `module-sync`, `default`). */
  conditions?: string[];
  /** At most this many files are read (default 20,000). */
  maxFiles?: number;
  /** Files larger than this (characters; default 4 MiB) are not scanned. */
  maxFileSize?: number;
}

/** A load the analysis could not follow. */
export interface DynamicLoad {
  /** Root-relative file. */
  file: string;
  line: number;
  what: string;
  prefix?: string;
}

export interface ReachabilityIndex {
  /** Root-relative entry files analysed. */
  entries: string[];
  /** Files visited. */
  files: number;
  /** Set when a bound stopped the analysis (then unvisited packages are `unknown`). */
  boundHit?: string;
  /** Loads that could not be followed. */
  dynamic: DynamicLoad[];
  /** Names of the packages loaded. */
  loadedPackages(): string[];
  verdictFor(packageName: string, symbols?: string[]): Reachability;
}

interface PackageState {
  firstFile: string;
  files: Set<string>;
  names: Map<string, string>;
  all?: string;
  /** Usage inferred from member accesses or found by the token scanner. */
  heuristic: boolean;
}

const JS_LIKE = /\.(?:[cm]?[jt]sx?)$/;
const TS_LIKE = /\.(?:[cm]?ts|tsx)$/;

export function analyzeReachability(options: AnalyzeOptions): ReachabilityIndex {
  const { fs } = options;
  const root = normalizePath(options.root);
  const maxFiles = options.maxFiles ?? 20_000;
  const maxFileSize = options.maxFileSize ?? 4 * 1024 * 1024;
  const ctx: ResolveContext = {
    fs,
    root,
    conditions: options.conditions ?? [],
    manifests: new Map(),
  };
  const rel = (path: string): string => relativeTo(root, path);

  const entries = options.entries
    ? options.entries
        .map((e) => (e.startsWith('/') ? normalizePath(e) : joinPath(root, e)))
        .filter((e) => isInside(root, e) && fs.isFile(e))
    : findEntries(ctx, packageDirOf(root, options.packageDir));

  const parent = new Map<string, string | undefined>();
  const packages = new Map<string, PackageState>();
  const unresolved = new Map<string, string>();
  /** Installed packages whose entry could not be resolved (unbuilt, unknown condition), by folder. */
  const unfollowed = new Map<string, string>();
  const dynamic: (DynamicLoad & { pkgDir?: string })[] = [];
  const scanned = new Set<string>();
  /** Resolutions by folder, kind and specifier. */
  const resolved = new Map<string, Resolution>();
  let usedScanner = false;
  let boundHit: string | undefined;
  const queue: string[] = [];
  for (const e of entries) {
    if (!parent.has(e)) {
      parent.set(e, undefined);
      queue.push(e);
    }
  }

  const noteLoad = (path: string, from: string | undefined): PackageState | undefined => {
    const pkg = packageOf(path);
    if (pkg === undefined) return undefined;
    let state = packages.get(pkg.name);
    if (state === undefined) {
      state = { firstFile: path, files: new Set(), names: new Map(), heuristic: false };
      packages.set(pkg.name, state);
    }
    state.files.add(path);
    if (from !== undefined && packageOf(from)?.name === pkg.name) return undefined;
    return state;
  };
  for (const e of entries) noteLoad(e, undefined);

  for (let head = 0; head < queue.length; head++) {
    const file = queue[head] as string;
    if (scanned.size >= maxFiles) {
      boundHit = `the analysis stopped after ${maxFiles} files (maxFiles)`;
      break;
    }
    scanned.add(file);
    if (!JS_LIKE.test(file)) continue; // JSON, .node, assets: loaded, load nothing
    const text = fs.readFile(file);
    if (text === undefined) {
      boundHit ??= `${rel(file)} could not be read`;
      continue;
    }
    if (text.length > maxFileSize) {
      boundHit ??= `${rel(file)} is larger than ${maxFileSize} characters (maxFileSize) and was not scanned`;
      continue;
    }
    const result: ScanResult = TS_LIKE.test(file) ? scanTokens(text) : scanJs(text);
    if (result.method === 'scanner') usedScanner = true;
    const own = packageOf(file);
    for (const d of result.dynamic) {
      const load: DynamicLoad & { pkgDir?: string } = {
        file: rel(file),
        line: d.line,
        what: d.what,
      };
      if (d.prefix !== undefined) load.prefix = d.prefix;
      if (own !== undefined) {
        load.pkgDir = own.dir;
        const state = packages.get(own.name);
        if (state !== undefined)
          state.all ??= `${d.what} at ${rel(file)}:${d.line} loads any of its files`;
      }
      dynamic.push(load);
    }
    for (const site of result.imports) {
      const key = `${dirname(file)}\0${site.kind}\0${site.specifier}`;
      let r = resolved.get(key);
      if (r === undefined) {
        r = resolveSpecifier(ctx, site.specifier, file, site.kind);
        resolved.set(key, r);
      }
      if (r.kind === 'builtin') continue;
      if (r.kind === 'missing') {
        if (r.packageName !== undefined && !unresolved.has(r.packageName)) {
          unresolved.set(r.packageName, `${rel(file)}:${site.line}`);
        }
        if (r.pkgDir !== undefined && !unfollowed.has(r.pkgDir))
          unfollowed.set(r.pkgDir, `${rel(file)}:${site.line}`);
        continue;
      }
      if (!parent.has(r.path)) {
        parent.set(r.path, file);
        queue.push(r.path);
      }
      const state = noteLoad(r.path, file);
      if (state === undefined) continue;
      const where = `${rel(file)}:${site.line}`;
      if (site.inferred || result.method === 'scanner') state.heuristic = true;
      if (site.usage.kind === 'all') state.all ??= `${site.usage.why} (${where})`;
      else
        for (const name of site.usage.names)
          if (!state.names.has(name)) state.names.set(name, where);
      const sub = site.specifier
        .split('/')
        .slice(site.specifier.startsWith('@') ? 2 : 1)
        .join('/');
      if (sub !== '' && !site.specifier.startsWith('.')) state.names.set(sub, where);
    }
  }
  if (boundHit === undefined && queue.length > scanned.size) {
    boundHit = `the analysis stopped after ${maxFiles} files (maxFiles)`;
  }

  const trees = new Map<string, Set<string>>();
  const dependencyTree = (pkgDir: string): Set<string> => {
    let tree = trees.get(pkgDir);
    if (tree === undefined) {
      tree = dependencyTreeOf(ctx, pkgDir);
      tree.add(packageOf(`${pkgDir}/x`)?.name ?? '');
      trees.set(pkgDir, tree);
    }
    return tree;
  };
  const chainTo = (file: string): string[] => {
    const chain: string[] = [];
    for (
      let f: string | undefined = file;
      f !== undefined && chain.length < 1000;
      f = parent.get(f)
    ) {
      chain.unshift(rel(f));
    }
    return chain;
  };
  const entryText = entries.length === 0 ? 'no entry point' : entries.map(rel).join(', ');
  const index: ReachabilityIndex = {
    entries: entries.map(rel),
    files: scanned.size,
    dynamic: dynamic.map(({ pkgDir: _dir, ...d }) => d),
    loadedPackages: () => [...packages.keys()].sort(),
    verdictFor(name: string, symbols?: string[]): Reachability {
      if (entries.length === 0) {
        return {
          verdict: 'unknown',
          confidence: 'low',
          reason: `no entry point was found under ${root}`,
        };
      }
      const state = packages.get(name);
      if (state !== undefined) return loadedVerdict(name, state, symbols);
      if (boundHit !== undefined) {
        return {
          verdict: 'unknown',
          confidence: 'low',
          reason: `${boundHit}, so files not visited may load ${name}`,
        };
      }
      const missing = unresolved.get(name);
      if (missing !== undefined) {
        return {
          verdict: 'unknown',
          confidence: 'low',
          reason: `${missing} loads ${name} but it could not be resolved from there`,
        };
      }
      // An installed package that was not followed may load anything in its dependency tree.
      for (const [dir, where] of unfollowed) {
        if (dependencyTree(dir).has(name)) {
          return {
            verdict: 'unknown',
            confidence: 'low',
            reason: `${where} loads ${rel(dir)}, whose entry could not be resolved, and ${name} is in its dependency tree`,
          };
        }
      }
      const dyn = dynamic.find((d) => couldReach(d, name));
      if (dyn !== undefined) {
        return {
          verdict: 'unknown',
          confidence: 'medium',
          reason: `${dyn.what} at ${dyn.file}:${dyn.line} computes what it loads and could load ${name}`,
        };
      }
      const inDeps = dynamic.filter((d) => d.pkgDir !== undefined);
      const notes = [`${scanned.size} files followed`];
      if (usedScanner) notes.push('TypeScript read by the import scanner');
      if (inDeps.length > 0) {
        const first = inDeps[0] as DynamicLoad;
        notes.push(
          `${inDeps.length} computed load(s) inside dependencies, first ${first.what} at ${first.file}:${first.line}, taken to load only those dependencies' own dependency trees`,
        );
      }
      return {
        verdict: 'not-imported',
        confidence: usedScanner || inDeps.length > 0 ? 'medium' : 'high',
        reason: `no import chain from ${entryText} reaches ${name} (${notes.join('; ')})`,
      };
    },
  };
  if (boundHit !== undefined) index.boundHit = boundHit;
  return index;

  function loadedVerdict(
    name: string,
    state: PackageState,
    symbols: string[] | undefined,
  ): Reachability {
    const chain = chainTo(state.firstFile);
    const via = chain.join(' → ');
    const confidence = usedScanner ? 'medium' : 'high';
    if (symbols === undefined || symbols.length === 0) {
      return { verdict: 'reachable', confidence, reason: `${name} is loaded: ${via}`, chain };
    }
    if (state.all !== undefined) {
      return {
        verdict: 'reachable',
        confidence: 'medium',
        reason: `${name} is loaded and any of its exports may be used: ${state.all}`,
        chain,
      };
    }
    for (const symbol of symbols) {
      const where = state.names.get(symbol) ?? fileUse(name, state, symbol);
      if (where !== undefined) {
        return {
          verdict: 'reachable',
          confidence: state.heuristic ? 'medium' : confidence,
          reason: `${name}'s \`${symbol}\` is used at ${where} (loaded via ${via})`,
          chain,
        };
      }
    }
    if (boundHit !== undefined) {
      return {
        verdict: 'unknown',
        confidence: 'low',
        reason: `${name} is loaded but ${boundHit}, so not every use of ${symbols.join(', ')} was seen`,
        chain,
      };
    }
    const used = [...state.names.keys()].slice(0, 8).join(', ');
    return {
      verdict: 'imported-unused',
      confidence: 'medium',
      reason: `${name} is loaded (${via}) but no importer uses ${symbols.join(', ')}${used ? ` (uses: ${used})` : ''}`,
      chain,
    };
  }

  /** A symbol naming a module path inside the package (`lib/parse.js`) matches a loaded file. */
  function fileUse(name: string, state: PackageState, symbol: string): string | undefined {
    const wanted = symbol.replace(/^\.?\//, '').replace(/\.[cm]?[jt]s$/, '');
    if (!wanted.includes('/') && !/\.[cm]?[jt]s$/.test(symbol)) return undefined;
    for (const file of state.files) {
      const pkg = packageOf(file);
      if (pkg?.name !== name) continue;
      const inner = file.slice(pkg.dir.length + 1).replace(/\.[cm]?[jt]s$/, '');
      if (inner === wanted) return `${rel(file)} (loaded)`;
    }
    return undefined;
  }

  function couldReach(d: DynamicLoad & { pkgDir?: string }, name: string): boolean {
    // A dependency's computed load is taken to reach its own dependency tree only.
    if (d.pkgDir !== undefined && !dependencyTree(d.pkgDir).has(name)) return false;
    if (d.prefix === undefined) return true;
    const p = d.prefix;
    if (p.startsWith('.') || p.startsWith('/')) {
      const dir = joinPath(
        dirname(joinPath(root, d.file)),
        p.endsWith('/') ? p : dirname(`./${p}`),
      );
      return dir.includes(`/node_modules/${name}`) || p.includes('node_modules');
    }
    return name.startsWith(p) || p.startsWith(`${name}/`);
  }
}

/**
 * Names in the dependency tree of the package at `pkgDir` (its `dependencies`,
 * `optionalDependencies`, `peerDependencies`, transitively, as installed under the root).
 */
function dependencyTreeOf(ctx: ResolveContext, pkgDir: string, limit = 10_000): Set<string> {
  const names = new Set<string>();
  const seenDirs = new Set<string>([pkgDir]);
  const queue = [pkgDir];
  for (let head = 0; head < queue.length && seenDirs.size < limit; head++) {
    const dir = queue[head] as string;
    const manifest = readManifest(ctx, `${dir}/package.json`);
    if (manifest === undefined) continue;
    const declared = new Set<string>();
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      const deps = manifest[field];
      if (deps !== null && typeof deps === 'object')
        for (const n of Object.keys(deps)) declared.add(n);
    }
    for (const dep of declared) {
      names.add(dep);
      const found = installedDir(ctx, dir, dep);
      if (found !== undefined && !seenDirs.has(found)) {
        seenDirs.add(found);
        queue.push(found);
      }
    }
  }
  return names;
}

/** Where `name` is installed as seen from `dir` (the node_modules lookup upward). */
function installedDir(ctx: ResolveContext, dir: string, name: string): string | undefined {
  for (let d = dir; isInside(ctx.root, d); d = dirname(d)) {
    if (!d.endsWith('/node_modules')) {
      const candidate = joinPath(d, 'node_modules', name);
      if (readManifest(ctx, `${candidate}/package.json`) !== undefined) return candidate;
    }
    if (d === ctx.root || d === '/') break;
  }
  return undefined;
}

/** Entry files from the root package.json (`main`, `module`, `bin`, `exports`), else index.*. */
function packageDirOf(root: string, dir: string | undefined): string {
  if (dir === undefined) return root;
  const abs = dir.startsWith('/') ? normalizePath(dir) : joinPath(root, dir);
  return isInside(root, abs) ? abs : root;
}

function findEntries(ctx: ResolveContext, dir: string): string[] {
  const manifest = readManifest(ctx, `${dir}/package.json`);
  const targets: string[] = [];
  const start = manifest !== undefined ? startScript(manifest.scripts) : undefined;
  const collect = (value: unknown, depth = 0): void => {
    if (depth > 20) return;
    if (typeof value === 'string') targets.push(value);
    else if (Array.isArray(value)) for (const v of value) collect(v, depth + 1);
    else if (value !== null && typeof value === 'object') {
      for (const v of Object.values(value)) collect(v, depth + 1);
    }
  };
  if (manifest !== undefined) {
    collect(manifest.main);
    collect(manifest.module);
    collect(manifest.bin);
    collect(manifest.exports);
    collect(start?.file);
  }
  const found: string[] = [];
  const from = `${dir}/package.json`;
  // Modules preloaded with -r/--import run too: specifiers resolved from the package, as Node does.
  const preloads: string[] = [];
  for (const p of start?.preload ?? []) {
    const r = resolveSpecifier(ctx, p.specifier, from, p.kind);
    if (r.kind === 'file') preloads.push(r.path);
  }
  const withPreloads = (files: string[]) => [
    ...files,
    ...preloads.filter((p, i) => !files.includes(p) && preloads.indexOf(p) === i),
  ];
  for (const t of targets) {
    if (t.includes('*')) continue;
    const spec = t.startsWith('./') || t.startsWith('../') ? t : `./${t}`;
    const r = resolveSpecifier(ctx, spec, from, 'import');
    if (r.kind === 'file' && !found.includes(r.path)) found.push(r.path);
  }
  if (found.length > 0) return withPreloads(found);
  for (const candidate of [
    'index.js',
    'index.mjs',
    'index.cjs',
    'index.ts',
    'src/index.ts',
    'src/index.js',
  ]) {
    const path = joinPath(dir, candidate);
    if (ctx.fs.isFile(path)) return withPreloads([path]);
  }
  // Preloads alone are not the service: without its own entry every verdict stays unknown.
  return [];
}

/** Node options whose value is the next word (`-r dotenv/config`), and what a preload loads as. */
const VALUE_OPTIONS: Record<string, 'require' | 'import' | undefined> = {
  '-r': 'require',
  '--require': 'require',
  '--import': 'import',
  '--loader': 'import',
  '--experimental-loader': 'import',
  '-C': undefined,
  '--conditions': undefined,
  '--env-file': undefined,
  '--env-file-if-exists': undefined,
  '--input-type': undefined,
  '--inspect-port': undefined,
  '--title': undefined,
};

interface StartScript {
  file?: string;
  preload: { specifier: string; kind: 'require' | 'import' }[];
}

/**
 * What `scripts.start` runs with node (`node app.js`, `NODE_OPTIONS=… node --flag ./bin/www`,
 * `npm run build && node -r dotenv/config dist/server.js`): the file, and the modules preloaded
 * with `-r`/`--import`, which run too. A service often has no `main`, only a start script.
 */
function startScript(scripts: unknown): StartScript | undefined {
  if (scripts === null || typeof scripts !== 'object') return undefined;
  const start = (scripts as Record<string, unknown>).start;
  if (typeof start !== 'string') return undefined;
  for (const command of start.split(/&&|\|\||;/)) {
    const words = command.trim().split(/\s+/);
    let i = 0;
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++; // VAR=value
    if (words[i] !== 'node' && words[i] !== 'nodemon') continue;
    const out: StartScript = { preload: [] };
    for (i++; i < words.length; i++) {
      const word = words[i]!;
      if (!word.startsWith('-')) {
        out.file = word;
        break;
      }
      const eq = word.indexOf('=');
      const option = eq < 0 ? word : word.slice(0, eq);
      if (!Object.hasOwn(VALUE_OPTIONS, option)) continue;
      const value = eq < 0 ? words[++i] : word.slice(eq + 1);
      const kind = VALUE_OPTIONS[option];
      if (kind !== undefined && value !== undefined && value !== '')
        out.preload.push({ specifier: value, kind });
    }
    return out;
  }
  return undefined;
}
