/**
 * Built bundles, cached in memory per service. After a change, thousands of PDPs ask for the
 * same bundle at once: the first request builds it and every concurrent one awaits the same
 * promise (single flight); later ones get the cached, pre-serialised body.
 */
import type { ServerMetrics } from '../metrics/metrics.ts';
import type { Store } from '../store/store.ts';
import { type BuiltBundle, buildBundle } from './builder.ts';
import type { SigningKey } from './signing-key.ts';

export class BundleCache {
  readonly #store: Store;
  readonly #key: SigningKey;
  readonly #entries = new Map<string, Promise<BuiltBundle | undefined>>();
  readonly #metrics: ServerMetrics | undefined;
  /** Builds done, for tests and metrics: a GET served from cache does not count. */
  builds = 0;

  constructor(store: Store, key: SigningKey, metrics?: ServerMetrics) {
    this.#store = store;
    this.#key = key;
    this.#metrics = metrics;
  }

  get(service: string): Promise<BuiltBundle | undefined> {
    const hit = this.#entries.get(service);
    if (hit) return hit;
    this.builds++;
    const build = () => buildBundle(this.#store, service, this.#key);
    const promise = this.#metrics ? this.#metrics.timeBundleBuild(build) : build();
    this.#entries.set(service, promise);
    // A failed build must not stay cached; an unknown service is not cached either (it may be
    // created later, and caching misses would let anyone grow the map with random names).
    promise.then(
      (built) => {
        if (!built && this.#entries.get(service) === promise) this.#entries.delete(service);
      },
      () => {
        if (this.#entries.get(service) === promise) this.#entries.delete(service);
      },
    );
    return promise;
  }

  /**
   * Drops the bundles of `services` (`*`: all). A build already in flight keeps serving the
   * requests that are awaiting it, but is no longer in the map, so it is never served again.
   */
  invalidate(services: readonly string[]): void {
    if (services.includes('*')) {
      this.#entries.clear();
      return;
    }
    for (const s of services) this.#entries.delete(s);
  }
}
