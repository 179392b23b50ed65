/**
 * `createClient`: how a Ward service calls the services it depends on. Each call is decided by
 * the egress guard first (a denial never touches the network), then made through the
 * destination's resilience pipeline (./destination.ts) over mTLS with the workload's current SVID.
 */
import { trustDomainOf } from '@ward/spiffe';
import { Registry } from 'prom-client';
import { PASSPORT_HEADER } from '../middleware/enforcer.ts';
import { EgressDeniedError } from '../middleware/errors.ts';
import { Destination } from './destination.ts';
import { ClientError } from './errors.ts';
import { clientMetrics } from './metrics.ts';
import { type ClientOptions, keyOf, resolveDestination } from './options.ts';
import { type ClientRequest, type ClientResponse, prepareRequest } from './request.ts';
import { createTransport, type Transport } from './transport.ts';

/** A client for the destinations it was configured with. */
export interface Client {
  /** This service's key. */
  readonly self: string;
  /** Where the client's metrics are. */
  readonly registry: Registry;
  /**
   * Calls `destination` (a key from `options.destinations`). Resolves with the answer, whatever
   * its status; rejects with TypeError (misuse, e.g. a passport for an `http://` destination
   * not marked `insecure`), `EgressDeniedError` (the guard refused), `ClientError` (circuit
   * open, bulkhead full, timeout, unavailable, peer rejected, closed), or the caller's abort
   * reason.
   */
  request(destination: string, request: ClientRequest): Promise<ClientResponse>;
  /** Stops health checks and closes every connection; later calls fail with `CLIENT_CLOSED`. */
  close(): Promise<void>;
}

/**
 * Creates a resilient client.
 *
 * @example
 * ```ts
 * const client = createClient({
 *   self: 'shop/frontend',
 *   identity: await workloadIdentity(),
 *   guard: createEgressGuard({ decider: pdp, self: 'shop/frontend' }),
 *   destinations: { 'shop/orders': { endpoints: ['https://10.0.0.5:8443', 'https://10.0.0.6:8443'] } },
 * });
 * const res = await client.request('shop/orders', { path: '/orders/42' });
 * const order = await res.body.json();
 * ```
 */
export function createClient(options: ClientOptions): Client {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('options must be an object');
  }
  const selfRef = typeof options.self === 'string' ? options.self : options.self?.service;
  const self = keyOf(selfRef, 'options.self');
  const { identity, guard, onDecision, logger } = options;
  if (guard !== undefined && typeof guard?.check !== 'function') {
    throw new TypeError('options.guard must be an EgressGuard (createEgressGuard)');
  }
  let trustDomain = options.trustDomain;
  if (trustDomain === undefined && identity !== undefined) {
    trustDomain = trustDomainOf(identity.svid.spiffeId);
  }
  if (options.destinations === null || typeof options.destinations !== 'object') {
    throw new TypeError('options.destinations must map service keys to their options');
  }
  const registry = options.registry ?? new Registry();
  const metricsOf = clientMetrics(registry);
  const destinations = new Map<string, Destination>();
  const transports: Transport[] = [];
  for (const [ref, own] of Object.entries(options.destinations)) {
    const key = keyOf(ref, `destination '${ref}'`);
    if (destinations.has(key)) throw new TypeError(`destination ${key} is configured twice`);
    const resolved = resolveDestination(key, own ?? {}, options.defaults ?? {}, trustDomain);
    if (resolved.spiffeId !== undefined && identity === undefined) {
      throw new TypeError(`destinations['${ref}']: https endpoints need options.identity (mTLS)`);
    }
    const transport = createTransport(identity, resolved.spiffeId, resolved.connections);
    transports.push(transport);
    destinations.set(key, new Destination(resolved, transport, metricsOf(key), logger));
  }
  // Misspelled destinations are common: look the reference up as given, then canonically.
  const lookup = new Map<string, Destination>(destinations);
  for (const ref of Object.keys(options.destinations)) {
    lookup.set(ref, destinations.get(keyOf(ref, ref))!);
  }
  let closed = false;

  return {
    self,
    registry,
    async request(ref, request) {
      let destination = lookup.get(ref);
      if (destination === undefined) {
        destination = destinations.get(keyOf(ref, 'destination'));
        if (destination === undefined) {
          throw new TypeError(`destination ${ref} is not configured in this client`);
        }
      }
      const key = destination.options.key;
      if (closed) throw new ClientError('CLIENT_CLOSED', key, 'the client is closed');
      const p = prepareRequest(request);
      // Checked per call, since passports are: a passport's audience may be the whole zone, so
      // one seen on a plaintext hop could be replayed to any service in it.
      if (p.claims !== undefined && destination.options.plaintextRefusesPassports) {
        throw new TypeError(
          `destination ${key} has http:// endpoints: a passport is sent over https only ` +
            '(set insecure: true on the destination for development)',
        );
      }
      if (guard !== undefined) {
        // The destination decides without the passport's token in the headers (the enforcer
        // removes it too); the claims stand for it.
        const { [PASSPORT_HEADER]: _token, ...headers } = p.headers;
        try {
          const decision = guard.check(key, { method: p.method, path: p.path, headers }, p.claims);
          onDecision?.(key, decision);
        } catch (error) {
          if (error instanceof EgressDeniedError) {
            onDecision?.(key, error.decision);
            destination.denied();
          }
          throw error;
        }
      }
      return destination.call(p);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const d of destinations.values()) d.close();
      await Promise.all(transports.map((t) => t.close()));
    },
  };
}
