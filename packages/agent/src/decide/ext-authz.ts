/**
 * Envoy external authorization (`envoy.service.auth.v3.Authorization/Check`) answered by the
 * node's local PDPs: Envoy's attributes (destination, the peer's SPIFFE ID from the mTLS
 * certificate Envoy saw, method, path, headers) become one `Enforcer.check`, and its outcome the
 * `CheckResponse` Envoy expects. No I/O here: the gRPC service around it is `ext-authz-server.ts`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { PROBLEM_MEDIA_TYPE } from '@ward/api-types';
import {
  type Enforcer,
  enforcementProblem,
  grpcMethodOf,
  Rejection,
  ruleName,
  type WardContext,
} from '@ward/sdk';
import { canonicalServiceKey, isSpiffeId, serviceByConvention } from '@ward/spiffe';
import type { ExtAuthzCode } from '../errors.ts';

/** The `context_extensions` key that names the destination service in the filter's config. */
export const SERVICE_EXTENSION = 'ward.dev/service';

/**
 * Added to an admitted request that only dry-run rules deny, with the rule (`policy#index`), so
 * the application (and Envoy's access log, `%REQ(x-ward-dry-run-deny)%`) sees the would-deny.
 */
export const DRY_RUN_DENY_HEADER = 'x-ward-dry-run-deny';

/** `google.rpc.Code` of each HTTP status a denial carries (`INTERNAL` for 500). */
const RPC_CODE = { 400: 3, 401: 16, 403: 7, 500: 13 } as const;

/** `envoy.config.core.v3.HeaderValueOption`, as proto-loader takes it. */
export interface HeaderValueOption {
  header: { key: string; value: string };
  /** False: set (replacing a header of that name), which is also Envoy's default here. */
  append: { value: boolean };
}

/** `envoy.service.auth.v3.CheckResponse`, as proto-loader takes it (field names as in the proto). */
export interface CheckResponse {
  status: { code: number; message?: string };
  ok_response?: { headers?: HeaderValueOption[]; headers_to_remove?: string[] };
  denied_response?: {
    status: { code: number };
    headers: HeaderValueOption[];
    body: string;
  };
}

/** What `createExtAuthz` needs from the agent. */
export interface ExtAuthzOptions {
  /** The local PDP of a service of this node (an SDK `Enforcer`, with its decision log), if any. */
  enforcerFor(service: string): Enforcer | undefined;
  /**
   * The service a SPIFFE ID belongs to (the bundle's `Service` documents); undefined: by
   * convention (`spiffe://<td>/ns/<ns>/sa/<name>`).
   */
  serviceForSpiffeId?(spiffeId: string): string | undefined;
  /**
   * Whether a SPIFFE ID `serviceForSpiffeId` does not know names a service by convention
   * (`spiffe://<td>/ns/<ns>/sa/<name>`). Default true; the agent turns it off, since it knows the
   * identity of every service it decides for, so a guess could only widen a caller's scope.
   */
  byConvention?: boolean;
  /** Told of every unexpected failure (the request is denied all the same). */
  onError?(error: unknown): void;
}

/** The ext_authz decision function of one agent. */
export interface ExtAuthz {
  /**
   * Answers one `CheckRequest` (any value: it is read defensively). `mayAsk(service)` says
   * whether the caller (the Envoy asking) may ask about that destination. Never throws: every
   * failure is a denial (fail closed).
   */
  check(request: unknown, mayAsk: (service: string) => boolean): CheckResponse;
  /** The service a SPIFFE ID names, as the destination and caller scope read it. */
  serviceOf(spiffeId: string): string | undefined;
}

const OK_RESPONSE: CheckResponse = deepFreeze({
  status: { code: 0 },
  // A client may send the header itself: only Ward sets it.
  ok_response: { headers_to_remove: [DRY_RUN_DENY_HEADER] },
});

/** Builds the `Check` function over the node's local PDPs. */
export function createExtAuthz(options: ExtAuthzOptions): ExtAuthz {
  const { enforcerFor, onError } = options;
  const lookup = options.serviceForSpiffeId;
  const serviceOf = (spiffeId: string): string | undefined => {
    const named = lookup?.(spiffeId);
    if (named !== undefined) return canonicalServiceKey(named);
    return options.byConvention === false ? undefined : serviceByConvention(spiffeId);
  };

  const decide = (request: unknown, mayAsk: (service: string) => boolean): CheckResponse => {
    const attributes = field(request, 'attributes');
    const destination = destinationOf(attributes, serviceOf);
    if (destination instanceof Rejection) return denied(destination);
    if (!mayAsk(destination)) {
      return denied(
        rejection(
          403,
          'EXT_AUTHZ_OUT_OF_SCOPE',
          `this caller may not ask about ${destination}: an Envoy asks only for the workload it fronts`,
        ),
      );
    }
    const http = field(field(attributes, 'request'), 'http');
    if (http === undefined) {
      return denied(rejection(403, 'EXT_AUTHZ_NOT_HTTP', 'the request carries no HTTP attributes'));
    }
    const enforcer = enforcerFor(destination);
    if (enforcer === undefined) {
      return denied(
        rejection(
          403,
          'EXT_AUTHZ_UNKNOWN_DESTINATION',
          `${destination} has no policy decision point on this node`,
        ),
      );
    }
    const outcome = decideHttp(enforcer, http, sourceOf(attributes));
    return outcome instanceof Rejection ? denied(outcome) : admitted(outcome);
  };

  return {
    serviceOf,
    check(request, mayAsk) {
      try {
        return decide(request, mayAsk);
      } catch (error) {
        try {
          onError?.(error);
        } catch {
          // A failing logger must not turn a denial into a gRPC error (Envoy's failure mode).
        }
        return denied(rejection(500, 'EXT_AUTHZ_INTERNAL', 'authorization failed internally'));
      }
    },
  };
}

/** The destination service: the filter's `ward.dev/service`, else the workload's SPIFFE ID. */
function destinationOf(
  attributes: unknown,
  serviceOf: (spiffeId: string) => string | undefined,
): string | Rejection {
  const named = mapValue(field(attributes, 'context_extensions'), SERVICE_EXTENSION);
  if (named !== undefined && named !== '') {
    return (
      canonicalServiceKey(named) ??
      unknownDestination(
        `context_extensions["${SERVICE_EXTENSION}"]: ${quote(named)} is not a service name or namespace/name`,
      )
    );
  }
  const principal = text(field(field(attributes, 'destination'), 'principal'));
  if (principal === undefined || principal === '') {
    return unknownDestination(
      `no destination: set context_extensions["${SERVICE_EXTENSION}"] in the filter, or terminate mTLS in Envoy so destination.principal is the workload's SPIFFE ID`,
    );
  }
  const service = isSpiffeId(principal) ? serviceOf(principal) : undefined;
  return (
    service ?? unknownDestination(`destination.principal ${quote(principal)} names no service`)
  );
}

/**
 * The verified caller: Envoy puts the peer certificate's URI SAN in `source.principal` when the
 * downstream connection is mTLS. Anything that is not a SPIFFE ID (a DNS SAN, a subject, none)
 * is an anonymous caller.
 */
function sourceOf(attributes: unknown): string | undefined {
  const principal = text(field(field(attributes, 'source'), 'principal'));
  return principal !== undefined && isSpiffeId(principal) ? principal : undefined;
}

/** One decision on Envoy's HTTP attributes, as the SDK's HTTP and gRPC middleware make it. */
function decideHttp(
  enforcer: Enforcer,
  http: unknown,
  spiffeId: string | undefined,
): WardContext | Rejection {
  const { headers, pseudo } = headersOf(http);
  const method = text(field(http, 'method')) || pseudo.method || '';
  // `path` is the request target with its query (Envoy leaves `query` empty).
  const path = text(field(http, 'path')) || pseudo.path || '';
  if (headers.host === undefined) {
    const host = pseudo.authority || text(field(http, 'host'));
    if (host) headers.host = host;
  }
  const contentType = headers['content-type'];
  if (typeof contentType === 'string' && contentType.startsWith('application/grpc')) {
    // As `wardGrpc`: a POST to `/package.Service/Method`, the method path as the route.
    const grpc = grpcMethodOf(path);
    if (grpc === undefined) {
      return enforcementProblem(
        400,
        'MIDDLEWARE_NOT_CANONICAL',
        `${quote(path)} is not a canonical gRPC method path ("/package.Service/Method")`,
      );
    }
    return enforcer.check(null, 'POST', path, headers, path, grpc, spiffeId);
  }
  return enforcer.check(null, method, path, headers, undefined, undefined, spiffeId);
}

interface Pseudo {
  method?: string;
  path?: string;
  authority?: string;
}

/**
 * Envoy's request headers as Node presents them to the middleware: lower-case names, repeated
 * names joined with `,` (as Envoy's `headers` map already does), HTTP/2 pseudo-headers kept
 * apart (`:authority` stands in for a missing `host`). `header_map` (Envoy's
 * `encode_raw_headers`) is read too. A null-prototype object: header names are untrusted.
 */
function headersOf(http: unknown): { headers: IncomingHttpHeaders; pseudo: Pseudo } {
  const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
  const pseudo: Pseudo = {};
  const add = (key: unknown, value: unknown) => {
    if (typeof key !== 'string' || key === '' || typeof value !== 'string') return;
    const name = key.toLowerCase();
    if (name.startsWith(':')) {
      if (name === ':method') pseudo.method = value;
      else if (name === ':path') pseudo.path = value;
      else if (name === ':authority') pseudo.authority = value;
      return;
    }
    const previous = headers[name];
    headers[name] = typeof previous === 'string' ? `${previous},${value}` : value;
  };
  const map = field(http, 'headers');
  if (isObject(map)) for (const key of Object.keys(map)) add(key, map[key]);
  const raw = field(field(http, 'header_map'), 'headers');
  if (Array.isArray(raw)) {
    for (const h of raw as unknown[]) {
      const value = field(h, 'value');
      const bytes = field(h, 'raw_value');
      add(
        field(h, 'key'),
        typeof value === 'string' && value !== ''
          ? value
          : bytes instanceof Uint8Array
            ? Buffer.from(bytes).toString('latin1')
            : value,
      );
    }
  }
  return { headers, pseudo };
}

function admitted(context: WardContext): CheckResponse {
  if (!context.dryRunDenied) return OK_RESPONSE;
  return {
    status: { code: 0 },
    ok_response: { headers: [header(DRY_RUN_DENY_HEADER, ruleName(context.decision))] },
  };
}

/**
 * A denial: the gRPC code Envoy reads (`PERMISSION_DENIED`, `UNAUTHENTICATED` for a bad
 * passport, …) and the HTTP answer Envoy sends the client: the middleware's status and problem.
 */
function denied(rejection: Rejection): CheckResponse {
  const problem = rejection.problem;
  return {
    status: {
      code: RPC_CODE[rejection.status],
      message: `${problem.code}: ${problem.detail ?? problem.reason}`,
    },
    denied_response: {
      status: { code: rejection.status },
      headers: [header('content-type', PROBLEM_MEDIA_TYPE)],
      body: JSON.stringify(problem),
    },
  };
}

function rejection(status: Rejection['status'], code: ExtAuthzCode, reason: string): Rejection {
  return enforcementProblem(status, code, reason);
}

function unknownDestination(reason: string): Rejection {
  return rejection(403, 'EXT_AUTHZ_UNKNOWN_DESTINATION', reason);
}

function header(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append: { value: false } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function field(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}

/** A `map<string, string>` entry, own keys only (a map's keys are the sender's). */
function mapValue(map: unknown, key: string): string | undefined {
  return isObject(map) && Object.hasOwn(map, key) ? text(map[key]) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A value quoted for a message, cut to a readable length. */
function quote(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

function deepFreeze<T>(value: T): T {
  if (isObject(value)) for (const key of Object.keys(value)) deepFreeze(value[key]);
  return Object.freeze(value);
}
