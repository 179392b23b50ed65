/**
 * Which service a SPIFFE ID is: the stored Service documents' `spec.spiffeId`, or Ward's default
 * `spiffe://<trust-domain>/ns/<namespace>/sa/<name>` (the same rule bundles use). The map is
 * rebuilt once per revision, on first use after a change, so a request costs one map lookup.
 */
import type { ServiceDocument } from '@ward/policy';
import { spiffeIdOf } from '../bundles/references.ts';
import type { Store } from '../store/store.ts';

export class ServiceIdentities {
  readonly #store: Store;
  readonly #revision: () => number;
  #built: { revision: number; map: Promise<Map<string, string>> } | undefined;

  /** `revision` says which revision this replica has seen (the follower's). */
  constructor(store: Store, revision: () => number) {
    this.#store = store;
    this.#revision = revision;
  }

  /** The name of the service whose identity is `spiffeId`, or undefined. */
  async serviceOf(spiffeId: string): Promise<string | undefined> {
    return (await this.#map()).get(spiffeId);
  }

  #map(): Promise<Map<string, string>> {
    const revision = this.#revision();
    if (this.#built?.revision !== revision) {
      const map = this.#load();
      this.#built = { revision, map };
      // A failed load is not kept: the next request tries again.
      map.catch(() => {
        if (this.#built?.map === map) this.#built = undefined;
      });
    }
    return this.#built.map;
  }

  async #load(): Promise<Map<string, string>> {
    const docs = await this.#store.listDocuments({ kind: 'Service' });
    const map = new Map<string, string>();
    for (const d of docs) {
      map.set(spiffeIdOf(d.document as ServiceDocument, this.#store.trustDomain), d.name);
    }
    return map;
  }
}
