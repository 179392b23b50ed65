/**
 * `Gateway` + `Route` documents -> the immutable config the request pipeline reads. Pure: all
 * parsing, validation and JSON Schema compilation happen here, once per bundle, so a request
 * never meets a configuration error, and a bad document is refused before anything is swapped.
 */
import { BlockList, isIP } from 'node:net';
import { isCanonicalPath } from '@ward/policy';
import { canonicalServiceKey, defaultSpiffeId, serviceKey, splitServiceKey } from '@ward/spiffe';
import type { ErrorObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { RateLimitRule } from '../contracts.ts';
import { GatewayError } from '../errors.ts';
import { type Matchable, RouteTable } from './routes.ts';
import { schemaProblem } from './schema.ts';
import type { GatewayDocument, RouteAuth, RouteDocument } from './spec.ts';

export const DEFAULT_MAX_BODY_BYTES = 1_048_576;
export const DEFAULT_MAX_HEADER_BYTES = 16_384;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
export const DEFAULT_PASSPORT_TTL_SEC = 60;
/** Header lines per request; more is answered 431 (a flood of tiny headers costs per header). */
export const MAX_HEADER_COUNT = 100;

/** A JSON Schema check of a request body: undefined when valid, else bounded field errors. */
export type BodyValidator = (body: unknown) => { field: string; message: string }[] | undefined;

export interface CompiledRoute extends Matchable {
  /** Route key (`namespace/name`), as logs and rate-limit buckets name it. */
  readonly key: string;
  readonly auth: RouteAuth;
  readonly upstream: {
    /** Canonical service key of the upstream. */
    readonly service: string;
    /** Its SPIFFE ID by Ward's naming convention (what an https upstream must present). */
    readonly spiffeId: string;
    readonly endpoints: readonly URL[];
    readonly stripPrefix: boolean;
    readonly timeoutMs: number;
    readonly healthCheck?: { readonly path: string; readonly intervalMs: number };
  };
  readonly rateLimits: readonly RateLimitRule[];
  readonly validateBody?: BodyValidator;
  readonly document: RouteDocument;
}

export interface CompiledCors {
  /** `*` allowed (credentials are then never allowed). */
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly methods: ReadonlySet<string>;
  readonly headers: ReadonlySet<string>;
  /** Pre-joined header values. */
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly credentials: boolean;
  readonly maxAgeSec: number;
}

export interface GatewayConfig {
  /** The gateway's service key (`namespace/name`, or `name` in the default namespace). */
  readonly key: string;
  readonly namespace: string;
  readonly trustDomain: string;
  readonly document: GatewayDocument;
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly maxHeaderBytes: number;
    readonly maxHeaderCount: number;
    readonly requestTimeoutMs: number;
  };
  readonly passportTtlSec: number;
  readonly cors?: CompiledCors;
  readonly failureMode: 'open' | 'closed';
  readonly routes: readonly CompiledRoute[];
  /** True when `ip` (as the socket reports it) is in `trustedProxies`. */
  isTrustedProxy(ip: string | undefined): boolean;
  /** See RouteTable.match. */
  match(method: string, host: string | undefined, path: string): CompiledRoute | undefined;
}

const MAX_BODY_ERRORS = 10;

const invalid = (where: string, message: string): GatewayError<'GATEWAY_CONFIG_INVALID'> =>
  new GatewayError('GATEWAY_CONFIG_INVALID', `${where}: ${message}`);

const nameOf = (d: unknown): string => {
  const m = (d as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof m?.name === 'string' ? m.name.slice(0, 63) : '?';
  const ns = typeof m?.namespace === 'string' ? m.namespace.slice(0, 63) : 'default';
  return JSON.stringify(`${ns}/${name}`);
};

/**
 * Compiles a gateway's documents. `routeDocs` may hold routes of other gateways of the namespace:
 * only those whose `spec.gateway` names this one are used.
 *
 * @throws GatewayError `GATEWAY_CONFIG_INVALID` naming the document and field.
 */
export function compileGatewayConfig(
  gatewayDoc: unknown,
  routeDocs: readonly unknown[],
  options: { trustDomain: string },
): GatewayConfig {
  const where = `Gateway ${nameOf(gatewayDoc)}`;
  const problem = schemaProblem('Gateway', gatewayDoc);
  if (problem !== undefined) throw invalid(where, problem);
  const doc = gatewayDoc as GatewayDocument;
  const namespace = doc.metadata.namespace ?? 'default';
  const key = serviceKey(namespace, doc.metadata.name);
  const spec = doc.spec;
  const cors = spec.cors === undefined ? undefined : compileCors(spec.cors, where);
  const proxies = compileProxies(spec.trustedProxies ?? [], where);

  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  const routes: CompiledRoute[] = [];
  const seen = new Set<string>();
  for (const r of routeDocs) {
    const routeWhere = `Route ${nameOf(r)}`;
    const routeProblem = schemaProblem('Route', r);
    if (routeProblem !== undefined) throw invalid(routeWhere, routeProblem);
    const route = r as RouteDocument;
    const routeNs = route.metadata.namespace ?? 'default';
    if (routeNs !== namespace || route.spec.gateway !== doc.metadata.name) continue;
    const routeKey = serviceKey(routeNs, route.metadata.name);
    if (seen.has(routeKey)) throw invalid(routeWhere, 'metadata.name: duplicate route');
    seen.add(routeKey);
    routes.push(compileRoute(route, routeKey, namespace, options.trustDomain, ajv, routeWhere));
  }
  const table = new RouteTable(routes);
  return Object.freeze({
    key,
    namespace,
    trustDomain: options.trustDomain,
    document: doc,
    limits: Object.freeze({
      maxBodyBytes: spec.limits?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      maxHeaderBytes: spec.limits?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      maxHeaderCount: MAX_HEADER_COUNT,
      requestTimeoutMs: spec.limits?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    }),
    passportTtlSec: spec.passport?.ttlSec ?? DEFAULT_PASSPORT_TTL_SEC,
    ...(cors === undefined ? {} : { cors }),
    failureMode: spec.rateLimit?.failureMode ?? 'closed',
    routes: Object.freeze(routes),
    isTrustedProxy: (ip: string | undefined) => {
      if (proxies === undefined || ip === undefined) return false;
      const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
      const family = isIP(plain);
      return family !== 0 && proxies.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    },
    match: (method: string, host: string | undefined, path: string) =>
      table.match(method, host, path),
  });
}

function compileRoute(
  route: RouteDocument,
  key: string,
  namespace: string,
  trustDomain: string,
  ajv: Ajv2020,
  where: string,
): CompiledRoute {
  const { match, upstream } = route.spec;
  if ((match.path === undefined) === (match.pathPrefix === undefined)) {
    throw invalid(where, 'spec.match: exactly one of path and pathPrefix is required');
  }
  const path = match.path ?? match.pathPrefix!;
  if (!isCanonicalPath(path)) {
    throw invalid(
      where,
      `spec.match.${match.path === undefined ? 'pathPrefix' : 'path'}: ${JSON.stringify(path.slice(0, 64))} is not a canonical path (no query, dot segments, escapes to normalise or "//")`,
    );
  }
  const service = canonicalServiceKey(upstream.service, namespace);
  if (service === undefined) {
    throw invalid(
      where,
      `spec.upstream.service: ${JSON.stringify(upstream.service)} is not a service key`,
    );
  }
  const endpoints = upstream.endpoints.map((e, i) => {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw invalid(where, `spec.upstream.endpoints.${i}: not a URL`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      throw invalid(where, `spec.upstream.endpoints.${i}: must be http(s) without credentials`);
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw invalid(where, `spec.upstream.endpoints.${i}: must be an origin (no path or query)`);
    }
    return url;
  });
  let validateBody: BodyValidator | undefined;
  if (route.spec.requestSchema !== undefined) {
    let validate: ReturnType<Ajv2020['compile']>;
    try {
      validate = ajv.compile(route.spec.requestSchema);
    } catch (error) {
      throw invalid(where, `spec.requestSchema: ${(error as Error).message.slice(0, 300)}`);
    }
    validateBody = (body) => (validate(body) ? undefined : bodyErrors(validate.errors));
  }
  const ref = splitServiceKey(service);
  const methods = match.methods?.map((m) => (m.toUpperCase() === 'HEAD' ? 'GET' : m.toUpperCase()));
  return Object.freeze({
    key,
    ...(match.path === undefined ? { pathPrefix: match.pathPrefix! } : { path: match.path }),
    ...(methods === undefined ? {} : { methods: new Set(methods) }),
    ...(match.hosts === undefined
      ? {}
      : { hosts: new Set(match.hosts.map((h) => h.toLowerCase().replace(/\.$/, ''))) }),
    auth: route.spec.auth ?? 'required',
    upstream: Object.freeze({
      service,
      spiffeId: defaultSpiffeId(trustDomain, ref.namespace, ref.name),
      endpoints: Object.freeze(endpoints),
      stripPrefix: upstream.stripPrefix === true && match.pathPrefix !== undefined,
      timeoutMs: upstream.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      ...(upstream.healthCheck === undefined
        ? {}
        : {
            healthCheck: {
              path: upstream.healthCheck.path,
              intervalMs: upstream.healthCheck.intervalMs ?? 5000,
            },
          }),
    }),
    rateLimits: Object.freeze((route.spec.rateLimits ?? []).map((r) => Object.freeze({ ...r }))),
    ...(validateBody === undefined ? {} : { validateBody }),
    document: route,
  });
}

/** Ajv's errors, bounded in number and size: they go back to an untrusted caller. */
function bodyErrors(
  errors: ErrorObject[] | null | undefined,
): { field: string; message: string }[] {
  return (errors ?? []).slice(0, MAX_BODY_ERRORS).map((e) => ({
    field: (e.instancePath || '/').slice(0, 200),
    message: (e.message ?? 'invalid').slice(0, 200),
  }));
}

function compileCors(
  cors: NonNullable<GatewayDocument['spec']['cors']>,
  where: string,
): CompiledCors {
  const anyOrigin = cors.origins.includes('*');
  const credentials = cors.credentials === true;
  if (anyOrigin && credentials) {
    throw invalid(where, 'spec.cors.credentials: must be false when origins has "*"');
  }
  const methods = (cors.methods ?? ['GET', 'HEAD', 'POST']).map((m) => m.toUpperCase());
  const headers = (cors.headers ?? []).map((h) => h.toLowerCase());
  return Object.freeze({
    anyOrigin,
    origins: new Set(cors.origins.filter((o) => o !== '*').map((o) => o.toLowerCase())),
    methods: new Set(methods),
    headers: new Set(headers),
    allowMethods: methods.join(', '),
    allowHeaders: headers.join(', '),
    credentials,
    maxAgeSec: cors.maxAgeSec ?? 600,
  });
}

function compileProxies(list: readonly string[], where: string): BlockList | undefined {
  if (list.length === 0) return undefined;
  const blocks = new BlockList();
  list.forEach((entry, i) => {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (
      family === 0 ||
      extra !== undefined ||
      (bits !== undefined && !/^\d{1,3}$/.test(bits)) ||
      prefix > max
    ) {
      throw invalid(
        where,
        `spec.trustedProxies.${i}: ${JSON.stringify(entry)} is not an IP or CIDR`,
      );
    }
    blocks.addSubnet(address!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  });
  return blocks;
}
