/**
 * Policy exports from the approved graph (declared edges; observed-only edges are unapproved and
 * are left out unless asked for): Kubernetes NetworkPolicy and Istio AuthorizationPolicy. Both
 * return plain manifest objects; the CLI writes them as YAML.
 *
 * NetworkPolicy: per namespace a default deny of ingress and egress, an egress allow to kube-dns
 * only, and per edge an egress allow at the caller and an ingress allow at the callee, each
 * selecting the pods by their labels and the other side's namespace by
 * `kubernetes.io/metadata.name` (set on every namespace since Kubernetes 1.21). Ports are left
 * open between an allowed pair: the ports a declaration names are Service ports, and a
 * NetworkPolicy matches pod (target) ports, which the graph does not know reliably.
 *
 * Istio: per namespace an `allow-nothing` policy (empty spec), and per callee an ALLOW policy
 * whose `source.principals` are the callers' SPIFFE IDs without the `spiffe://` scheme
 * (`cluster.local/ns/shop/sa/checkout`), the form Istio matches peer identities in.
 */
import { defaultSpiffeId, SPIFFE_SCHEME_PREFIX } from '@ward/spiffe';
import type { DependencyGraph, Edge, ServiceNode } from '../model.ts';

export interface ExportOptions {
  /** Also allow observed-only (unapproved) edges. Default false. */
  includeObserved?: boolean;
  /** Trust domain for services without a SPIFFE ID. Default `cluster.local`. */
  trustDomain?: string;
}

export interface ExportResult {
  manifests: Record<string, unknown>[];
  /** Edges or services left out, and why (virtual peers, unapproved edges). */
  skipped: { item: string; reason: string }[];
}

const MANAGED = { 'app.kubernetes.io/managed-by': 'ward' };

function podSelector(s: ServiceNode): Record<string, string> {
  return s.podSelector && Object.keys(s.podSelector).length > 0
    ? s.podSelector
    : { 'app.kubernetes.io/name': s.name };
}

function ns(s: ServiceNode): string {
  return s.namespace ?? 'default';
}

/** A DNS-1123 name of at most 63 characters (a hash keeps long names distinct). */
export function resourceName(...parts: string[]): string {
  let name = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (name.length > 63) {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    name = `${name.slice(0, 54).replace(/-$/, '')}-${(h >>> 0).toString(16).padStart(8, '0')}`;
  }
  return name || 'ward';
}

function approved(
  graph: DependencyGraph,
  options: ExportOptions,
): { edges: [Edge, ServiceNode, ServiceNode][]; skipped: ExportResult['skipped'] } {
  const nodes = new Map(graph.services.map((s) => [s.name, s]));
  const skipped: ExportResult['skipped'] = [];
  const edges: [Edge, ServiceNode, ServiceNode][] = [];
  for (const e of graph.edges) {
    const item = `${e.from} → ${e.to}`;
    if (e.provenance === 'observed' && !options.includeObserved) {
      skipped.push({ item, reason: 'observed but not declared (unapproved)' });
      continue;
    }
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    if (!a || !b || a.virtual || b.virtual || a.type !== 'service' || b.type !== 'service') {
      skipped.push({
        item,
        reason: 'a side is a virtual peer or not a workload (no pods to select)',
      });
      continue;
    }
    edges.push([e, a, b]);
  }
  return { edges, skipped };
}

function namespaces(graph: DependencyGraph): string[] {
  return [
    ...new Set(graph.services.filter((s) => !s.virtual && s.type === 'service').map(ns)),
  ].sort();
}

export function toNetworkPolicies(
  graph: DependencyGraph,
  options: ExportOptions = {},
): ExportResult {
  const { edges, skipped } = approved(graph, options);
  const manifests: Record<string, unknown>[] = [];
  const meta = (name: string, namespace: string) => ({ name, namespace, labels: { ...MANAGED } });
  for (const namespace of namespaces(graph)) {
    manifests.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('ward-default-deny', namespace),
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    });
    manifests.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta('ward-allow-dns', namespace),
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: {
                  matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' },
                },
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      },
    });
  }
  const peer = (s: ServiceNode) => ({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns(s) } },
    podSelector: { matchLabels: { ...podSelector(s) } },
  });
  for (const [, a, b] of edges) {
    manifests.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(resourceName('ward', a.name, 'to', b.name, 'egress'), ns(a)),
      spec: {
        podSelector: { matchLabels: { ...podSelector(a) } },
        policyTypes: ['Egress'],
        egress: [{ to: [peer(b)] }],
      },
    });
    manifests.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(resourceName('ward', a.name, 'to', b.name, 'ingress'), ns(b)),
      spec: {
        podSelector: { matchLabels: { ...podSelector(b) } },
        policyTypes: ['Ingress'],
        ingress: [{ from: [peer(a)] }],
      },
    });
  }
  return { manifests, skipped };
}

/** The Istio principal of a service: its SPIFFE ID without `spiffe://`. */
export function istioPrincipal(s: ServiceNode, trustDomain = 'cluster.local'): string {
  const id = s.spiffeId ?? defaultSpiffeId(trustDomain, ns(s), s.serviceAccount ?? s.name);
  return id.startsWith(SPIFFE_SCHEME_PREFIX) ? id.slice(SPIFFE_SCHEME_PREFIX.length) : id;
}

export function toIstioPolicies(graph: DependencyGraph, options: ExportOptions = {}): ExportResult {
  const { edges, skipped } = approved(graph, options);
  const manifests: Record<string, unknown>[] = [];
  for (const namespace of namespaces(graph)) {
    manifests.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ward-allow-nothing', namespace, labels: { ...MANAGED } },
      spec: {},
    });
  }
  const callers = new Map<string, { target: ServiceNode; principals: Set<string> }>();
  for (const [, a, b] of edges) {
    let entry = callers.get(b.name);
    if (!entry) {
      entry = { target: b, principals: new Set() };
      callers.set(b.name, entry);
    }
    entry.principals.add(istioPrincipal(a, options.trustDomain));
  }
  for (const { target, principals } of [...callers.values()].sort((x, y) =>
    x.target.name < y.target.name ? -1 : 1,
  )) {
    manifests.push({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: {
        name: resourceName('ward-allow', target.name),
        namespace: ns(target),
        labels: { ...MANAGED },
      },
      spec: {
        selector: { matchLabels: { ...podSelector(target) } },
        action: 'ALLOW',
        rules: [{ from: [{ source: { principals: [...principals].sort() } }] }],
      },
    });
  }
  return { manifests, skipped };
}
