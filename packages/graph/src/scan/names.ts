/**
 * Known service names and how text refers to them: a host (`cart`, `cart.shop.svc…`), an
 * environment-variable name (`CART_SERVICE_ADDR`, `PRODUCT_CATALOG_SERVICE_HOST`), or the name
 * itself. Also which service owns a file, from the directory layout of a monorepo.
 */

/** Lower-case letters and digits only: `PRODUCT_CATALOG_SERVICE` and `productcatalogservice` meet. */
export function squash(s: string): string {
  let out = '';
  const lower = s.toLowerCase();
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += lower[i];
  }
  return out;
}

/** Words a service name often ends with, which an environment variable may leave out. */
const NAME_SUFFIXES = ['service', 'svc', 'server', 'api'];

/** Endings of environment-variable names that hold an address (longest first). */
const ADDRESS_SUFFIXES = [
  '_SERVICE_HOST',
  '_SERVICE_PORT',
  '_SERVICE_ADDR',
  '_SERVICE_URL',
  '_BASE_URL',
  '_ADDRESS',
  '_HOSTNAME',
  '_ENDPOINT',
  '_ADDR',
  '_HOST',
  '_PORT',
  '_URL',
  '_URI',
  '_DSN',
  '_SERVER',
  '_SERVERS',
  '_BROKERS',
  '_BROKER',
];

/**
 * Technologies often named by protocol rather than by service: `AMQP_HOST` means the RabbitMQ
 * service, `MONGO_URL` the MongoDB one. Matched by substring of the squashed service name.
 */
const TECH_ALIASES: Record<string, string> = {
  amqp: 'rabbitmq',
  rabbit: 'rabbitmq',
  rabbitmq: 'rabbitmq',
  mongo: 'mongo',
  mongodb: 'mongo',
  redis: 'redis',
  valkey: 'valkey',
  mysql: 'mysql',
  postgres: 'postgres',
  postgresql: 'postgres',
  pg: 'postgres',
  kafka: 'kafka',
  nats: 'nats',
  elasticsearch: 'elasticsearch',
  memcached: 'memcached',
  zipkin: 'zipkin',
  jaeger: 'jaeger',
};

/** Top-level domains: `name.com` is a public host, not `name` in namespace `com`. */
const TLDS = new Set([
  'com',
  'org',
  'net',
  'io',
  'dev',
  'app',
  'cloud',
  'co',
  'edu',
  'gov',
  'info',
  'biz',
  'me',
  'ai',
  'us',
  'uk',
  'de',
  'fr',
  'local',
  'localhost',
  'internal',
  'example',
  'test',
  'js',
  'ts',
  'py',
  'go',
  'java',
  'json',
  'yaml',
  'yml',
  'html',
  'txt',
  'md',
]);

export class ServiceNames {
  private readonly names = new Set<string>();
  /** Squashed name or name without its suffix word → names (ambiguous when several). */
  private readonly variants = new Map<string, Set<string>>();
  private readonly exactSquash = new Map<string, Set<string>>();

  add(name: string): void {
    const lower = name.toLowerCase();
    if (lower === '' || this.names.has(lower)) return;
    this.names.add(lower);
    const sq = squash(lower);
    if (sq.length < 2) return;
    addTo(this.exactSquash, sq, lower);
    addTo(this.variants, sq, lower);
    for (const suffix of NAME_SUFFIXES) {
      if (sq.endsWith(suffix) && sq.length - suffix.length >= 2)
        addTo(this.variants, sq.slice(0, -suffix.length), lower);
    }
  }

  has(name: string): boolean {
    return this.names.has(name.toLowerCase());
  }

  list(): string[] {
    return [...this.names].sort();
  }

  get size(): number {
    return this.names.size;
  }

  /**
   * The service a host names: the name itself, `name.namespace`, or a cluster DNS name
   * `name.namespace.svc[.cluster.local]`. Public domains (`api.stripe.com`) are not services.
   */
  resolveHost(host: string): string | undefined {
    const lower = host.toLowerCase();
    if (this.names.has(lower)) return lower;
    const labels = lower.split('.');
    if (labels.length < 2 || !this.names.has(labels[0]!)) return undefined;
    if (labels.length >= 3 && labels[2] === 'svc') return labels[0];
    if (labels.length === 2 && !TLDS.has(labels[1]!)) return labels[0];
    return undefined;
  }

  /**
   * The service an environment-variable name points at, and whether the match was exact
   * (`CART_SERVICE_ADDR` → `cartservice`) or through a technology alias (`AMQP_HOST` →
   * `rabbitmq`). Only names ending in an address word (`_ADDR`, `_HOST`, `_URL`…) count.
   */
  resolveEnv(env: string): { name: string; via: 'name' | 'alias' } | undefined {
    for (const suffix of ADDRESS_SUFFIXES) {
      if (!env.endsWith(suffix) || env.length === suffix.length) continue;
      const base = squash(env.slice(0, -suffix.length));
      const exact = unique(this.exactSquash.get(base)) ?? unique(this.variants.get(base));
      if (exact) return { name: exact, via: 'name' };
      const tech = TECH_ALIASES[base];
      if (tech) {
        const hits = [...this.names].filter((n) => squash(n).includes(tech));
        if (hits.length === 1) return { name: hits[0]!, via: 'alias' };
      }
      return undefined;
    }
    return undefined;
  }
}

function addTo(map: Map<string, Set<string>>, key: string, name: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(name);
}

function unique(set: Set<string> | undefined): string | undefined {
  return set && set.size === 1 ? [...set][0] : undefined;
}

/** True for `CART_SERVICE_ADDR`-shaped names: upper-case words joined by `_`. */
export function isEnvName(s: string): boolean {
  if (s.length < 3 || s.length > 128) return false;
  let underscore = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 95) {
      if (i === 0) return false;
      underscore = true;
    } else if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57 && i > 0))) return false;
  }
  return underscore;
}

/** Files that make a directory a buildable unit (a service of a monorepo). */
const BUILD_MARKERS = new Set([
  'package.json',
  'go.mod',
  'pom.xml',
  'build.gradle',
  'build.gradle.kts',
  'requirements.txt',
  'pyproject.toml',
  'setup.py',
  'pipfile',
  'dockerfile',
  'composer.json',
  'gemfile',
  'cargo.toml',
]);

/** True for a file name that marks a service directory (`pom.xml`, `go.mod`, `*.csproj`…). */
export function isBuildMarker(fileName: string): boolean {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1).toLowerCase();
  return BUILD_MARKERS.has(base) || base.endsWith('.csproj');
}

/**
 * Directories of test code: what they name is a test's target, not a runtime dependency, and
 * a harness under them (`test/telemetry/`) is not a service.
 */
const TEST_DIRS = new Set(['test', 'tests', '__tests__', 'e2e', 'testdata', 'integration-tests']);

function isTestDir(dir: string): boolean {
  return TEST_DIRS.has(baseOf(dir).toLowerCase());
}

/** Directory names that are layout, not services: the service is the directory above. */
const GENERIC_DIRS = new Set([
  'src',
  'app',
  'lib',
  'main',
  'cmd',
  'server',
  'client',
  'java',
  'docker',
  'build',
  'dist',
  'target',
  'scripts',
  'source',
  'pkg',
  'internal',
  'code',
  'deploy',
  'resources',
  'html',
  'www',
  'public',
  'static',
]);

/**
 * Which service owns each file: the nearest directory holding a build marker (a Dockerfile,
 * `package.json`, `go.mod`, `pom.xml`, …) or named like a known service, skipping generic
 * layout names (`src`, `app`, `cmd`…). Test directories own nothing. A directory named
 * `spring-petclinic-customers-service`
 * joins the known service `customers-service` it ends with. The scan roots themselves own
 * nothing unless no other service directory exists (a single-service repository).
 */
export class Owners {
  private readonly dirs = new Map<string, string>();
  private readonly roots: string[];

  /**
   * `built` maps directories to the service built from them (Compose `build:` contexts): the
   * surest link between a directory and a service name.
   */
  constructor(
    roots: readonly string[],
    files: readonly string[],
    known: ServiceNames,
    built: ReadonlyMap<string, string> = new Map(),
  ) {
    this.roots = roots.map(trimSlash);
    const candidates = new Set<string>();
    for (const f of files) {
      const slash = f.lastIndexOf('/');
      const dir = slash < 0 ? '' : f.slice(0, slash);
      if (isBuildMarker(f)) candidates.add(dir);
      for (let d = dir; d !== ''; d = parentOf(d)) {
        if (known.has(baseOf(d))) candidates.add(d);
        if (this.roots.includes(d)) break;
      }
    }
    for (const dir of candidates) {
      if (this.underTests(dir)) continue;
      let d = dir;
      while (d !== '' && !this.roots.includes(d) && GENERIC_DIRS.has(baseOf(d).toLowerCase()))
        d = parentOf(d);
      if (d === '' || this.roots.includes(d)) continue;
      this.dirs.set(d, serviceNameOf(baseOf(d), known));
    }
    // A directory inside a service's own tree named like it (a Java package `…/payments`) is
    // the same service, not another one.
    for (const [dir, service] of this.dirs) {
      for (let d = parentOf(dir); d !== ''; d = parentOf(d)) {
        const outer = this.dirs.get(d);
        if (outer === undefined) continue;
        if (outer === service) this.dirs.delete(dir);
        break;
      }
    }
    for (const [dir, service] of built) {
      const d = trimSlash(dir);
      if (d !== '' && !this.roots.includes(d)) this.dirs.set(d, service.toLowerCase());
    }
    if (this.dirs.size === 0) {
      for (const r of this.roots)
        if (r !== '' && r !== '.') this.dirs.set(r, serviceNameOf(baseOf(r), known));
    }
  }

  /** Service directories and their service names. */
  entries(): [string, string][] {
    return [...this.dirs.entries()].sort();
  }

  /** The service owning `file`, if any; none for test code. */
  of(file: string): string | undefined {
    for (let d = parentOf(file); d !== ''; d = parentOf(d)) {
      const name = this.dirs.get(d);
      if (name !== undefined) return name;
      if (isTestDir(d)) return undefined;
    }
    return undefined;
  }

  /** True when `dir` lies in (or is) a test directory below the scan roots. */
  private underTests(dir: string): boolean {
    for (let d = dir; d !== '' && !this.roots.includes(d); d = parentOf(d))
      if (isTestDir(d)) return true;
    return false;
  }
}

function serviceNameOf(dirName: string, known: ServiceNames): string {
  const lower = dirName.toLowerCase();
  if (known.has(lower)) return lower;
  let best: string | undefined;
  for (const name of known.list()) {
    if (
      (lower.endsWith(`-${name}`) || lower.endsWith(`_${name}`)) &&
      name.length > (best?.length ?? 0)
    )
      best = name;
  }
  return best ?? lower;
}

/** `a/b/../c/./d` → `a/c/d`, for joining a Compose file's directory with its build context. */
export function joinPath(dir: string, rel: string): string {
  const parts: string[] = [];
  for (const part of `${rel.startsWith('/') ? '' : `${dir}/`}${rel}`.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else parts.push(part);
  }
  return `${dir.startsWith('/') || rel.startsWith('/') ? '/' : ''}${parts.join('/')}`;
}

function trimSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function parentOf(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash <= 0 ? '' : p.slice(0, slash);
}

function baseOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
