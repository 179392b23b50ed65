/**
 * Which edges the stored intentions approve: an edge (source → destination) is approved when an
 * `allow` rule of an intention on the destination (in either mode) names the source — by service
 * name, by SPIFFE ID, or by a pattern (`*` and globs approve every service they match). L7
 * permissions and `when` conditions are not considered: a rule that allows some calls on the edge
 * approves the edge.
 */
import {
  compile,
  namespaceOfKey,
  type PolicyDocument,
  type PolicySet,
  resolveSource,
} from '@ward/policy';
import { globToRegExp } from '../bundles/references.ts';
import type { Store } from '../store/store.ts';

/** Stored documents compiled as one policy, each named `<stored KIND NAME>` in diagnostics. */
export function compileStored(
  docs: readonly { kind: string; name: string; document: unknown }[],
  trustDomain: string,
): PolicySet {
  return compile(
    docs.map((d, index) => ({
      document: d.document as PolicyDocument,
      file: `<stored ${d.kind} ${d.name}>`,
      index,
    })),
    { trustDomain },
  );
}

/** One allow rule's share in approving an edge. */
export interface ApprovingRule {
  /** `policy#index`, as decision logs name rules. */
  rule: string;
  mode: 'enforce' | 'dry-run';
  /** True when the rule matched through `*` or a glob rather than naming the source. */
  wildcard: boolean;
}

type SourceTest = (name: string | undefined, spiffeId: string | undefined) => boolean;

/**
 * A rule source as a test on (service key, SPIFFE ID). The source is resolved in its intention's
 * namespace (the destination's) first, as the engine does: `orders` in a `shop` intention is
 * `shop/orders`, `monitoring/*` every service of namespace `monitoring`.
 */
function sourceTest(text: string, namespace: string): { test: SourceTest; wildcard: boolean } {
  const source = resolveSource(text, namespace);
  if (source.kind === 'any') return { test: () => true, wildcard: true };
  const spiffe = source.kind === 'spiffe';
  const want = source.text;
  if (source.glob) {
    const re = globToRegExp(want);
    return {
      test: (n, id) => {
        const v = spiffe ? id : n;
        return v !== undefined && re.test(v);
      },
      wildcard: true,
    };
  }
  return { test: spiffe ? (_n, id) => id === want : (n) => n === want, wildcard: false };
}

interface CompiledAllow {
  rule: string;
  mode: 'enforce' | 'dry-run';
  sources: { test: SourceTest; wildcard: boolean }[];
}

export class Approvals {
  readonly #set: PolicySet;
  readonly #allows = new Map<string, CompiledAllow[]>();
  /** Every service the policy knows: Service documents and intention destinations, sorted. */
  readonly services: string[];
  readonly #known: ReadonlySet<string>;

  constructor(set: PolicySet) {
    this.#set = set;
    for (const r of set.rules()) {
      if (r.ref.action !== 'allow') continue;
      let list = this.#allows.get(r.destination);
      if (!list) {
        list = [];
        this.#allows.set(r.destination, list);
      }
      list.push({
        rule: `${r.ref.policy}#${r.ref.index}`,
        mode: r.ref.mode,
        sources: r.sources.map((text) => sourceTest(text, namespaceOfKey(r.destination))),
      });
    }
    this.services = [...new Set([...set.services.keys(), ...set.destinations()])].sort();
    this.#known = new Set(this.services);
  }

  /** Compiles the store's current documents. */
  static async load(store: Store): Promise<Approvals> {
    return new Approvals(compileStored(await store.listDocuments(), store.trustDomain));
  }

  /** The service name an observed caller stands for (a known SPIFFE ID becomes its service). */
  resolve(source: string): string {
    if (source.startsWith('spiffe://')) return this.#set.serviceBySpiffeId(source)?.name ?? source;
    return source;
  }

  /** True when `name` is a service the policy knows. */
  isKnown(name: string): boolean {
    return this.#known.has(name);
  }

  /** The allow rules that approve `source → destination` (empty: unapproved). */
  approving(source: string, destination: string): ApprovingRule[] {
    const rules = this.#allows.get(destination);
    if (!rules) return [];
    let name: string | undefined;
    let id: string | undefined;
    if (source.startsWith('spiffe://')) {
      id = source;
      name = this.#set.serviceBySpiffeId(source)?.name;
    } else {
      name = source;
      id = this.#set.services.get(source)?.spiffeId;
    }
    const out: ApprovingRule[] = [];
    for (const r of rules) {
      let wildcard = true;
      let hit = false;
      for (const s of r.sources) {
        if (s.test(name, id)) {
          hit = true;
          if (!s.wildcard) wildcard = false;
        }
      }
      if (hit) out.push({ rule: r.rule, mode: r.mode, wildcard });
    }
    return out;
  }

  /** Every approved edge between known services (self-edges excluded), sorted. */
  approvedEdges(): { source: string; destination: string; rules: ApprovingRule[] }[] {
    const out: { source: string; destination: string; rules: ApprovingRule[] }[] = [];
    for (const destination of [...this.#allows.keys()].sort()) {
      for (const source of this.services) {
        if (source === destination) continue;
        const rules = this.approving(source, destination);
        if (rules.length > 0) out.push({ source, destination, rules });
      }
    }
    return out;
  }
}
