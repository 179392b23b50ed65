/**
 * The demo mesh: which services run, where their identities live, whom they call. A service is
 * `namespace/name`; its key (what its PDP, token, bundle and decision logs carry) is
 * `shop/orders` — the shop lives in namespace `shop`, its monitoring in `monitoring`.
 */

import { defaultSpiffeId, serviceKey } from '@ward/policy';

export interface MeshService {
  name: string;
  namespace: string;
  /**
   * The edge: `ward gateway` (end users enter here with OIDC tokens; it mints their passports),
   * not a handler of the demo's own.
   */
  gateway?: boolean;
  /** A client only (no server of its own): the monitoring tool. */
  clientOnly?: boolean;
  /**
   * Not a Node service: a Python standard-library server (./python.ts) that asks the node
   * agent's decision API for every request; it runs only where python3 and the agent do.
   */
  python?: boolean;
}

export const TRUST_DOMAIN = 'ward.local';

export const MESH: readonly MeshService[] = [
  { name: 'edge', namespace: 'shop', gateway: true },
  { name: 'frontend', namespace: 'shop' },
  { name: 'orders', namespace: 'shop' },
  { name: 'payments', namespace: 'shop' },
  { name: 'inventory', namespace: 'shop' },
  { name: 'notifications', namespace: 'shop' },
  { name: 'reviews', namespace: 'shop', python: true },
  { name: 'prometheus', namespace: 'monitoring', clientOnly: true },
];

/**
 * The services the monitoring tool scrapes, by key (no rule allows notifications; the reviews
 * draft, in dry-run, forgot it).
 */
export const SCRAPE_TARGETS: readonly string[] = [
  'shop/orders',
  'shop/payments',
  'shop/inventory',
  'shop/notifications',
  'shop/reviews',
];

/** A mesh service's key: `shop/orders`. */
export function keyOf(s: MeshService): string {
  return serviceKey(s.namespace, s.name);
}

export function spiffeIdOf(s: MeshService): string {
  return defaultSpiffeId(TRUST_DOMAIN, s.namespace, s.name);
}
