/**
 * Options of `createClient` and their validation: every default filled in once, at creation, so
 * the request path reads plain numbers. Misuse (a bad URL, a negative timeout) throws TypeError.
 */

import type { Decision } from '@ward/policy';
import { canonicalServiceKey, defaultSpiffeId, splitServiceKey } from '@ward/spiffe';
import type { Registry } from 'prom-client';
import type { SpiffeIdMatcher } from '../identity/peer.ts';
import type { EgressGuard } from '../middleware/egress.ts';
import type { PdpLogger } from '../pdp/options.ts';
import type { SvidSource } from '../pdp/svid-dispatcher.ts';

/** Retry policy of a destination; `false` turns retries off. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  maxAttempts?: number;
  /** First backoff, ms (exponential with decorrelated jitter). Default 50. */
  initialDelayMs?: number;
  /** Longest backoff, ms; a `Retry-After` asking for longer is not retried. Default 2000. */
  maxDelayMs?: number;
  /** Retry budget: retries ≤ `ratio` × requests + `minPerSec` per second (over 10 s). */
  budget?: { ratio?: number; minPerSec?: number };
}

/** Circuit breaker of a destination; `false` turns it off. */
export interface BreakerOptions {
  /** Consecutive failed attempts (connection error, timeout, 5xx) that open it. Default 5. */
  consecutiveFailures?: number;
  /** How long it stays open before one probe is let through (half-open), ms. Default 5000. */
  halfOpenAfterMs?: number;
}

/** Concurrency limit of a destination; `false` turns it off. */
export interface BulkheadOptions {
  /** Calls in progress at once. Default 256. */
  maxConcurrent?: number;
  /** Calls waiting for a slot; beyond it, `CLIENT_BULKHEAD_FULL`. Default 1024. */
  maxQueue?: number;
}

/** Passive outlier ejection of an endpoint. */
export interface EjectionOptions {
  /** Consecutive connection failures that eject an endpoint. Default 5. */
  consecutiveFailures?: number;
  /** First ejection, ms; doubles with each ejection in a row. Default 1000. */
  baseMs?: number;
  /** Longest ejection, ms. Default 30000. */
  maxMs?: number;
}

/** Active health check of each endpoint. */
export interface HealthCheckOptions {
  /** Path probed with GET; a 2xx is healthy. */
  path: string;
  /** Default 5000 ms. */
  intervalMs?: number;
  /** Default 2000 ms. */
  timeoutMs?: number;
}

/** How to reach one destination service. */
export interface DestinationOptions {
  /** Origins of its instances: `https://10.0.0.5:8443` (mTLS) or `http://…`. */
  endpoints?: readonly string[];
  /**
   * The server identity expected on https endpoints. Default: the destination's conventional ID,
   * `spiffe://<trust domain>/ns/<namespace>/sa/<name>`.
   */
  spiffeId?: SpiffeIdMatcher;
  /** Per attempt, until the response headers (and between body chunks), ms. Default 10000. */
  timeoutMs?: number;
  /**
   * The whole call up to the response headers, all attempts and backoffs included, ms; reading
   * the body is outside it (and outside the bulkhead). Default: room for every attempt and the
   * longest backoff between them, maxAttempts × timeoutMs + (maxAttempts − 1) × maxDelayMs.
   */
  deadlineMs?: number;
  retry?: RetryOptions | false;
  breaker?: BreakerOptions | false;
  bulkhead?: BulkheadOptions | false;
  ejection?: EjectionOptions;
  healthCheck?: HealthCheckOptions;
  /** Connections per endpoint. Default unlimited. */
  connections?: number;
  /**
   * Development only: lets calls that carry a passport go to `http://` endpoints. A passport
   * may name the whole zone as its audience, so anyone on a plaintext path could replay it to
   * any service of the zone; without this, such a call throws TypeError. Default false.
   */
  insecure?: boolean;
}

/** Options of `createClient`. */
export interface ClientOptions {
  /** This service: its key (`shop/frontend`), or its key and SPIFFE ID. */
  self: string | { service: string; spiffeId?: string };
  /** The workload's identity (e.g. a `WorkloadIdentity`): required for https endpoints. */
  identity?: SvidSource;
  /** Decides every call before it leaves; a denial throws `EgressDeniedError`. */
  guard?: EgressGuard;
  /** For conventional server IDs. Default: the trust domain of the identity's SVID. */
  trustDomain?: string;
  /** Defaults merged under each destination's options. */
  defaults?: DestinationOptions;
  /** The destinations this service calls, by service key. */
  destinations: Readonly<Record<string, DestinationOptions>>;
  /** Where the metrics go. Default a registry of the client's own (`client.registry`). */
  registry?: Registry;
  /** Called with each egress decision (allowed or not). Must not throw. */
  onDecision?: (destination: string, decision: Decision) => void;
  logger?: PdpLogger;
}

/** A destination's options after validation. */
export interface ResolvedDestination {
  readonly key: string;
  readonly endpoints: readonly URL[];
  /** The expected server identity; undefined when there is no https endpoint. */
  readonly spiffeId: SpiffeIdMatcher | undefined;
  readonly timeoutMs: number;
  readonly deadlineMs: number;
  readonly retry:
    | (Required<Omit<RetryOptions, 'budget'>> & {
        ratio: number;
        minPerSec: number;
      })
    | null;
  readonly breaker: Required<BreakerOptions> | null;
  readonly bulkhead: Required<BulkheadOptions> | null;
  readonly ejection: Required<EjectionOptions>;
  readonly healthCheck: Required<HealthCheckOptions> | null;
  readonly connections: number | undefined;
  /** Some endpoint is `http://` and `insecure` was not set: passports may not be sent. */
  readonly plaintextRefusesPassports: boolean;
}

function int(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

function num(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`${name} must be a number in [${min}, ${max}]`);
  }
  return value;
}

const DAY = 86_400_000;

function endpointOf(text: unknown, name: string): URL {
  let url: URL;
  try {
    url = new URL(String(text));
  } catch {
    throw new TypeError(`${name} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`${name} must be an http:// or https:// origin`);
  }
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    throw new TypeError(`${name} must be an origin only (no path, query or credentials)`);
  }
  return url;
}

/** Validates one destination, `defaults` under it. */
export function resolveDestination(
  key: string,
  own: DestinationOptions,
  defaults: DestinationOptions,
  trustDomain: string | undefined,
): ResolvedDestination {
  const o = { ...defaults, ...own };
  const at = `destinations['${key}']`;
  const list = o.endpoints;
  if (!Array.isArray(list) || list.length === 0 || list.length > 1024) {
    throw new TypeError(`${at}.endpoints must list 1 to 1024 URLs`);
  }
  const endpoints = list.map((e, i) => endpointOf(e, `${at}.endpoints[${i}]`));
  let spiffeId: SpiffeIdMatcher | undefined;
  if (endpoints.some((u) => u.protocol === 'https:')) {
    if (o.spiffeId !== undefined) spiffeId = o.spiffeId;
    else {
      if (trustDomain === undefined) {
        throw new TypeError(`${at}: https endpoints need options.identity or options.trustDomain`);
      }
      const { namespace, name } = splitServiceKey(key);
      spiffeId = defaultSpiffeId(trustDomain, namespace, name);
    }
  }
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') {
    throw new TypeError(`${at}.insecure must be a boolean`);
  }
  const plaintext = endpoints.some((u) => u.protocol === 'http:');
  const timeoutMs = int(o.timeoutMs, `${at}.timeoutMs`, 10_000, 1, DAY);
  const r = o.retry;
  const retry =
    r === false
      ? null
      : {
          maxAttempts: int(r?.maxAttempts, `${at}.retry.maxAttempts`, 3, 1, 10),
          initialDelayMs: int(r?.initialDelayMs, `${at}.retry.initialDelayMs`, 50, 0, DAY),
          maxDelayMs: int(r?.maxDelayMs, `${at}.retry.maxDelayMs`, 2000, 0, DAY),
          ratio: num(r?.budget?.ratio, `${at}.retry.budget.ratio`, 0.2, 0, 1000),
          minPerSec: num(r?.budget?.minPerSec, `${at}.retry.budget.minPerSec`, 10, 0, 1e6),
        };
  const b = o.breaker;
  const breaker =
    b === false
      ? null
      : {
          consecutiveFailures: int(
            b?.consecutiveFailures,
            `${at}.breaker.consecutiveFailures`,
            5,
            1,
            1e6,
          ),
          halfOpenAfterMs: int(b?.halfOpenAfterMs, `${at}.breaker.halfOpenAfterMs`, 5000, 1, DAY),
        };
  const h = o.bulkhead;
  const bulkhead =
    h === false
      ? null
      : {
          maxConcurrent: int(h?.maxConcurrent, `${at}.bulkhead.maxConcurrent`, 256, 1, 1e6),
          maxQueue: int(h?.maxQueue, `${at}.bulkhead.maxQueue`, 1024, 0, 1e6),
        };
  const e = o.ejection;
  const ejection = {
    consecutiveFailures: int(
      e?.consecutiveFailures,
      `${at}.ejection.consecutiveFailures`,
      5,
      1,
      1e6,
    ),
    baseMs: int(e?.baseMs, `${at}.ejection.baseMs`, 1000, 1, DAY),
    maxMs: int(e?.maxMs, `${at}.ejection.maxMs`, 30_000, 1, DAY),
  };
  const c = o.healthCheck;
  let healthCheck: Required<HealthCheckOptions> | null = null;
  if (c !== undefined) {
    if (typeof c?.path !== 'string' || !/^\/[\x21-\x7e]{0,1023}$/.test(c.path)) {
      throw new TypeError(`${at}.healthCheck.path must be a path starting with /`);
    }
    healthCheck = {
      path: c.path,
      intervalMs: int(c.intervalMs, `${at}.healthCheck.intervalMs`, 5000, 10, DAY),
      timeoutMs: int(c.timeoutMs, `${at}.healthCheck.timeoutMs`, 2000, 1, DAY),
    };
  }
  // By default, room for every attempt and the longest backoff between them.
  const attempts = retry?.maxAttempts ?? 1;
  const deadlineMs = int(
    o.deadlineMs,
    `${at}.deadlineMs`,
    attempts * timeoutMs + (attempts - 1) * (retry?.maxDelayMs ?? 0),
    1,
    10 * DAY,
  );
  return {
    key,
    endpoints,
    spiffeId,
    timeoutMs,
    deadlineMs,
    retry,
    breaker,
    bulkhead,
    ejection,
    healthCheck,
    connections:
      o.connections === undefined ? undefined : int(o.connections, `${at}.connections`, 0, 1, 1e6),
    plaintextRefusesPassports: plaintext && o.insecure !== true,
  };
}

/** The canonical key of a service reference, or TypeError. */
export function keyOf(ref: unknown, what: string): string {
  const key = typeof ref === 'string' ? canonicalServiceKey(ref) : undefined;
  if (key === undefined)
    throw new TypeError(`${what} must be a service key: name or namespace/name`);
  return key;
}
