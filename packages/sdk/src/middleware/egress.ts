import {
  canonicalDecisionRequest,
  type Decision,
  type DecisionSource,
  type PassportClaims,
} from '@ward/policy';
import { canonicalServiceKey } from '@ward/spiffe';
import type { Dispatcher } from 'undici';
import type { Decider } from './decider.ts';
import { EgressDeniedError, EnforcementError } from './errors.ts';

/** The request a service is about to send, as the destination's policy sees it. */
export interface EgressRequest {
  /** HTTP method; default `GET`. */
  method?: string;
  /** Path, with its query string if any (split off as the destination does). Default `/`. */
  path?: string;
  /** Lower-case header names. */
  headers?: Record<string, string>;
  grpc?: { service: string; method: string };
}

/** Options of {@link createEgressGuard}. */
export interface EgressGuardOptions {
  /**
   * A decider that holds the DESTINATIONS' intentions (a PolicySet compiled from the documents of
   * the services this one calls, or a PDP loaded with their bundles).
   */
  decider: Decider;
  /**
   * This service: its key (`orders`, or `shop/orders` outside the default namespace), or its key
   * and SPIFFE ID. `default/orders` is read as `orders`.
   */
  self: string | { service: string; spiffeId?: string };
  /**
   * Called with every decision, including dry-run would-denies that are let through, e.g. to log
   * or count them. Must not throw.
   */
  onDecision?: (destination: string, decision: Decision) => void;
}

/** Decides outgoing calls before they are made. */
export interface EgressGuard {
  /**
   * Decides a call from this service to `destination`. Returns the decision when the call may
   * proceed (also when only dry-run rules deny it); throws `EgressDeniedError` when it may not.
   */
  check(destination: string, request?: EgressRequest, passport?: PassportClaims): Decision;
}

/**
 * The caller side of the same policy: before this service calls another, ask the destination's
 * policy whether it would admit the call, and refuse locally if not, so a service cannot open an
 * unapproved dependency even by mistake (and a denied call costs no network round trip).
 *
 * @example
 * ```ts
 * const guard = createEgressGuard({ decider: compile(docs), self: 'frontend' });
 * guard.check('orders', { method: 'POST', path: '/orders' }); // throws EgressDeniedError if not allowed
 * ```
 */
export function createEgressGuard(options: EgressGuardOptions): EgressGuard {
  const { decider, onDecision } = options;
  if (decider === null || typeof decider?.decide !== 'function') {
    throw new TypeError('options.decider must have a decide(input) method');
  }
  const self = typeof options.self === 'string' ? { service: options.self } : options.self;
  const key = typeof self?.service === 'string' ? canonicalServiceKey(self.service) : undefined;
  if (key === undefined) {
    throw new TypeError('options.self must name this service: name or namespace/name');
  }
  const source: DecisionSource = Object.freeze(
    self.spiffeId === undefined ? { service: key } : { service: key, spiffeId: self.spiffeId },
  );
  // The last reference and its key: a service calls a few destinations over and over, so the
  // key is parsed once per change of destination, not per call.
  let lastRef: unknown;
  let lastKey: string | undefined;
  return {
    check(ref, request, passport) {
      // The destination's key (`default/x` is `x`): what its policy and bundle are named by.
      if (ref !== lastRef) {
        lastKey = typeof ref === 'string' ? canonicalServiceKey(ref) : undefined;
        lastRef = ref;
      }
      const destination = lastKey;
      if (destination === undefined) {
        throw new TypeError('destination must be a service key: name or namespace/name');
      }
      // The destination decides on the canonical request; preview the same form, the query
      // split off the path (throws a RequestTargetError for a path it would refuse with 400).
      const canonical = canonicalDecisionRequest({
        method: request?.method ?? 'GET',
        path: request?.path ?? '/',
        headers: request?.headers ?? {},
        grpc: request?.grpc,
      });
      const decision = decider.decide({
        destination,
        source,
        request: canonical,
        passport,
        time: Date.now(),
      });
      onDecision?.(destination, decision);
      if (!decision.allowed) throw new EgressDeniedError(destination, decision);
      return decision;
    },
  };
}

/**
 * Where outgoing URLs go: a map from origin (`https://orders.internal:8443`), host
 * (`orders.internal:8443`) or host name (`orders.internal`) to a service name, or a function.
 */
export type DestinationResolver =
  | Readonly<Record<string, string>>
  | ((url: URL) => string | undefined);

function resolverOf(destinations: DestinationResolver): (url: URL) => string {
  const lookup =
    typeof destinations === 'function'
      ? destinations
      : (url: URL) =>
          Object.hasOwn(destinations, url.origin)
            ? destinations[url.origin]
            : Object.hasOwn(destinations, url.host)
              ? destinations[url.host]
              : Object.hasOwn(destinations, url.hostname)
                ? destinations[url.hostname]
                : undefined;
  return (url) => {
    const service = lookup(url);
    if (service === undefined) {
      // An address no policy names is an unapproved dependency by definition.
      throw new EnforcementError(
        'EGRESS_UNKNOWN_DESTINATION',
        `no service is known for ${url.origin}; add it to the egress destinations`,
      );
    }
    return service;
  };
}

/** Options of {@link guardedFetch}. */
export interface GuardedFetchOptions {
  destinations: DestinationResolver;
  /** The fetch to wrap; default the global `fetch` (undici). */
  fetch?: typeof globalThis.fetch;
  /** Passport claims to decide with, e.g. those of the incoming request being served. */
  passport?: (init: RequestInit | undefined) => PassportClaims | undefined;
}

/**
 * A `fetch` that decides every request with the egress guard before it leaves: a denied request
 * rejects with `EgressDeniedError` (code `EGRESS_DENIED`) and is never sent; a URL that maps to no
 * service rejects with `EGRESS_UNKNOWN_DESTINATION`.
 *
 * @example
 * ```ts
 * const fetch = guardedFetch(guard, { destinations: { 'http://orders:8080': 'orders' } });
 * await fetch('http://orders:8080/orders/42'); // decided as frontend → orders GET /orders/42
 * ```
 */
export function guardedFetch(
  guard: EgressGuard,
  options: GuardedFetchOptions,
): typeof globalThis.fetch {
  const resolve = resolverOf(options.destinations);
  const inner = options.fetch ?? globalThis.fetch;
  return async function wardFetch(input, init) {
    const req = input instanceof Request ? input : undefined;
    const url = new URL(req ? req.url : input instanceof URL ? input.href : String(input));
    const destination = resolve(url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers ?? req?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    guard.check(
      destination,
      { method: init?.method ?? req?.method ?? 'GET', path: url.pathname, headers },
      options.passport?.(init),
    );
    return inner(input, init);
  };
}

/**
 * An undici interceptor (`dispatcher.compose(egressInterceptor(guard, …))`) that decides every
 * request made through the dispatcher, so `undici.request`, `fetch` with that dispatcher and any
 * client built on it are guarded alike. A denied request throws before anything is sent.
 */
export function egressInterceptor(
  guard: EgressGuard,
  options: { destinations: DestinationResolver },
): Dispatcher.DispatcherComposeInterceptor {
  const resolve = resolverOf(options.destinations);
  return (dispatch) => (opts, handler) => {
    const url = new URL(opts.path, opts.origin);
    const headers = headersOf(opts.headers);
    guard.check(resolve(url), { method: opts.method, path: url.pathname, headers });
    return dispatch(opts, handler);
  };
}

/** undici's request headers in any of their forms (flat array, pairs, object, Headers/Map). */
function headersOf(h: Dispatcher.DispatchOptions['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  if (h === null || h === undefined) return headers;
  if (Array.isArray(h) && !Array.isArray(h[0])) {
    for (let i = 0; i + 1 < h.length; i += 2) {
      headers[String(h[i]).toLowerCase()] = String(h[i + 1]);
    }
  } else if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of h as Iterable<[string, unknown]>) {
      if (Array.isArray(pair) && pair[1] !== undefined) {
        headers[String(pair[0]).toLowerCase()] = String(pair[1]);
      }
    }
  } else {
    for (const [k, v] of Object.entries(h)) {
      if (v !== undefined) headers[k.toLowerCase()] = String(v);
    }
  }
  return headers;
}
