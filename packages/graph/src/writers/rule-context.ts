/**
 * What the rule-based exports (rule-istio.ts, rule-netpol.ts) share: the workloads (graph nodes,
 * plus a stand-in for every service the policy names that the graph does not know), their
 * namespaces and principals, each destination's rules and pod ports, how a rule's sources become
 * Istio principals, and the report of what could not be expressed.
 *
 * The direction of every approximation is fixed: an ALLOW is exported no wider than the Ward rule
 * (a part Istio cannot say is dropped, or the rule left out), a DENY no narrower (a part it cannot
 * say is widened or dropped, so the deny covers more). Either way, the report names the rule.
 */
import { compileGlob, type PolicySet, type RuleInfo } from '@ward/policy';
import {
  defaultSpiffeId,
  namespaceOfKey,
  SPIFFE_SCHEME_PREFIX,
  serviceKey,
  splitServiceKey,
} from '@ward/spiffe';
import { GraphError } from '../errors.ts';
import { cmp, type DependencyGraph, type PodPort, type ServiceNode, sortPorts } from '../model.ts';
import { istioGlob } from './istio-match.ts';
import {
  type ExportOptions,
  type ExportResult,
  entryPorts,
  istioPrincipal,
  isWorkload,
  nodeNamespace,
  nodeWhere,
} from './policy-export.ts';

/** One thing a rule says that the export could not carry, and what the export did instead. */
export interface Unexpressed {
  /** `policy#index` of the Ward rule. */
  rule: string;
  /** The part: `when: <condition>`, `path glob "/a/*"`, `source "shop-*"`, … */
  what: string;
  /** Why, and the direction: `left out`, `dropped (narrower)`, `widened (stricter)`. */
  why: string;
}

export interface RuleExportResult extends ExportResult {
  /** Every rule part not exported exactly (`could not express: <rule> <what> <why>`). */
  unexpressed: Unexpressed[];
}

/** One line of the report, as the CLI prints it. */
export function unexpressedLine(u: Unexpressed): string {
  return `could not express: ${u.rule} ${u.what}: ${u.why}`;
}

export interface RuleContext {
  /** Workloads by name: graph workloads and stand-ins for services only the policy names. */
  nodes: Map<string, ServiceNode>;
  /** The same workloads sorted by name, and their namespaces sorted: the order of the output. */
  workloads: ServiceNode[];
  namespaces: string[];
  trustDomain: string;
  ns: (s: ServiceNode) => string;
  /** `namespace/name` of a workload, for messages. */
  where: (s: ServiceNode) => string;
  /** Istio principal (SPIFFE ID without `spiffe://`). */
  principal: (s: ServiceNode) => string;
  /** Enforced and dry-run rules by destination, in evaluation order. */
  rules: Map<string, RuleInfo[]>;
  /** Destinations whose every intention is dry-run: Ward enforces nothing there (soft apply). */
  softApply: Set<string>;
  unexpressed: Unexpressed[];
  warnings: string[];
  skipped: ExportResult['skipped'];
}

export const idOf = (r: RuleInfo): string => `${r.ref.policy}#${r.ref.index}`;

export function ruleContext(
  graph: DependencyGraph,
  policy: PolicySet,
  options: ExportOptions,
): RuleContext {
  const fallbackNs = options.namespace ?? 'default';
  const trustDomain = options.trustDomain ?? 'cluster.local';
  const nodes = new Map<string, ServiceNode>();
  for (const s of graph.services) if (isWorkload(s)) nodes.set(s.name, s);
  const skipped: ExportResult['skipped'] = [];
  const stand = (name: string): void => {
    if (nodes.has(name)) return;
    const other = graph.services.find((s) => s.name === name);
    if (other) {
      skipped.push({ item: name, reason: 'the policy names it, but it is not a workload' });
      return;
    }
    const info = policy.services.get(name);
    nodes.set(name, {
      name,
      type: 'service',
      virtual: false,
      ...(info ? { namespace: info.namespace, spiffeId: info.spiffeId } : {}),
      labels: {},
      sources: [],
    });
  };
  for (const name of policy.services.keys()) stand(name);
  const rules = new Map<string, RuleInfo[]>();
  const softApply = new Set<string>();
  for (const dest of policy.destinations()) {
    const list = policy.rules(dest);
    stand(dest);
    rules.set(dest, list);
    if (list.length > 0 && list.every((r) => r.ref.mode === 'dry-run')) softApply.add(dest);
  }
  const ns = (s: ServiceNode) => nodeNamespace(s, fallbackNs);
  const workloads = [...nodes.values()].sort((a, b) => cmp(a.name, b.name));
  return {
    nodes,
    workloads,
    namespaces: [...new Set(workloads.map(ns))].sort(),
    trustDomain,
    ns,
    where: (s) => nodeWhere(s, fallbackNs),
    principal: (s) => istioPrincipal(s, trustDomain, fallbackNs),
    rules,
    softApply,
    unexpressed: [],
    warnings: [],
    skipped,
  };
}

/**
 * The pod ports callers reach on `s`: those of every edge into it and of its entry points, or
 * undefined when any of them is unknown (then nothing restricts ports).
 */
export function destinationPorts(graph: DependencyGraph, s: ServiceNode): PodPort[] | undefined {
  const all = new Map<string, PodPort>();
  const incoming = graph.edges.filter((e) => e.to === s.name);
  if (incoming.length === 0 && !s.entryPoints?.length) return undefined;
  for (const e of incoming) {
    if (!e.podPorts) return undefined;
    for (const p of e.podPorts) all.set(`${p.protocol}/${p.port}`, p);
  }
  if (s.entryPoints?.length) {
    const entry = entryPorts(s);
    if (!entry) return undefined;
    for (const p of entry) all.set(`${p.protocol}/${p.port}`, p);
  }
  return sortPorts([...all.values()]);
}

/** A rule's sources as Istio principals; `any` when one is `*` (or a deny had to widen). */
export interface Principals {
  any: boolean;
  principals: string[];
  /**
   * Whole namespaces (`ns/*` sources): Istio `source.namespaces`, a NetworkPolicy peer by
   * `namespaceSelector` alone.
   */
  namespaces: string[];
  /**
   * Principals an exported ALLOW of `namespaces` must except (`source.notPrincipals`): known
   * workloads whose SPIFFE ID names one of those namespaces but whose key is in another, which
   * Ward's `ns/*` does not match.
   */
  notPrincipals: string[];
  /** The workloads those principals and namespaces belong to (for NetworkPolicy peers). */
  workloads: ServiceNode[];
}

const stripScheme = (id: string): string =>
  id.startsWith(SPIFFE_SCHEME_PREFIX) ? id.slice(SPIFFE_SCHEME_PREFIX.length) : id;

/** The namespace a principal (`td/ns/<ns>/sa/<sa>`) names, as Istio reads it. */
export function principalNamespace(principal: string): string | undefined {
  return /^[^/]+\/ns\/([^/]+)\//.exec(principal)?.[1];
}

/** A non-SPIFFE source, resolved as Ward does against the intention's namespace. */
type NameSource =
  | { kind: 'name'; key: string }
  | { kind: 'namespace'; namespace: string }
  | { kind: 'glob'; key: string };

/**
 * Resolves a service source written in an intention of namespace `ns` (Ward's `compileSource`):
 * `orders` is `ns/orders`, `other/orders` that one, `other/*` every service of `other`, and a
 * glob stays inside its namespace (`**` in a name means `*`).
 */
export function resolveSource(text: string, ns: string): NameSource {
  const slash = text.indexOf('/');
  const namespace = slash < 0 ? ns : text.slice(0, slash);
  const name = slash < 0 ? text : text.slice(slash + 1);
  if (!name.includes('*')) return { kind: 'name', key: serviceKey(namespace, name) };
  const one = name.replace(/\*\*/g, '*');
  if (one === '*') return { kind: 'namespace', namespace };
  return { kind: 'glob', key: serviceKey(namespace, one) };
}

/**
 * The principals of a rule's sources. A name is its workload's principal (the default SPIFFE ID
 * in its own namespace when no workload is known); a SPIFFE ID is itself; `ns/*` is the namespace
 * `ns`; a glob Istio can say (`spiffe://td/ns/shop/**`, or a last `/sa/*` segment — service
 * accounts hold no `/`) stays a pattern. Other globs (over names, or mid-ID wildcards) match the
 * known workloads now (ALLOW: the services added later are not covered, reported) or any source
 * (DENY: widened, reported). Names resolve in the intention's namespace, its destination's.
 */
export function principalsOf(c: RuleContext, rule: RuleInfo): Principals {
  const deny = rule.ref.action === 'deny';
  const home = namespaceOfKey(rule.destination);
  const out: Principals = {
    any: false,
    principals: [],
    namespaces: [],
    notPrincipals: [],
    workloads: [],
  };
  const known = c.workloads; // already sorted by name
  const add = (s: ServiceNode) => {
    out.principals.push(c.principal(s));
    out.workloads.push(s);
  };
  for (const src of rule.sources) {
    if (src === '*') {
      out.any = true;
      continue;
    }
    const spiffe = src.startsWith(SPIFFE_SCHEME_PREFIX);
    if (!spiffe) {
      const ref = resolveSource(src, home);
      if (ref.kind === 'name') {
        const node = c.nodes.get(ref.key);
        if (node) add(node);
        else {
          const { namespace, name } = splitServiceKey(ref.key);
          out.principals.push(stripScheme(defaultSpiffeId(c.trustDomain, namespace, name)));
        }
        continue;
      }
      if (ref.kind === 'namespace') {
        namespaceSource(c, rule, ref.namespace, out);
        continue;
      }
    }
    if (spiffe && !src.includes('*')) {
      out.principals.push(stripScheme(src));
      out.workloads.push(
        ...known.filter((s) => `${SPIFFE_SCHEME_PREFIX}${c.principal(s)}` === src),
      );
      continue;
    }
    const pattern = spiffe ? src : (resolveSource(src, home) as { key: string }).key;
    const glob = compileGlob(pattern);
    const matching = known.filter((s) =>
      glob.test(spiffe ? `${SPIFFE_SCHEME_PREFIX}${c.principal(s)}` : s.name),
    );
    if (spiffe) {
      const body = stripScheme(src);
      const istio =
        istioGlob(body) ??
        (/\/sa\/\*$/.test(body) && !body.slice(0, -1).includes('*') ? body : undefined);
      if (istio !== undefined) {
        out.principals.push(istio);
        out.workloads.push(...matching);
        continue;
      }
    }
    const why = spiffe
      ? 'Istio principals take one `*`, only at the start or end'
      : 'Istio matches principals, not service names, and has no pattern over names';
    if (deny) {
      out.any = true;
      c.unexpressed.push({
        rule: idOf(rule),
        what: `source ${JSON.stringify(src)}`,
        why: `${why}; widened to any source (the deny covers more callers)`,
      });
    } else {
      for (const s of matching) add(s);
      c.unexpressed.push({
        rule: idOf(rule),
        what: `source ${JSON.stringify(src)}`,
        why: `${why}; exported as the ${matching.length} known workload(s) it matches now (${matching.map((s) => s.name).join(', ') || 'none'}); services added later are not allowed`,
      });
    }
  }
  out.principals = [...new Set(out.principals)].sort();
  out.namespaces = [...new Set(out.namespaces)].sort();
  out.notPrincipals = [...new Set(out.notPrincipals)].sort();
  out.workloads = [...new Map(out.workloads.map((s) => [s.name, s])).values()];
  return out;
}

/**
 * `ns/*`: Ward matches every caller whose key is in `ns`; Istio's `source.namespaces` every
 * caller whose principal names `ns`. They differ only for workloads whose SPIFFE ID is not in
 * their own namespace: an ALLOW excepts those the principal brings in (`notPrincipals`) and
 * leaves out those it misses (narrower, reported); a DENY adds the missed ones by principal.
 */
function namespaceSource(c: RuleContext, rule: RuleInfo, ns: string, out: Principals): void {
  out.namespaces.push(ns);
  for (const s of c.workloads) {
    const inKey = namespaceOfKey(s.name) === ns;
    const principal = c.principal(s);
    const inPrincipal = principalNamespace(principal) === ns;
    if (inKey) out.workloads.push(s);
    if (inKey === inPrincipal) continue;
    if (rule.ref.action === 'deny') {
      if (inKey) out.principals.push(principal);
      continue;
    }
    if (inPrincipal) out.notPrincipals.push(principal);
    else
      c.unexpressed.push({
        rule: idOf(rule),
        what: `source ${JSON.stringify(`${ns}/*`)}`,
        why: `${c.where(s)} has the SPIFFE ID ${principal}, outside namespace ${ns}, which Istio's source.namespaces reads; it is left out of the allow`,
      });
  }
}

/** Refuses (unless `allowEmpty`) when some workload would have all its traffic cut. */
export function refuseUnexplained(
  c: RuleContext,
  workloads: ServiceNode[],
  explained: Set<string>,
  anyCaller: boolean,
  options: ExportOptions,
): void {
  const unexplained = anyCaller ? [] : workloads.filter((s) => !explained.has(s.name));
  if (unexplained.length === 0) return;
  const names = unexplained.map(c.where);
  if (!options.allowEmpty)
    throw new GraphError(
      'GRAPH_EXPORT_UNEXPLAINED',
      `refusing to export: ${unexplained.length} workload(s) are neither allowed to call nor to be called by any rule, and have no entry point, so the policies would cut all their traffic: ${names.slice(0, 20).join(', ')}${names.length > 20 ? `, … (${names.length})` : ''}. Add intentions for them, or pass --allow-empty to export anyway.`,
    );
  for (const n of names)
    c.warnings.push(
      `${n} is in no allow rule and has no entry point: all its traffic is denied (--allow-empty)`,
    );
}
