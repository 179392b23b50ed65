/**
 * Kubernetes NetworkPolicies from Ward's rules (issue 14): a caller may reach a destination at L4
 * when an enforced allow rule of the destination names it (by name, SPIFFE ID or a glob matching
 * it now) and no enforced, unconditional deny rule does — not only when some edge was declared or
 * observed. Ports are the destination's pod ports the graph knows.
 *
 * NetworkPolicy is L4: it admits a caller for every request. So an allow with permissions or a
 * condition admits its callers wider than Ward at L4 (the L7 part is Ward's PDP's or the Istio
 * export's), and a deny with permissions or a condition is not expressed at all; both go into the
 * report. A source `*` admits every pod and outside traffic; a destination whose intentions are
 * all dry-run (soft apply) admits everything, as Ward enforces nothing there.
 */
import type { PolicySet } from '@ward/policy';
import { namespaceOfKey } from '@ward/spiffe';
import {
  cmp,
  type DependencyGraph,
  isStoreWorkload,
  type PodPort,
  type ServiceNode,
} from '../model.ts';
import {
  type ExportOptions,
  entryAnnotation,
  entryPorts,
  MANAGED,
  networkBaseline,
  plainName,
  podSelector,
  resourceName,
  uniqueNames,
} from './policy-export.ts';
import {
  destinationPorts,
  idOf,
  principalsOf,
  type RuleContext,
  type RuleExportResult,
  refuseUnexplained,
  ruleContext,
} from './rule-context.ts';

type Json = Record<string, unknown>;

/**
 * Who may reach `dest` at L4: workloads, whole namespaces (`ns/*`), or anyone. Reports what L4
 * cannot carry.
 */
function l4Callers(c: RuleContext, dest: ServiceNode) {
  const rules = c.rules.get(dest.name) ?? [];
  if (c.softApply.has(dest.name))
    return { any: true, callers: [] as ServiceNode[], namespaces: [] as string[] };
  let any = false;
  const callers = new Map<string, ServiceNode>();
  const namespaces = new Set<string>();
  for (const r of rules.filter((x) => x.ref.mode === 'enforce' && x.ref.action === 'allow')) {
    const src = principalsOf(c, r);
    any ||= src.any;
    for (const n of src.namespaces) namespaces.add(n);
    const inNamespaces = (s: ServiceNode) => src.namespaces.includes(namespaceOfKey(s.name));
    for (const s of src.workloads) if (!inNamespaces(s)) callers.set(s.name, s);
    const named = src.workloads.filter((s) => !inNamespaces(s)).length;
    if (src.principals.length > named)
      c.unexpressed.push({
        rule: idOf(r),
        what: 'sources',
        why: 'some name no workload the graph knows (no pods to select); left out at L4',
      });
    if (r.permissions || r.when !== undefined)
      c.unexpressed.push({
        rule: idOf(r),
        what: r.when !== undefined ? `when: ${r.when}` : 'permissions',
        why: 'NetworkPolicy is L4: its callers are admitted for every request (wider); the L7 part needs the Istio export or Ward',
      });
  }
  for (const r of rules.filter((x) => x.ref.mode === 'enforce' && x.ref.action === 'deny')) {
    if (r.permissions || r.when !== undefined) {
      c.unexpressed.push({
        rule: idOf(r),
        what: r.when !== undefined ? `when: ${r.when}` : 'permissions',
        why: 'NetworkPolicy is L4 and has no deny: a deny of some requests is left to the Istio export or Ward',
      });
      continue;
    }
    const src = principalsOf(c, r);
    if (src.any) {
      any = false;
      callers.clear();
      namespaces.clear();
      continue;
    }
    for (const n of src.namespaces) {
      namespaces.delete(n);
      for (const [k, s] of callers) if (namespaceOfKey(s.name) === n) callers.delete(k);
    }
    const inAllowed = src.workloads.filter((s) => namespaces.has(namespaceOfKey(s.name)));
    if (any || inAllowed.length > 0)
      c.unexpressed.push({
        rule: idOf(r),
        what: 'sources',
        why: any
          ? 'NetworkPolicy cannot except pods from an allow of every source; the deny is left to the Istio export or Ward'
          : `NetworkPolicy cannot except pods from an allow of a whole namespace (${inAllowed.map(c.where).join(', ')}); the deny is left to the Istio export or Ward`,
      });
    for (const s of src.workloads) callers.delete(s.name);
  }
  return {
    any,
    // A caller whose whole namespace may call needs no peer of its own.
    callers: [...callers.values()]
      .filter((s) => !namespaces.has(namespaceOfKey(s.name)))
      .sort((a, b) => cmp(a.name, b.name)),
    namespaces: [...namespaces].sort(),
  };
}

export function toNetworkPoliciesFromRules(
  graph: DependencyGraph,
  policy: PolicySet,
  options: ExportOptions = {},
): RuleExportResult {
  const c = ruleContext(graph, policy, options);
  const { workloads, namespaces } = c;
  const manifests: Json[] = [];
  const policy_ = (name: string, namespace: string, spec: Json, annotations?: Json) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace, labels: { ...MANAGED }, ...(annotations ? { annotations } : {}) },
    spec,
  });
  const ports = (list: PodPort[] | undefined) =>
    list && list.length > 0
      ? { ports: list.map((x) => ({ protocol: x.protocol, port: x.port })) }
      : {};
  const peer = (s: ServiceNode) => ({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.ns(s) } },
    podSelector: { matchLabels: { ...podSelector(s) } },
  });
  const explained = new Set<string>();
  let anyCaller = false;
  for (const s of workloads.filter((w) => w.entryPoints?.length)) {
    explained.add(s.name);
    manifests.push(
      policy_(
        resourceName('ward', plainName(s), 'from-outside'),
        c.ns(s),
        {
          podSelector: { matchLabels: { ...podSelector(s) } },
          policyTypes: ['Ingress'],
          ingress: [{ ...ports(entryPorts(s)) }],
        },
        entryAnnotation(s),
      ),
    );
  }
  // One ingress policy per destination and one egress policy per caller (not one per pair): a
  // source glob matching n workloads on m destinations gives n + m objects, not 2·n·m.
  const egress = new Map<string, { caller: ServiceNode; rules: Json[] }>();
  const open: Json[] = [];
  // `ns/*` callers: egress from every pod of the namespace, one policy per namespace.
  const fromNamespace = new Map<string, Json[]>();
  for (const b of workloads) {
    if (!c.rules.has(b.name)) continue;
    const { any, callers, namespaces: callerNs } = l4Callers(c, b);
    const known = destinationPorts(graph, b);
    if ((any || callers.length > 0 || callerNs.length > 0) && !known)
      c.warnings.push(
        `${c.where(b)}: its pod ports are unknown, so its callers may reach every port`,
      );
    const nsPeers = any ? [] : callerNs;
    for (const n of nsPeers) {
      for (const w of workloads) if (namespaceOfKey(w.name) === n) explained.add(w.name);
      if (namespaces.includes(n))
        fromNamespace.set(n, [...(fromNamespace.get(n) ?? []), { to: [peer(b)], ...ports(known) }]);
      else
        c.warnings.push(
          `${c.where(b)}: namespace ${n} may call it, but no exported workload lives there, so nothing here restricts (or opens) that namespace's egress`,
        );
    }
    const peers: ServiceNode[] = [];
    for (const a of any ? [] : callers) {
      if (isStoreWorkload(a)) {
        c.skipped.push({
          item: `${a.name} → ${b.name}`,
          reason: `${a.name} is a data store or broker: a data store calls nothing, so no egress is opened for it`,
        });
        continue;
      }
      peers.push(a);
      explained.add(a.name);
      let out = egress.get(a.name);
      if (!out) {
        out = { caller: a, rules: [] };
        egress.set(a.name, out);
      }
      out.rules.push({ to: [peer(b)], ...ports(known) });
    }
    if (any) {
      anyCaller = true;
      open.push({ to: [peer(b)], ...ports(known) });
    }
    if (!any && peers.length === 0 && nsPeers.length === 0) continue;
    explained.add(b.name);
    const from = [
      ...peers.map(peer),
      // A whole namespace: exactly its pods (no podSelector), not any other namespace's.
      ...nsPeers.map((n) => ({
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': n } },
      })),
    ];
    manifests.push(
      policy_(resourceName('ward', plainName(b), 'ingress'), c.ns(b), {
        podSelector: { matchLabels: { ...podSelector(b) } },
        policyTypes: ['Ingress'],
        // `*` or soft apply: no `from`, any source inside or outside the cluster.
        ingress: [any ? { ...ports(known) } : { from, ...ports(known) }],
      }),
    );
  }
  for (const [n, rules] of [...fromNamespace].sort((x, y) => cmp(x[0], y[0])))
    manifests.push(
      policy_('ward-namespace-egress', n, {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: rules,
      }),
    );
  for (const { caller, rules } of egress.values())
    manifests.push(
      policy_(resourceName('ward', plainName(caller), 'egress'), c.ns(caller), {
        podSelector: { matchLabels: { ...podSelector(caller) } },
        policyTypes: ['Egress'],
        egress: rules,
      }),
    );
  // Destinations anyone may call: egress to them from every pod of each exported namespace.
  if (open.length > 0)
    for (const namespace of namespaces)
      manifests.push(
        policy_('ward-egress-to-open-services', namespace, {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: open,
        }),
      );
  refuseUnexplained(c, workloads, explained, anyCaller, options);
  const all = [...namespaces.flatMap(networkBaseline), ...manifests];
  uniqueNames(all);
  return {
    manifests: all,
    skipped: c.skipped,
    warnings: c.warnings,
    unexpressed: c.unexpressed,
  };
}
