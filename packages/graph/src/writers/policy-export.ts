/**
 * Policy exports from the approved graph (declared edges; observed-only edges are unapproved and
 * are left out unless asked for): Kubernetes NetworkPolicy and Istio AuthorizationPolicy. Both
 * return plain manifest objects, grouped by the namespace in their metadata; the CLI writes one
 * YAML file per namespace.
 *
 * The exports deny by default, so what they leave out is cut when applied. They therefore:
 * - allow traffic from outside into every entry point (LoadBalancer/NodePort Service, Ingress,
 *   Gateway API route, Istio Gateway + VirtualService), on the pod ports it reaches;
 * - restrict each allowed edge to the callee's pod ports when the graph knows them (Service
 *   `targetPort` resolved to the `containerPort`), and say so when it does not;
 * - open no egress for data stores and brokers (they are sinks);
 * - refuse (`GRAPH_EXPORT_UNEXPLAINED`) when the graph explains no traffic at all, or none of
 *   some workload's, unless `allowEmpty`: such a policy set would silently cut the application.
 *
 * NetworkPolicy: per namespace a default deny of ingress and egress, DNS egress to kube-dns pods
 * in kube-system only (UDP and TCP 53), per edge an egress allow at the caller and an ingress allow
 * at the callee (peer namespace by `kubernetes.io/metadata.name`, set on every namespace since
 * Kubernetes 1.21), per entry point an ingress allow from anywhere.
 *
 * Istio: per namespace an `allow-nothing` policy (empty spec), and per callee an ALLOW policy
 * whose rules name the callers' principals (their SPIFFE IDs without `spiffe://`:
 * `cluster.local/ns/shop/sa/checkout`) and the ports they reach. Istio can only tell workloads
 * apart by service account, so workloads sharing one are named in a warning.
 */
import {
  defaultSpiffeId,
  isNamespace,
  namespaceOfKey,
  SPIFFE_SCHEME_PREFIX,
  splitServiceKey,
} from '@ward/spiffe';
import { GraphError } from '../errors.ts';
import {
  cmp,
  type DependencyGraph,
  type Edge,
  isStoreWorkload,
  type PodPort,
  type ServiceNode,
  sortPorts,
} from '../model.ts';

export interface ExportOptions {
  /** Also allow observed-only (unapproved) edges. Default false. */
  includeObserved?: boolean;
  /** Trust domain for services without a SPIFFE ID. Default `cluster.local`. */
  trustDomain?: string;
  /** Namespace of services that name none (from Compose, traces, catalogs). Default `default`. */
  namespace?: string;
  /** Export even when some workloads' traffic is unexplained (see above). Default false. */
  allowEmpty?: boolean;
}

export interface ExportResult {
  manifests: Record<string, unknown>[];
  /** Edges or services left out, and why (virtual peers, unapproved edges, data store egress). */
  skipped: { item: string; reason: string }[];
  /** What a reviewer should know before applying: shared identities, ports left open. */
  warnings: string[];
}

export const MANAGED = { 'app.kubernetes.io/managed-by': 'ward' };

interface Plan {
  edges: [Edge, ServiceNode, ServiceNode][];
  workloads: ServiceNode[];
  skipped: ExportResult['skipped'];
  warnings: string[];
  ns: (s: ServiceNode) => string;
}

/**
 * A node's name within its namespace: node ids are service keys (`name` in the default namespace,
 * `namespace/name` elsewhere), and a key's `/` may reach no label value, resource name or SPIFFE
 * path.
 */
export function plainName(s: Pick<ServiceNode, 'name'>): string {
  return splitServiceKey(s.name).name;
}

/**
 * The namespace a node's pods (and so its policies) live in: the one its key names; for a bare
 * key, the node's own namespace, else `fallback` (the namespace of inputs that name none).
 */
export function nodeNamespace(s: Pick<ServiceNode, 'name' | 'namespace'>, fallback = 'default') {
  // A namespace a reader took from its input (a span's `service.name` or `k8s.namespace.name`) is
  // anyone's text: only a DNS label may become `metadata.namespace` (and a file name in
  // `--output-dir`), whether it came in the node's key or beside it.
  const ns = s.name.includes('/') ? namespaceOfKey(s.name) : s.namespace;
  return ns !== undefined && isNamespace(ns) ? ns : fallback;
}

/** `namespace/name` of a node, for messages. */
export function nodeWhere(s: Pick<ServiceNode, 'name' | 'namespace'>, fallback = 'default') {
  return `${nodeNamespace(s, fallback)}/${plainName(s)}`;
}

export function podSelector(s: ServiceNode): Record<string, string> {
  return s.podSelector && Object.keys(s.podSelector).length > 0
    ? s.podSelector
    : { 'app.kubernetes.io/name': plainName(s) };
}

/** A node that stands for pods the policies can select. */
export function isWorkload(s: ServiceNode): boolean {
  return !s.virtual && (s.type === 'service' || isStoreWorkload(s));
}

function kindOf(s: ServiceNode): string {
  return s.type === 'messaging' ? 'broker' : s.type;
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** A DNS-1123 name of at most 63 characters (a hash keeps long names distinct). */
export function resourceName(...parts: string[]): string {
  let name = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (name.length > 63) name = `${name.slice(0, 54).replace(/-$/, '')}-${fnv(name)}`;
  return name || 'ward';
}

/**
 * Makes every (kind, namespace, name) of `manifests` distinct, in place: names built from service
 * names of several namespaces (`orders.shop` and `orders-shop` both read `orders-shop`) may meet,
 * and applying two objects of one name keeps only the last. A later duplicate gets a hash of its
 * spec appended, so the result is deterministic.
 */
export function uniqueNames(manifests: Record<string, unknown>[]): void {
  const seen = new Set<string>();
  for (const m of manifests) {
    const meta = m.metadata as { name: string; namespace?: string };
    const id = (name: string) => `${String(m.kind)}\n${meta.namespace ?? ''}\n${name}`;
    if (seen.has(id(meta.name))) {
      const base = meta.name.length > 54 ? meta.name.slice(0, 54).replace(/-$/, '') : meta.name;
      let salt = JSON.stringify(m.spec);
      let name = `${base}-${fnv(salt)}`;
      while (seen.has(id(name))) {
        salt += '+';
        name = `${base}-${fnv(salt)}`;
      }
      meta.name = name;
    }
    seen.add(id(meta.name));
  }
}

/** Chooses the edges to allow, and refuses when the result would cut unexplained traffic. */
function plan(graph: DependencyGraph, options: ExportOptions): Plan {
  const fallbackNs = options.namespace ?? 'default';
  const ns = (s: ServiceNode): string => nodeNamespace(s, fallbackNs);
  const nodes = new Map(graph.services.map((s) => [s.name, s]));
  const skipped: ExportResult['skipped'] = [];
  const warnings: string[] = [];
  const edges: [Edge, ServiceNode, ServiceNode][] = [];
  for (const e of graph.edges) {
    const item = `${e.from} → ${e.to}`;
    if (e.provenance === 'observed' && !options.includeObserved) {
      skipped.push({ item, reason: 'observed but not declared (unapproved)' });
      continue;
    }
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    if (!a || !b || !isWorkload(a) || !isWorkload(b)) {
      const other = a && !isWorkload(a) ? a : b;
      skipped.push({
        item,
        reason:
          other?.type === 'external'
            ? `${other.name} is outside the cluster: NetworkPolicy and Istio ALLOW rules cannot name a host; open egress to it by hand (an egress gateway or a CIDR)`
            : 'a side is a virtual peer or not a workload (no pods to select)',
      });
      continue;
    }
    if (isStoreWorkload(a)) {
      skipped.push({
        item,
        reason: `${a.name} is a ${kindOf(a)} (${a.typedFrom}): a data store calls nothing, so no egress is opened for it`,
      });
      continue;
    }
    if (!e.podPorts)
      warnings.push(
        `${item}: the callee's pod ports are unknown (no Service port resolved), so all ports are allowed`,
      );
    edges.push([e, a, b]);
  }
  const workloads = graph.services.filter(isWorkload);
  const linked = new Set<string>();
  for (const [, a, b] of edges) {
    linked.add(a.name);
    linked.add(b.name);
  }
  const unexplained = workloads.filter((s) => !linked.has(s.name) && !s.entryPoints?.length);
  if (!options.allowEmpty && workloads.length > 0) {
    const advice =
      'Their dependencies probably live in code or configuration: add them (`ward graph scan DIR`, traces, declarations), or pass --allow-empty to export anyway.';
    if (edges.length === 0 && !workloads.some((s) => s.entryPoints?.length)) {
      throw new GraphError(
        'GRAPH_EXPORT_UNEXPLAINED',
        `refusing to export: the inputs declare no dependency between the ${workloads.length} workload(s), so the policies would deny all their traffic. ${advice}`,
      );
    }
    if (unexplained.length > 0) {
      const names = unexplained.map((s) => `${ns(s)}/${plainName(s)}`);
      throw new GraphError(
        'GRAPH_EXPORT_UNEXPLAINED',
        `refusing to export: ${unexplained.length} workload(s) have no allowed dependency and no entry point, so the policies would cut all their traffic: ${names.slice(0, 20).join(', ')}${names.length > 20 ? `, … (${names.length})` : ''}. ${advice}`,
      );
    }
  }
  for (const s of unexplained)
    warnings.push(
      `${ns(s)}/${plainName(s)} has no allowed dependency and no entry point: all its traffic is denied (--allow-empty)`,
    );
  return { edges, workloads, skipped, warnings, ns };
}

function namespaces(p: Plan): string[] {
  return [...new Set(p.workloads.map(p.ns))].sort();
}

/** The pod ports traffic from outside reaches; undefined when any entry's ports are unknown. */
export function entryPorts(s: ServiceNode): PodPort[] | undefined {
  const all = new Map<string, PodPort>();
  for (const e of s.entryPoints ?? []) {
    if (!e.ports) return undefined;
    for (const p of e.ports) all.set(`${p.protocol}/${p.port}`, p);
  }
  return sortPorts([...all.values()]);
}

export function entryAnnotation(s: ServiceNode): Record<string, string> {
  return { 'ward.dev/entry-points': (s.entryPoints ?? []).map((e) => e.via).join('; ') };
}

/** Per namespace: deny all ingress and egress, then allow DNS to kube-dns in kube-system. */
export function networkBaseline(namespace: string): Record<string, unknown>[] {
  const policy = (name: string, spec: unknown) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace, labels: { ...MANAGED } },
    spec,
  });
  return [
    policy('ward-default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('ward-allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
  ];
}

export function toNetworkPolicies(
  graph: DependencyGraph,
  options: ExportOptions = {},
): ExportResult {
  const p = plan(graph, options);
  const manifests: Record<string, unknown>[] = [];
  const meta = (name: string, namespace: string, annotations?: Record<string, string>) => ({
    name,
    namespace,
    labels: { ...MANAGED },
    ...(annotations ? { annotations } : {}),
  });
  const policy = (metadata: unknown, spec: unknown) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata,
    spec,
  });
  const ports = (list: PodPort[] | undefined) =>
    list && list.length > 0
      ? { ports: list.map((x) => ({ protocol: x.protocol, port: x.port })) }
      : {};
  for (const namespace of namespaces(p)) manifests.push(...networkBaseline(namespace));
  for (const s of p.workloads.filter((w) => w.entryPoints?.length)) {
    manifests.push(
      policy(
        meta(resourceName('ward', plainName(s), 'from-outside'), p.ns(s), entryAnnotation(s)),
        {
          podSelector: { matchLabels: { ...podSelector(s) } },
          policyTypes: ['Ingress'],
          // No `from`: any source, inside or outside the cluster, on the entry's pod ports.
          ingress: [{ ...ports(entryPorts(s)) }],
        },
      ),
    );
  }
  const peer = (s: ServiceNode) => ({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.ns(s) } },
    podSelector: { matchLabels: { ...podSelector(s) } },
  });
  for (const [e, a, b] of p.edges) {
    manifests.push(
      policy(meta(resourceName('ward', plainName(a), 'to', plainName(b), 'egress'), p.ns(a)), {
        podSelector: { matchLabels: { ...podSelector(a) } },
        policyTypes: ['Egress'],
        egress: [{ to: [peer(b)], ...ports(e.podPorts) }],
      }),
    );
    manifests.push(
      policy(meta(resourceName('ward', plainName(a), 'to', plainName(b), 'ingress'), p.ns(b)), {
        podSelector: { matchLabels: { ...podSelector(b) } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [peer(a)], ...ports(e.podPorts) }],
      }),
    );
  }
  uniqueNames(manifests);
  return { manifests, skipped: p.skipped, warnings: p.warnings };
}

/** The Istio principal of a service: its SPIFFE ID without `spiffe://`. */
export function istioPrincipal(
  s: ServiceNode,
  trustDomain = 'cluster.local',
  fallbackNamespace = 'default',
): string {
  const id =
    s.spiffeId ??
    defaultSpiffeId(
      trustDomain,
      nodeNamespace(s, fallbackNamespace),
      s.serviceAccount ?? plainName(s),
    );
  return id.startsWith(SPIFFE_SCHEME_PREFIX) ? id.slice(SPIFFE_SCHEME_PREFIX.length) : id;
}

/** Warnings naming the workloads that share one principal (Istio cannot tell them apart). */
export function sharedIdentities(
  workloads: readonly ServiceNode[],
  principal: (s: ServiceNode) => string,
): string[] {
  const by = new Map<string, string[]>();
  for (const s of workloads) {
    const id = principal(s);
    by.set(id, [...(by.get(id) ?? []), s.name]);
  }
  const out: string[] = [];
  for (const [id, names] of [...by].sort((x, y) => cmp(x[0], y[0]))) {
    if (names.length < 2) continue;
    out.push(
      `workloads ${names.sort().join(', ')} share the identity ${id}: Istio cannot tell them apart, so allowing one of them allows all; give each its own serviceAccountName`,
    );
  }
  return out;
}

export function toIstioPolicies(graph: DependencyGraph, options: ExportOptions = {}): ExportResult {
  const p = plan(graph, options);
  const principal = (s: ServiceNode) =>
    istioPrincipal(s, options.trustDomain, options.namespace ?? 'default');
  const warnings = [...sharedIdentities(p.workloads, principal), ...p.warnings];
  const manifests: Record<string, unknown>[] = [];
  for (const namespace of namespaces(p)) {
    manifests.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ward-allow-nothing', namespace, labels: { ...MANAGED } },
      spec: {},
    });
  }
  // Per callee: its callers' principals, grouped by the ports they may reach ('' = any port).
  const callees = new Map<string, { target: ServiceNode; byPorts: Map<string, Set<string>> }>();
  for (const [e, a, b] of p.edges) {
    let entry = callees.get(b.name);
    if (!entry) {
      entry = { target: b, byPorts: new Map() };
      callees.set(b.name, entry);
    }
    const key = e.podPorts ? e.podPorts.map((x) => x.port).join(',') : '';
    let set = entry.byPorts.get(key);
    if (!set) {
      set = new Set();
      entry.byPorts.set(key, set);
    }
    set.add(principal(a));
  }
  const to = (key: string) =>
    key === '' ? {} : { to: [{ operation: { ports: [...new Set(key.split(','))] } }] };
  const targets = new Map<string, ServiceNode>();
  for (const s of p.workloads)
    if (s.entryPoints?.length || callees.has(s.name)) targets.set(s.name, s);
  for (const target of [...targets.values()].sort((x, y) => cmp(x.name, y.name))) {
    const rules: Record<string, unknown>[] = [];
    const groups = callees.get(target.name)?.byPorts ?? new Map<string, Set<string>>();
    for (const [key, principals] of [...groups].sort((x, y) => cmp(x[0], y[0])))
      rules.push({ from: [{ source: { principals: [...principals].sort() } }], ...to(key) });
    const metadata: Record<string, unknown> = {
      name: resourceName('ward-allow', plainName(target)),
      namespace: p.ns(target),
      labels: { ...MANAGED },
    };
    if (target.entryPoints?.length) {
      // From outside: any source (the ingress gateway or a node port), on the entry's ports.
      const ports = entryPorts(target);
      rules.push(ports ? to(ports.map((x) => x.port).join(',')) : {});
      metadata.annotations = entryAnnotation(target);
    }
    manifests.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata,
      spec: {
        selector: { matchLabels: { ...podSelector(target) } },
        action: 'ALLOW',
        rules,
      },
    });
  }
  uniqueNames(manifests);
  return { manifests, skipped: p.skipped, warnings };
}
