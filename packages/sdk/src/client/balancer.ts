/**
 * Which instance of a destination an attempt goes to: power of two choices, least requests in
 * flight (two random endpoints, the less busy one wins; it spreads load almost as well as
 * least-loaded over all, at O(1), and never herds every caller onto the same "best" endpoint).
 *
 * Endpoints leave the choice when ejected (passive: `consecutiveFailures` connection failures in
 * a row, for an exponential backoff) or unhealthy (the active check failed). When every endpoint
 * is out, the balancer enters panic mode and chooses among all of them, as Envoy does: the
 * failure signals may be stale or wrong (an ejected endpoint may have recovered), and refusing
 * every call would turn a partial outage into a total one. The circuit breaker is what fails
 * fast when the destination is really down.
 */
import type { ResolvedDestination } from './options.ts';

/** One instance of a destination. */
export interface Endpoint {
  readonly url: URL;
  /** `https://10.0.0.5:8443`: the undici origin. */
  readonly origin: string;
  inFlight: number;
  /** Connection failures in a row. */
  failures: number;
  /** Ejections in a row (the backoff exponent); reset by a success. */
  ejections: number;
  /** Out of the choice until this time (ms since the epoch); 0 when not ejected. */
  ejectedUntil: number;
  /** Last verdict of the active health check; true when there is none. */
  healthy: boolean;
}

export class Balancer {
  readonly endpoints: readonly Endpoint[];
  readonly #ejection: ResolvedDestination['ejection'];
  readonly #onEject: (endpoint: Endpoint, ms: number) => void;
  readonly #candidates: Endpoint[] = [];

  constructor(destination: ResolvedDestination, onEject: (endpoint: Endpoint, ms: number) => void) {
    this.endpoints = destination.endpoints.map((url) => ({
      url,
      origin: url.origin,
      inFlight: 0,
      failures: 0,
      ejections: 0,
      ejectedUntil: 0,
      healthy: true,
    }));
    this.#ejection = destination.ejection;
    this.#onEject = onEject;
  }

  /** True when `e` may be chosen outside panic mode. */
  available(e: Endpoint, now = Date.now()): boolean {
    return e.healthy && e.ejectedUntil <= now;
  }

  /** Picks an endpoint, avoiding those in `tried` (this call's earlier attempts) when it can. */
  pick(tried: ReadonlySet<Endpoint> | undefined, now = Date.now()): Endpoint {
    const all = this.endpoints;
    if (all.length === 1) return all[0]!;
    const c = this.#candidates;
    c.length = 0;
    for (const e of all) if (this.available(e, now) && !tried?.has(e)) c.push(e);
    if (c.length === 0 && tried !== undefined && tried.size > 0) {
      // Everything untried is out: an available endpoint already tried beats an ejected one.
      for (const e of all) if (this.available(e, now)) c.push(e);
    }
    // Panic mode: all out, choose among all (see the module comment).
    const pool: readonly Endpoint[] = c.length > 0 ? c : all;
    if (pool.length === 1) return pool[0]!;
    const i = Math.floor(Math.random() * pool.length);
    let j = Math.floor(Math.random() * (pool.length - 1));
    if (j >= i) j++;
    const a = pool[i]!;
    const b = pool[j]!;
    return b.inFlight < a.inFlight ? b : a;
  }

  /** A connection to `e` failed (refused, reset, TLS refused): maybe eject it. */
  failed(e: Endpoint, now = Date.now()): void {
    e.failures++;
    if (e.failures < this.#ejection.consecutiveFailures) return;
    const ms = Math.min(
      this.#ejection.baseMs * 2 ** Math.min(e.ejections, 30),
      this.#ejection.maxMs,
    );
    e.ejections++;
    e.failures = 0;
    e.ejectedUntil = now + ms;
    this.#onEject(e, ms);
  }

  /** `e` answered: it is reachable again. */
  succeeded(e: Endpoint): void {
    e.failures = 0;
    e.ejections = 0;
  }
}
