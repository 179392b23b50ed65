/**
 * Enumerating what a principal owns. `owns(principal, key)` (tokens.ts) answers for one key;
 * where a route has to LIST a team's services (proposals for all of them, a report over all of
 * them), it lists the stored services `owns` accepts, plus the keys the token names explicitly
 * (a service it owns may have no Service document yet). A namespace-owning token so covers every
 * service of its namespaces, present and future, and nothing else.
 */
import type { Store } from '../store/store.ts';
import { ownedAmong, type Principal } from './tokens.ts';

/** The service keys `principal` owns among the stored Services and its named services. */
export async function ownedServices(store: Store, principal: Principal): Promise<Set<string>> {
  const stored = await store.listDocuments({ kind: 'Service' });
  return new Set(ownedAmong(principal, [...principal.services, ...stored.map((d) => d.name)]));
}
