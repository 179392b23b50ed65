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
  podSelector,
  resourceName,
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

/** Who may reach `dest` at L4: workloads, or anyone. Reports what L4 cannot carry. */
function l4Callers(c: RuleContext, dest: ServiceNode) {
  const rules = c.rules.get(dest.name) ?? [];
  if (c.softApply.has(dest.name)) return { any: true, callers: [] as ServiceNode[] };
  let any = false;
  const callers = new Map<string, ServiceNode>();
  for (const r of rules.filter((x) => x.ref.mode === 'enforce' && x.ref.action === 'allow')) {
    const src = principalsOf(c, r);
    any ||= src.any;
    for (const s of src.workloads) callers.set(s.name, s);
    if (src.principals.length > src.workloads.length)
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
      continue;
    }
    if (any)
      c.unexpressed.push({
        rule: idOf(r),
        what: 'sources',
        why: 'NetworkPolicy cannot except pods from an allow of every source; the deny is left to the Istio export or Ward',
      });
    for (const s of src.workloads) callers.delete(s.name);
  }
  return { any, callers: [...callers.values()].sort((a, b) => cmp(a.name, b.name)) };
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
        resourceName('ward', s.name, 'from-outside'),
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
  for (const b of workloads) {
    if (!c.rules.has(b.name)) continue;
    const { any, callers } = l4Callers(c, b);
    const known = destinationPorts(graph, b);
    if ((any || callers.length > 0) && !known)
      c.warnings.push(
        `${c.ns(b)}/${b.name}: its pod ports are unknown, so its callers may reach every port`,
      );
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
    if (!any && peers.length === 0) continue;
    explained.add(b.name);
    manifests.push(
      policy_(resourceName('ward', b.name, 'ingress'), c.ns(b), {
        podSelector: { matchLabels: { ...podSelector(b) } },
        policyTypes: ['Ingress'],
        // `*` or soft apply: no `from`, any source inside or outside the cluster.
        ingress: [any ? { ...ports(known) } : { from: peers.map(peer), ...ports(known) }],
      }),
    );
  }
  for (const { caller, rules } of egress.values())
    manifests.push(
      policy_(resourceName('ward', caller.name, 'egress'), c.ns(caller), {
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
  return {
    manifests: [...namespaces.flatMap(networkBaseline), ...manifests],
    skipped: c.skipped,
    warnings: c.warnings,
    unexpressed: c.unexpressed,
  };
}
