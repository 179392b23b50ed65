/**
 * The rule names each destination's current policy can put in a decision record: `intention#i`
 * for every rule of every intention on that destination, and `default` (no rule matched). A
 * record naming anything else is refused, so a compromised PDP cannot invent rules that the
 * dry-run report and `promote` would then count.
 *
 * Loaded once per revision this replica has seen (the follower's revision, read without a query),
 * and again, at most once a second, when a record claims a newer revision than the one loaded (a
 * PDP may hear of a revision from another replica first).
 */
import {
  canonicalServiceKey,
  documentKey,
  documentNamespace,
  type IntentionDocument,
} from '@ward/policy';
import type { Store } from '../store/store.ts';

/** The rule name decision logs carry when no rule matched (the SDK's default-deny marker). */
export const DEFAULT_RULE = 'default';

const RELOAD_MS = 1000;

export class RuleNames {
  readonly #store: Store;
  readonly #revision: () => number;
  #loaded = -1;
  #loadedAt = 0;
  #byDestination = new Map<string, ReadonlySet<string>>();
  #loading: Promise<void> | null = null;

  /** `revision`: the newest revision this replica knows of (cheap, no query). */
  constructor(store: Store, revision: () => number) {
    this.#store = store;
    this.#revision = revision;
  }

  /**
   * The rule names of every destination, current as of the known revision (or of `claimed`, the
   * highest revision a batch's records name, when that is newer and the last load is a second old).
   */
  async current(claimed = 0): Promise<ReadonlyMap<string, ReadonlySet<string>>> {
    const known = this.#revision();
    const stale =
      this.#loaded < known ||
      (claimed > this.#loaded && performance.now() - this.#loadedAt >= RELOAD_MS);
    if (stale) {
      this.#loading ??= this.#load().finally(() => {
        this.#loading = null;
      });
      await this.#loading;
    }
    return this.#byDestination;
  }

  async #load(): Promise<void> {
    const { revision } = await this.#store.revision();
    const docs = await this.#store.listDocuments({ kind: 'Intention' });
    const map = new Map<string, Set<string>>();
    for (const d of docs) {
      const doc = d.document as IntentionDocument;
      // By keys, as decisions name them: the destination resolved in the intention's namespace,
      // and the rule `<intention key>#<index>` (`shop/orders#0`).
      const destination =
        canonicalServiceKey(doc.spec.destination, documentNamespace(doc)) ?? doc.spec.destination;
      let set = map.get(destination);
      if (!set) {
        set = new Set([DEFAULT_RULE]);
        map.set(destination, set);
      }
      const key = documentKey(doc);
      for (let i = 0; i < doc.spec.rules.length; i++) set.add(`${key}#${i}`);
    }
    this.#byDestination = map;
    this.#loaded = revision;
    this.#loadedAt = performance.now();
  }
}
