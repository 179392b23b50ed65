/**
 * Semantic checks of schema-valid `Gateway` and `Route` documents, and the keys the control plane
 * and the gateway derive from them. These kinds carry no rules: `compile` checks them (so a bad
 * one never reaches a bundle) and otherwise ignores them; the gateway reads them from its bundle.
 *
 * Everything here guards the edge, where input is hostile: issuers must be https (a token
 * fetched over plain http is a token anyone on the path can mint), algorithms exclude `none` and
 * the HMAC family (a public JWK used as an HMAC secret is the classic JWT confusion attack),
 * upstream URLs carry no credentials, and a CORS `*` never goes with credentials.
 */
import { methodProblem } from './http-methods.ts';
import { canonicalServiceKey, documentKey, documentNamespace, serviceKey } from './namespace.ts';
import { DEFAULT_PASSPORT_MAX_LIFETIME_SEC } from './passport-use.ts';
import { isCanonicalPath } from './request/canonical.ts';
import { compileRequestSchema } from './request-schema.ts';
import type { GatewayDocument, RouteDocument, ServiceDocument, SourcedDocument } from './types.ts';

/** How a check reports a problem: a code, the JSON pointer at fault, and a message. */
export type ReportProblem = (code: string, path: string, message: string) => void;

/** JWS algorithms a Gateway may accept: asymmetric ones only. */
export const GATEWAY_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]);

/** The algorithms of an issuer that names none. */
export const DEFAULT_GATEWAY_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256',
  'PS256',
  'ES256',
  'EdDSA',
]);

/** The key of a Gateway: its service's key (`shop/edge`). */
export function gatewayKey(gateway: Pick<GatewayDocument, 'metadata'>): string {
  return documentKey(gateway);
}

/** The key of the gateway a Route belongs to: `<namespace>/<spec.gateway>` (or the bare name). */
export function routeGatewayKey(route: Pick<RouteDocument, 'metadata' | 'spec'>): string {
  return serviceKey(documentNamespace(route), route.spec.gateway);
}

/**
 * The key of a Route's upstream service (`spec.upstream.service`, relative to the route's
 * namespace), or undefined when it is not a service reference.
 */
export function routeUpstreamKey(
  route: Pick<RouteDocument, 'metadata' | 'spec'>,
): string | undefined {
  return canonicalServiceKey(route.spec.upstream.service, documentNamespace(route));
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Printable ASCII without space: what a URL in a document may hold (no hidden characters). */
const URL_TEXT = /^[\x21-\x7e]+$/;
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Why `text` is not an acceptable absolute URL, or undefined. `httpsOnly`: plain http only for a
 * loopback host (tests and the demo run a loopback identity provider).
 */
export function urlProblem(text: string, httpsOnly: boolean): string | undefined {
  if (!URL_TEXT.test(text)) return `"${text}" must be a URL of printable characters, no spaces`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not an absolute URL`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `"${text}" must be an https${httpsOnly ? '' : ' or http'} URL`;
  }
  if (url.hostname === '') return `"${text}" has no host`;
  if (url.username !== '' || url.password !== '' || text.includes('@')) {
    return `"${text}" must not carry user information (credentials belong in no document)`;
  }
  if (text.includes('?') || text.includes('#')) {
    return `"${text}" must not have a query or a fragment`;
  }
  if (httpsOnly && url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    return `"${text}" must be https (http only for 127.0.0.1, localhost or [::1])`;
  }
  return undefined;
}

/** Why `text` is not an IP address or CIDR (`10.0.0.0/8`, `fd00::/8`), or undefined. */
export function cidrProblem(text: string): string | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefix = slash === -1 ? undefined : text.slice(slash + 1);
  let bits: number;
  if (IPV4.test(address)) bits = 32;
  else if (address.includes(':') && isIpv6(address)) bits = 128;
  else return `"${text}" is not an IP address or CIDR`;
  if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits)) {
    return `"${text}": the prefix length must be 0 to ${bits}`;
  }
  return undefined;
}

/** IPv6 by the WHATWG URL parser (strict), without zone IDs or brackets. */
function isIpv6(address: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(address)) return false;
  try {
    return new URL(`http://[${address}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** Checks a schema-valid Gateway; every problem goes to `report`. */
export function checkGateway(gateway: GatewayDocument, report: ReportProblem): void {
  const { spec } = gateway;
  const issuers = new Set<string>();
  spec.oidc?.forEach((o, i) => {
    const at = `/spec/oidc/${i}`;
    const problem = urlProblem(o.issuer, true);
    if (problem) report('POLICY_URL_INVALID', `${at}/issuer`, `issuer ${problem}`);
    if (issuers.has(o.issuer)) {
      report('POLICY_DUPLICATE_NAME', `${at}/issuer`, `issuer "${o.issuer}" is listed twice`);
    }
    issuers.add(o.issuer);
    if (o.jwksUri !== undefined) {
      const p = urlProblem(o.jwksUri, true);
      if (p) report('POLICY_URL_INVALID', `${at}/jwksUri`, `jwksUri ${p}`);
    }
    o.algorithms?.forEach((alg, j) => {
      if (!GATEWAY_ALGORITHMS.includes(alg)) {
        const why =
          alg.toLowerCase() === 'none' || /^HS/i.test(alg)
            ? ' (unsigned and shared-secret tokens are never accepted at the edge)'
            : '';
        report(
          'POLICY_ALGORITHM_INVALID',
          `${at}/algorithms/${j}`,
          `algorithm "${alg}" is not one of ${GATEWAY_ALGORITHMS.join(', ')}${why}`,
        );
      }
    });
  });
  const ids = new Set<string>();
  const hashes = new Set<string>();
  spec.apiKeys?.forEach((k, i) => {
    if (ids.has(k.id)) {
      report(
        'POLICY_DUPLICATE_NAME',
        `/spec/apiKeys/${i}/id`,
        `API key id "${k.id}" is listed twice`,
      );
    }
    if (hashes.has(k.sha256)) {
      report(
        'POLICY_DUPLICATE_NAME',
        `/spec/apiKeys/${i}/sha256`,
        `API key "${k.id}" has the hash of another entry: one key would have two identities`,
      );
    }
    ids.add(k.id);
    hashes.add(k.sha256);
  });
  if (spec.cors) checkCors(spec.cors, report);
  spec.trustedProxies?.forEach((cidr, i) => {
    const problem = cidrProblem(cidr);
    if (problem) report('POLICY_CIDR_INVALID', `/spec/trustedProxies/${i}`, problem);
  });
}

/**
 * A gateway's passports must live no longer than its own service accepts (`maxLifetimeSec` of the
 * Service of the same key, default 3600): the verifiers of its zone would refuse them all.
 */
export function checkPassportTtl(
  gateway: GatewayDocument,
  services: readonly SourcedDocument<ServiceDocument>[],
  report: ReportProblem,
): void {
  const ttl = gateway.spec.passport?.ttlSec;
  if (ttl === undefined) return;
  const key = gatewayKey(gateway);
  const own = services.find((s) => documentKey(s.document) === key)?.document;
  const max = own?.spec.passport?.maxLifetimeSec ?? DEFAULT_PASSPORT_MAX_LIFETIME_SEC;
  if (ttl > max) {
    report(
      'POLICY_PASSPORT_TTL',
      '/spec/passport/ttlSec',
      `passports of ${ttl} s outlive what service "${key}" accepts (maxLifetimeSec ${max}): every verifier would refuse them`,
    );
  }
}

function checkCors(cors: NonNullable<GatewayDocument['spec']['cors']>, report: ReportProblem) {
  cors.origins.forEach((origin, i) => {
    const at = `/spec/cors/origins/${i}`;
    if (origin === '*') {
      if (cors.origins.length > 1) {
        report('POLICY_CORS_INVALID', at, '"*" must be the only origin');
      }
      if (cors.credentials === true) {
        // Browsers refuse it, and reflecting any origin instead would hand every site the
        // user's credentials.
        report('POLICY_CORS_INVALID', at, 'origin "*" cannot go with credentials: true');
      }
      return;
    }
    let serialized: string | undefined;
    try {
      serialized = new URL(origin).origin;
    } catch {
      serialized = undefined;
    }
    if (serialized !== origin || !/^https?:/.test(origin)) {
      report(
        'POLICY_CORS_INVALID',
        at,
        `origin "${origin}" must be an exact origin (scheme://host[:port], lower case, no path) or "*"`,
      );
    }
  });
  cors.methods?.forEach((m, i) => {
    const problem = methodProblem(m);
    if (problem) report('POLICY_METHOD_UNKNOWN', `/spec/cors/methods/${i}`, problem);
  });
}

/** Why `path` cannot be a route's path (or health-check path), or undefined. */
function routePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return `path "${path.slice(0, 64)}" must start with "/"`;
  if (!/^[\x21-\x7e]+$/.test(path) || !isCanonicalPath(path)) {
    return `path "${path.slice(0, 64)}" is not a canonical path (printable, no query, no dot segments, no escapes to normalise, no "//")`;
  }
  return undefined;
}

/** Why an endpoint URL is not an origin (the gateway sends its own path), or undefined. */
function originProblem(text: string): string | undefined {
  const url = new URL(text);
  return url.pathname === '/' ? undefined : `"${text}" must be an origin, without a path`;
}

/** Checks a schema-valid Route; every problem goes to `report`. */
export function checkRoute(route: RouteDocument, report: ReportProblem): void {
  const { match, upstream } = route.spec;
  const paths = (['pathPrefix', 'path'] as const).filter((k) => match[k] !== undefined);
  if (paths.length !== 1) {
    report(
      'POLICY_SCHEMA_INVALID',
      '/spec/match',
      `a route must have exactly one of "pathPrefix" or "path"${paths.length > 1 ? ' (it has both)' : ''}`,
    );
  }
  // The gateway matches, decides and forwards the canonical path: a route path that is not one
  // could never match, and the gateway would refuse the whole bundle, freezing its config.
  for (const k of paths) {
    const problem = routePathProblem(match[k]!);
    if (problem) report('POLICY_PATH_INVALID', `/spec/match/${k}`, problem);
  }
  match.methods?.forEach((m, i) => {
    const problem = methodProblem(m);
    if (problem) report('POLICY_METHOD_UNKNOWN', `/spec/match/methods/${i}`, problem);
    else if (m.toUpperCase() === 'HEAD') {
      report(
        'POLICY_METHOD_UNKNOWN',
        `/spec/match/methods/${i}`,
        'a HEAD request is matched as GET (as in intentions): list GET instead of HEAD',
      );
    }
  });
  match.hosts?.forEach((h, i) => {
    if (!DNS_NAME.test(h)) {
      report(
        'POLICY_HOST_INVALID',
        `/spec/match/hosts/${i}`,
        `host "${h}" must be a lower-case DNS name without port`,
      );
    }
  });
  upstream.endpoints.forEach((e, i) => {
    const problem = urlProblem(e, false) ?? originProblem(e);
    if (problem)
      report('POLICY_URL_INVALID', `/spec/upstream/endpoints/${i}`, `endpoint ${problem}`);
  });
  if (upstream.stripPrefix === true && match.pathPrefix === undefined) {
    report(
      'POLICY_SCHEMA_INVALID',
      '/spec/upstream/stripPrefix',
      'stripPrefix needs match.pathPrefix (there is no prefix to strip)',
    );
  }
  const health = upstream.healthCheck?.path;
  const healthProblem = health === undefined ? undefined : routePathProblem(health);
  if (healthProblem)
    report('POLICY_PATH_INVALID', '/spec/upstream/healthCheck/path', healthProblem);
  if (route.spec.requestSchema !== undefined) {
    const compiled = compileRequestSchema(route.spec.requestSchema);
    if (!compiled.ok)
      report('POLICY_REQUEST_SCHEMA_INVALID', '/spec/requestSchema', compiled.message);
  }
}
