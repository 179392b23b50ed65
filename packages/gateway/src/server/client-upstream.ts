/**
 * The production `Upstream`: each route's upstream is a destination of @ward/sdk's resilient
 * client (`createClient`): power-of-two-choices balancing, passive ejection and active health
 * checks, a circuit breaker, retries under a budget (idempotent requests with buffered bodies
 * only; a streamed body is sent once), a bulkhead, and mTLS with the gateway's SVID that checks
 * the upstream's SPIFFE ID on every new connection.
 *
 * One client per distinct destination (service, endpoints, timeout, health check): routes that
 * share an upstream share its breaker and connections, and a reload that leaves a destination
 * unchanged keeps it, warm connections and breaker state included. A destination the new config
 * no longer has is retired: closed once the requests that may still use it are done (those in
 * flight, and those that read the old config but have not reached the upstream yet, all bounded
 * by the old config's request timeout). Connections of clients to the gateway are not touched.
 */
import type { Readable } from 'node:stream';
import type { PassportClaims } from '@ward/policy';
import {
  type Client,
  ClientError,
  createClient,
  type DestinationOptions,
  EgressDeniedError,
  type EgressGuard,
  type SvidSource,
} from '@ward/sdk';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import {
  type CompiledRoute,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type GatewayConfig,
} from '../config/compile.ts';
import { GatewayError } from '../errors.ts';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream.ts';

export interface ClientUpstreamOptions {
  /** The gateway's service key (`shop/edge`): the source of egress checks and metrics. */
  self: string;
  /**
   * The gateway's identity (a `WorkloadIdentity`, or any `SvidSource`): its SVID is presented to
   * https upstreams. Without one, https endpoints answer 502 and only http ones work (dev).
   */
  identity?: SvidSource;
  /**
   * Egress check of each call (gateway -> upstream service) against the upstreams' intentions
   * (`createEgressGuard` over a decider holding them, for a gateway whose token may read them).
   * Without it the gateway does not pre-check: each upstream decides on the gateway's mTLS
   * identity and passport with its own PDP, as it does for any caller.
   */
  guard?: EgressGuard;
  /**
   * Resilience settings under every destination (retry, breaker, bulkhead, ejection,
   * connections). The route's endpoints, `timeoutMs` and `healthCheck` always win.
   */
  defaults?: Omit<DestinationOptions, 'endpoints' | 'spiffeId' | 'healthCheck'>;
  /** Where the client metrics (`ward_client_*`) go. Default a registry of its own. */
  registry?: Registry;
  logger?: Logger;
  /**
   * Headers set on every upstream request, over the client's (lower-case names). For a
   * development mesh without mTLS, whose services read the caller from a header (the SDK's
   * `devIdentityHeader`); never for credentials.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * Development only: forwards passports to `http://` upstreams too. Without it, a request
   * that carries a passport to an http upstream fails (502): a passport's audience may be the
   * whole zone, so one seen on a plaintext hop could be replayed to any service in it.
   */
  insecure?: boolean;
}

export interface ClientUpstream extends Upstream {
  /** The client metrics of every destination. */
  readonly registry: Registry;
  reload(config: GatewayConfig): void;
}

/** One destination's client and who may still use it. */
interface Entry {
  /** See `signatureOf`. */
  readonly signature: string;
  readonly service: string;
  /** Undefined when the destination cannot be built (an https endpoint without identity). */
  readonly client: Client | undefined;
  readonly problem: string | undefined;
  inFlight: number;
  /** Retired by a reload: closed once `inFlight` is 0 and `graceOver`. */
  retired: boolean;
  graceOver: boolean;
  timer: NodeJS.Timeout | undefined;
  closed: boolean;
}

/** Headers as the client takes them: one string per name (RFC 9110 §5.3 list joining). */
function singleValued(headers: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const v = headers[name]!;
    // Cookie pairs are joined with "; " (RFC 6265 §5.4), every other field with ", ".
    out[name] = typeof v === 'string' ? v : v.join(name === 'cookie' ? '; ' : ', ');
  }
  return out;
}

/** What makes two routes' upstreams the same destination. */
function signatureOf(route: CompiledRoute): string {
  const u = route.upstream;
  return JSON.stringify([
    u.service,
    u.spiffeId,
    u.endpoints.map((e) => e.origin),
    u.timeoutMs,
    u.healthCheck?.path,
    u.healthCheck?.intervalMs,
  ]);
}

export function createClientUpstream(options: ClientUpstreamOptions): ClientUpstream {
  if (options === null || typeof options !== 'object' || typeof options.self !== 'string') {
    throw new TypeError('options.self must be the gateway service key');
  }
  const registry = options.registry ?? new Registry();
  const fixed = options.headers === undefined ? undefined : { ...options.headers };
  const retryAfterSec = Math.max(
    1,
    Math.ceil(((options.defaults?.breaker || undefined)?.halfOpenAfterMs ?? 5000) / 1000),
  );
  const live = new Map<string, Entry>();
  const retiring = new Map<string, Entry>();
  const ofRoute = new WeakMap<CompiledRoute, Entry>();
  let graceMs = DEFAULT_REQUEST_TIMEOUT_MS;
  let closed = false;

  /** A destination's client; a route whose client cannot be built fails alone, with 502s. */
  const build = (route: CompiledRoute, signature: string): Entry => {
    const u = route.upstream;
    const https = u.endpoints.some((e) => e.protocol === 'https:');
    let client: Client | undefined;
    let problem: string | undefined;
    if (https && options.identity === undefined) {
      problem = `no gateway identity (SVID) for the https upstream ${u.service} of route ${route.key}`;
    } else {
      try {
        client = createClient({
          self: options.self,
          ...(options.identity === undefined ? {} : { identity: options.identity }),
          ...(options.guard === undefined ? {} : { guard: options.guard }),
          registry,
          ...(options.logger === undefined ? {} : { logger: options.logger }),
          destinations: {
            [u.service]: {
              ...options.defaults,
              ...(options.insecure === undefined ? {} : { insecure: options.insecure }),
              endpoints: u.endpoints.map((e) => e.origin),
              timeoutMs: u.timeoutMs,
              ...(https ? { spiffeId: u.spiffeId } : {}),
              ...(u.healthCheck === undefined ? {} : { healthCheck: { ...u.healthCheck } }),
            },
          },
        });
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        problem = `upstream ${u.service} of route ${route.key}: ${error.message}`;
      }
    }
    return {
      signature,
      service: u.service,
      client,
      problem,
      inFlight: 0,
      retired: false,
      graceOver: false,
      timer: undefined,
      closed: false,
    };
  };

  const closeEntry = (e: Entry): Promise<void> => {
    e.closed = true;
    clearTimeout(e.timer);
    return e.client?.close() ?? Promise.resolve();
  };

  const maybeClose = (e: Entry): void => {
    if (!e.retired || !e.graceOver || e.inFlight > 0 || e.closed) return;
    retiring.delete(e.signature);
    options.logger?.info({ destination: e.service }, 'retired upstream destination closed');
    closeEntry(e).catch((error: unknown) =>
      options.logger?.warn({ error: String(error) }, 'closing a retired upstream client failed'),
    );
  };

  /** The entry for a route: prepared by `reload`, else found or built now. */
  const entryOf = (route: CompiledRoute): Entry => {
    let e = ofRoute.get(route);
    if (e !== undefined) return e;
    const signature = signatureOf(route);
    e = live.get(signature) ?? retiring.get(signature);
    if (e === undefined || e.closed) {
      e = build(route, signature);
      live.set(signature, e);
    }
    ofRoute.set(route, e);
    return e;
  };

  const failure = (route: CompiledRoute, error: unknown, signal: AbortSignal): unknown => {
    if (signal.aborted) return signal.reason ?? error;
    // The request body failed (over the limit): the request's own error, not the upstream's.
    for (let c: unknown = error, i = 0; c instanceof Error && i < 4; c = c.cause, i++) {
      if (c instanceof GatewayError) return c;
    }
    const service = route.upstream.service;
    if (error instanceof EgressDeniedError) {
      return new GatewayError(
        'GATEWAY_FORBIDDEN',
        `the gateway may not call ${service}: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    if (!(error instanceof ClientError)) return error;
    switch (error.code) {
      case 'CLIENT_TIMEOUT':
        return new GatewayError('GATEWAY_UPSTREAM_TIMEOUT', error.message, { cause: error });
      case 'CLIENT_CIRCUIT_OPEN':
        return new GatewayError('GATEWAY_UPSTREAM_UNAVAILABLE', error.message, {
          cause: error,
          status: 503,
          retryAfterSec,
        });
      case 'CLIENT_BULKHEAD_FULL':
      case 'CLIENT_CLOSED':
        return new GatewayError('GATEWAY_UPSTREAM_UNAVAILABLE', error.message, {
          cause: error,
          status: 503,
        });
      default: // CLIENT_UNAVAILABLE, CLIENT_PEER_REJECTED
        return new GatewayError('GATEWAY_UPSTREAM_UNAVAILABLE', error.message, { cause: error });
    }
  };

  return {
    registry,
    reload(config) {
      if (closed) return;
      const used = new Set<string>();
      for (const route of config.routes) {
        const signature = signatureOf(route);
        used.add(signature);
        let e = live.get(signature);
        if (e === undefined) {
          // Back in the config before it was closed: keep it.
          e = retiring.get(signature);
          if (e !== undefined && !e.closed) {
            retiring.delete(signature);
            clearTimeout(e.timer);
            e.retired = false;
            e.graceOver = false;
          } else {
            e = build(route, signature);
          }
          live.set(signature, e);
        }
        ofRoute.set(route, e);
      }
      // Requests that read the previous config may reach its destinations until its timeout.
      const grace = graceMs;
      graceMs = config.limits.requestTimeoutMs;
      for (const [signature, e] of live) {
        if (used.has(signature)) continue;
        live.delete(signature);
        retiring.set(signature, e);
        e.retired = true;
        e.timer = setTimeout(() => {
          e.graceOver = true;
          maybeClose(e);
        }, grace);
        e.timer.unref();
      }
    },
    async forward(route, req: UpstreamRequest): Promise<UpstreamResponse> {
      if (closed)
        throw new GatewayError('GATEWAY_UPSTREAM_UNAVAILABLE', 'the upstream is closed', {
          status: 503,
        });
      const e = entryOf(route);
      if (e.client === undefined) {
        throw new GatewayError('GATEWAY_UPSTREAM_UNAVAILABLE', e.problem ?? 'no client');
      }
      e.inFlight++;
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        e.inFlight--;
        maybeClose(e);
      };
      try {
        const res = await e.client.request(e.service, {
          method: req.method,
          path: req.path,
          headers:
            fixed === undefined
              ? singleValued(req.headers)
              : { ...singleValued(req.headers), ...fixed },
          body: (req.body as Buffer | Readable | undefined) ?? null,
          ...(req.passport === undefined
            ? {}
            : {
                passport: {
                  token: req.passport,
                  claims: req.passportClaims ?? ({} as PassportClaims),
                },
              }),
          traceparent: req.traceparent,
          signal: req.signal,
          ...(req.deadlineMs === undefined ? {} : { deadlineMs: req.deadlineMs }),
        });
        res.body.once('close', release);
        return {
          statusCode: res.statusCode,
          headers: res.headers,
          body: res.body,
          endpoint: res.endpoint,
        };
      } catch (error) {
        release();
        throw failure(route, error, req.signal);
      }
    },
    async close() {
      closed = true;
      const all = [...live.values(), ...retiring.values()];
      live.clear();
      retiring.clear();
      await Promise.all(all.filter((e) => !e.closed).map(closeEntry));
    },
  };
}
