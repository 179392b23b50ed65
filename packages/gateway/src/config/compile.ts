/**
 * `Gateway` + `Route` documents -> the immutable config the request pipeline reads. Pure: all
 * parsing, validation and JSON Schema compilation happen here, once per bundle, so a request
 * never meets a configuration error, and a bad document is refused before anything is swapped.
 */
import { BlockList, isIP } from 'node:net';
import {
  type CompiledRequestSchema,
  compileRequestSchema,
  type GatewayCors,
  type GatewayDocument,
  isCanonicalPath,
  type PolicyDocument,
  type RouteAuth,
  type RouteDocument,
  routeGatewayKey,
  routeUpstreamKey,
  tryCompile,
} from '@ward/policy';
import { defaultSpiffeId, serviceKey, splitServiceKey } from '@ward/spiffe';
import type { RateLimitRule } from '../contracts.ts';
import { GatewayError } from '../errors.ts';
import { type Matchable, RouteTable } from './routes.ts';

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
  const doc = validated<GatewayDocument>('Gateway', gatewayDoc, where, options.trustDomain);
  const namespace = doc.metadata.namespace ?? 'default';
  const key = serviceKey(namespace, doc.metadata.name);
  const spec = doc.spec;
  const cors = spec.cors === undefined ? undefined : compileCors(spec.cors);
  const proxies = compileProxies(spec.trustedProxies ?? []);

  const routes: CompiledRoute[] = [];
  const seen = new Set<string>();
  for (const r of routeDocs) {
    const routeWhere = `Route ${nameOf(r)}`;
    const route = validated<RouteDocument>('Route', r, routeWhere, options.trustDomain);
    if (routeGatewayKey(route) !== key) continue;
    const routeKey = serviceKey(namespace, route.metadata.name);
    if (seen.has(routeKey)) throw invalid(routeWhere, 'metadata.name: duplicate route');
    seen.add(routeKey);
    routes.push(compileRoute(route, routeKey, options.trustDomain, routeWhere));
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

/**
 * `document` checked as @ward/policy checks it when it is applied (schema, then the kind's
 * semantic checks): one source of truth, and the gateway still refuses what it cannot use rather
 * than trusting that the control plane did.
 */
function validated<D extends GatewayDocument | RouteDocument>(
  kind: D['kind'],
  document: unknown,
  where: string,
  trustDomain: string,
): D {
  const d = document as { kind?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.kind !== kind) {
    throw invalid(where, `kind: must be ${kind}`);
  }
  const { diagnostics } = tryCompile([{ document: d as PolicyDocument, file: where, index: 0 }], {
    trustDomain,
  });
  const error = diagnostics.find((x) => x.severity === 'error');
  if (error !== undefined) {
    const at = error.path === '' ? '(document)' : error.path.slice(1).replaceAll('/', '.');
    throw invalid(where, `${at}: ${error.message.slice(0, 500)}`);
  }
  return d as D;
}

function compileRoute(
  route: RouteDocument,
  key: string,
  trustDomain: string,
  where: string,
): CompiledRoute {
  const { match, upstream } = route.spec;
  const path = match.path ?? match.pathPrefix!;
  if (!isCanonicalPath(path)) {
    throw invalid(
      where,
      `spec.match.${match.path === undefined ? 'pathPrefix' : 'path'}: ${JSON.stringify(path.slice(0, 64))} is not a canonical path (no query, dot segments, escapes to normalise or "//")`,
    );
  }
  const service = routeUpstreamKey(route);
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
    const compiled = compileRequestSchema(route.spec.requestSchema);
    if (!compiled.ok) throw invalid(where, `spec.requestSchema: ${compiled.message}`);
    const { validate } = compiled;
    validateBody = (body) => {
      try {
        return validate(body) ? undefined : bodyErrors(validate.errors);
      } catch {
        // A body nested deeper than the validator's stack (a recursive schema): refused as a
        // bad request, never a 502 or a crash.
        return [{ field: '/', message: 'the body is nested too deeply to validate' }];
      }
    };
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
  errors: Extract<CompiledRequestSchema, { ok: true }>['validate']['errors'],
): { field: string; message: string }[] {
  return (errors ?? []).slice(0, MAX_BODY_ERRORS).map((e) => ({
    field: (e.instancePath || '/').slice(0, 200),
    message: (e.message ?? 'invalid').slice(0, 200),
  }));
}

/** A validated `spec.cors` (@ward/policy refuses `*` with credentials) in lookup form. */
function compileCors(cors: GatewayCors): CompiledCors {
  const anyOrigin = cors.origins.includes('*');
  const credentials = cors.credentials === true;
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

/** Validated `spec.trustedProxies` (@ward/policy `cidrProblem` checked each) as a BlockList. */
function compileProxies(list: readonly string[]): BlockList | undefined {
  if (list.length === 0) return undefined;
  const blocks = new BlockList();
  for (const entry of list) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    blocks.addSubnet(
      address,
      bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits),
      family,
    );
  }
  return blocks;
}
