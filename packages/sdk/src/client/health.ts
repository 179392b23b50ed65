/**
 * Active health checking: a GET of `healthCheck.path` on every endpoint each `intervalMs`. A 2xx
 * keeps (or brings back) the endpoint in load balancing; anything else (another status, a
 * connection failure, no answer within `timeoutMs`) takes it out until a check passes. Checks go
 * through the destination's own pools, over mTLS for https endpoints, and bypass the egress
 * guard: they are the configuration's own traffic, not the application's calls.
 */
import type { Endpoint } from './balancer.ts';
import type { ResolvedDestination } from './options.ts';
import type { Transport } from './transport.ts';

/** Starts checking; returns the function that stops. */
export function startHealthChecks(
  check: NonNullable<ResolvedDestination['healthCheck']>,
  endpoints: readonly Endpoint[],
  transport: Transport,
  onChange: (endpoint: Endpoint, healthy: boolean) => void,
): () => void {
  const running = new Set<Endpoint>();
  const controller = new AbortController();
  const probe = async (e: Endpoint) => {
    // One probe per endpoint at a time: a hung endpoint costs one connection, not one per tick.
    if (running.has(e)) return;
    running.add(e);
    let healthy = false;
    try {
      const res = await transport.for(e.url).request({
        origin: e.origin,
        path: check.path,
        method: 'GET',
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(check.timeoutMs)]),
        headersTimeout: check.timeoutMs,
        bodyTimeout: check.timeoutMs,
      });
      await res.body.dump();
      healthy = res.statusCode >= 200 && res.statusCode < 300;
    } catch {
      healthy = false;
    } finally {
      running.delete(e);
    }
    if (controller.signal.aborted) return;
    if (healthy !== e.healthy) {
      e.healthy = healthy;
      onChange(e, healthy);
    }
  };
  const tick = () => {
    for (const e of endpoints) void probe(e);
  };
  tick();
  const timer = setInterval(tick, check.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    controller.abort();
  };
}
