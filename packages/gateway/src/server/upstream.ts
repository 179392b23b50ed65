/**
 * How the gateway reaches an upstream: an interface the pipeline calls, backed by the resilient
 * client of @ward/sdk (./client-upstream.ts: load balancing, health, breaker, retries, mTLS).
 */
import type { Readable } from 'node:stream';
import type { PassportClaims } from '@ward/policy';
import type { CompiledRoute, GatewayConfig } from '../config/compile.ts';

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
   * upstream can prepare the new routes' destinations and retire the old ones. If it throws, the
   * reload is refused (`GATEWAY_CONFIG_INVALID`) and the gateway keeps its config and authenticator.
   */
  reload?(config: GatewayConfig): void;
  close(): Promise<void>;
}
