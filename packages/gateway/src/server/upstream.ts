/**
 * How the gateway reaches an upstream: an interface the pipeline calls, so the resilient client
 * of @ward/sdk (load balancing, health, breaker, retries) can back it. `createUndiciUpstream` is
 * the plain one: round robin over the endpoints, one attempt, undici over keep-alive.
 */
import type { Readable } from 'node:stream';
import type { PassportClaims } from '@ward/policy';
import { PASSPORT_HEADER } from '@ward/sdk';
import type { Dispatcher } from 'undici';
import { Agent, request } from 'undici';
import type { CompiledRoute, GatewayConfig } from '../config/compile.ts';
import { GatewayError } from '../errors.ts';

export interface UpstreamRequest {
  method: string;
  /** Origin-form target: the canonical path (prefix stripped when configured) and raw query. */
  path: string;
  /** Headers to send as they are (hop-by-hop and forwarding headers already handled). */
  headers: Record<string, string | string[]>;
  body: Buffer | Readable | undefined;
  /** The minted passport (sent as `x-ward-passport`), absent for anonymous calls. */
  passport: string | undefined;
  /** The passport's claims (for an egress check that reads them); set with `passport`. */
  passportClaims?: PassportClaims;
  traceparent: string;
  signal: AbortSignal;
  /** What is left of the gateway's request timeout, ms: no retry may outlive it. */
  deadlineMs?: number;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** The endpoint that answered (origin), for the access log. */
  endpoint: string;
}

export interface Upstream {
  /**
   * Sends the request to one of the route's endpoints.
   * @throws GatewayError `GATEWAY_UPSTREAM_UNAVAILABLE` (connection failed, no healthy endpoint) or
   *   `GATEWAY_UPSTREAM_TIMEOUT` (no answer within `route.upstream.timeoutMs`); the request's own
   *   error when its body stream failed (a body over the limit).
   */
  forward(route: CompiledRoute, request: UpstreamRequest): Promise<UpstreamResponse>;
  /**
   * Called with each new config before it is swapped in (the gateway's `reload`), so the
   * upstream can prepare the new routes' destinations and retire the old ones. Must not throw.
   */
  reload?(config: GatewayConfig): void;
  close(): Promise<void>;
}

export interface UndiciUpstreamOptions {
  /**
   * Dispatcher for https endpoints: mTLS with the gateway's SVID that checks the upstream's SPIFFE
   * ID (`WorkloadIdentity.dispatcher({ expect })`, or @ward/sdk `svidDispatcher`). Required for
   * https endpoints.
   */
  https?: Dispatcher;
  /** Keep-alive connections per http origin. Default 128. */
  connections?: number;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export function createUndiciUpstream(options: UndiciUpstreamOptions = {}): Upstream {
  const http = new Agent({ connections: options.connections ?? 128, pipelining: 1 });
  const next = new WeakMap<CompiledRoute, number>();
  return {
    async forward(route, req) {
      const endpoints = route.upstream.endpoints;
      const i = next.get(route) ?? 0;
      next.set(route, (i + 1) % endpoints.length);
      const origin = endpoints[i % endpoints.length]!;
      const https = origin.protocol === 'https:';
      if (https && options.https === undefined) {
        throw new GatewayError(
          'GATEWAY_UPSTREAM_UNAVAILABLE',
          `no mTLS dispatcher for the https upstream of route ${route.key}`,
        );
      }
      const headers: Record<string, string | string[]> = {
        ...req.headers,
        traceparent: req.traceparent,
      };
      if (req.passport !== undefined) headers[PASSPORT_HEADER] = req.passport;
      try {
        const res = await request(`${origin.origin}${req.path}`, {
          method: req.method as Dispatcher.HttpMethod,
          headers,
          body: req.body ?? null,
          signal: req.signal,
          dispatcher: https ? options.https! : http,
          headersTimeout: route.upstream.timeoutMs,
          bodyTimeout: route.upstream.timeoutMs,
        });
        return {
          statusCode: res.statusCode,
          headers: res.headers,
          body: res.body,
          endpoint: origin.origin,
        };
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        const code = (error as { code?: string }).code ?? '';
        const cause = (error as { cause?: unknown }).cause;
        if (cause instanceof GatewayError) throw cause;
        if (req.signal.aborted) throw req.signal.reason ?? error;
        if (TIMEOUT_CODES.has(code)) {
          throw new GatewayError(
            'GATEWAY_UPSTREAM_TIMEOUT',
            `${route.upstream.service} did not answer within ${route.upstream.timeoutMs} ms`,
            { cause: error },
          );
        }
        throw new GatewayError(
          'GATEWAY_UPSTREAM_UNAVAILABLE',
          `${route.upstream.service} at ${origin.origin} failed: ${code || (error as Error).message}`,
          { cause: error },
        );
      }
    },
    async close() {
      await http.close();
    },
  };
}
