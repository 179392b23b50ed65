/**
 * The route table: which route serves a (method, host, canonical path). Exact paths first (a map),
 * then prefixes longest first; among equals, a route that names hosts before one that takes any.
 * Paths here are canonical (@ward/policy `tryCanonicalRequest`), so the path matched is the path
 * decided on and the path forwarded.
 */

/** What the table needs of a route. */
export interface Matchable {
  readonly path?: string;
  readonly pathPrefix?: string;
  /** Upper-case, HEAD folded into GET; undefined = any. */
  readonly methods?: ReadonlySet<string>;
  /** Lower-case host names without port; undefined = any. */
  readonly hosts?: ReadonlySet<string>;
}

export class RouteTable<R extends Matchable> {
  readonly #exact = new Map<string, R[]>();
  readonly #prefixes: R[];

  constructor(routes: readonly R[]) {
    const prefixes: R[] = [];
    for (const r of routes) {
      if (r.path !== undefined) {
        const list = this.#exact.get(r.path) ?? [];
        list.push(r);
        this.#exact.set(r.path, list);
      } else {
        prefixes.push(r);
      }
    }
    for (const list of this.#exact.values()) list.sort(byHosts);
    this.#prefixes = prefixes.sort(
      (a, b) => b.pathPrefix!.length - a.pathPrefix!.length || byHosts(a, b),
    );
  }

  /**
   * The route for a request, or undefined. `method` canonical (upper-case, HEAD as GET), `host`
   * from `hostOf` (undefined when the request has none: only host-less routes match), `path`
   * canonical without query.
   */
  match(method: string, host: string | undefined, path: string): R | undefined {
    const exact = this.#exact.get(path);
    if (exact !== undefined) {
      for (const r of exact) if (admits(r, method, host)) return r;
    }
    for (const r of this.#prefixes) {
      if (prefixMatches(r.pathPrefix!, path) && admits(r, method, host)) return r;
    }
    return undefined;
  }
}

/**
 * A prefix matches on segment boundaries: `/api/` matches `/api/x`; `/api` matches `/api` and
 * `/api/x` but not `/apix` (which a plain `startsWith` would hand to the wrong upstream).
 */
export function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return (
    path.length === prefix.length ||
    prefix.charCodeAt(prefix.length - 1) === 0x2f ||
    path.charCodeAt(prefix.length) === 0x2f
  );
}

function admits(r: Matchable, method: string, host: string | undefined): boolean {
  if (r.methods !== undefined && !r.methods.has(method)) return false;
  if (r.hosts !== undefined && (host === undefined || !r.hosts.has(host))) return false;
  return true;
}

function byHosts(a: Matchable, b: Matchable): number {
  return (a.hosts === undefined ? 1 : 0) - (b.hosts === undefined ? 1 : 0);
}

const HOST_NAME = /^[a-z0-9.-]{1,253}$/;
const IPV6 = /^\[[0-9a-f:.]{2,45}\]$/;

/**
 * The host of a `Host` header: lower-cased, port stripped; undefined when absent or malformed (a
 * hostile Host never matches a host-restricted route, and is never echoed anywhere).
 */
export function hostOf(header: string | undefined): string | undefined {
  if (header === undefined || header.length === 0 || header.length > 260) return undefined;
  let host = header.toLowerCase();
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf(']');
    if (close < 0) return undefined;
    const rest = host.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    host = host.slice(0, close + 1);
    return IPV6.test(host) ? host : undefined;
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) return undefined;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return HOST_NAME.test(host) ? host : undefined;
}
