/**
 * How exposed a service is, read from the Ward dependency graph (`@ward/graph`): whether the
 * outside reaches it directly, how many hops from such an entry point it sits, and how many
 * services its compromise can affect.
 */
import { blastRadius, type DependencyGraph, isStoreWorkload, type ServiceNode } from '@ward/graph';
import type { Exposure } from '../types.ts';

/** Label values (of `role`, `tier` or `kind`) that make a node an edge of the mesh. */
const EDGE_LABELS = new Set(['gateway', 'edge', 'ingress', 'public', 'frontend-edge']);
const EDGE_LABEL_KEYS = ['role', 'tier', 'kind'] as const;

/**
 * Why a node is an entry point of the mesh, or undefined. A node is one when:
 * 1. a reader found traffic from outside the graph into it (`entryPoints`: a LoadBalancer or
 *    NodePort Service, an Ingress, a Gateway API route, an Istio Gateway);
 * 2. it is labelled an edge: `role`, `tier` or `kind` is `gateway`, `edge`, `ingress`, `public`;
 * 3. an `external` node (something outside the mesh) calls it;
 * 4. it is a (non-virtual) service nothing in the mesh calls: its callers must be outside.
 * Data stores, brokers, virtual peers and external nodes themselves are never entry points by
 * rule 4 (nobody "calls" a database from outside the mesh merely because no edge says so).
 */
export function entryPointReason(
  node: ServiceNode,
  callers: ReadonlySet<string>,
  nodes: ReadonlyMap<string, ServiceNode>,
): string | undefined {
  if (node.type === 'external') return undefined;
  if (node.entryPoints?.length) return `opened by ${node.entryPoints.map((e) => e.via).join(', ')}`;
  for (const key of EDGE_LABEL_KEYS) {
    const value = node.labels[key];
    if (value !== undefined && EDGE_LABELS.has(value.toLowerCase()))
      return `labelled ${key}=${value}`;
  }
  for (const c of callers) {
    if (nodes.get(c)?.type === 'external') return `called by the external ${c}`;
  }
  const inMesh = [...callers].filter((c) => c !== node.name);
  if (inMesh.length === 0 && node.type === 'service' && !node.virtual && !isStoreWorkload(node))
    return 'no caller inside the mesh';
  return undefined;
}

/**
 * The exposure of `service` in `graph`, or undefined when the graph has no such node.
 *
 * - `entryPoint`: see {@link entryPointReason}.
 * - `hopsFromEntry`: breadth-first search along dependency edges (caller → callee, runtime and
 *   startup alike) from every entry point at once; 0 for an entry point, null when none reaches
 *   it.
 * - `blastRadius`: `@ward/graph`'s `blastRadius(graph, service).transitive.length` — the services
 *   that depend on it directly or transitively (reverse BFS over all edges, the service itself
 *   excluded): what fails, or what its compromise can reach, when it goes bad.
 *
 * @example
 * exposureOf(graph, 'shop/orders'); // { entryPoint: false, hopsFromEntry: 1, blastRadius: 2 }
 */
export function exposureOf(graph: DependencyGraph, service: string): Exposure | undefined {
  const nodes = new Map(graph.services.map((s) => [s.name, s] as const));
  if (!nodes.has(service)) return undefined;
  const callers = new Map<string, Set<string>>();
  const callees = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!nodes.has(e.from) || !nodes.has(e.to)) continue;
    const set = callers.get(e.to);
    if (set) set.add(e.from);
    else callers.set(e.to, new Set([e.from]));
    const out = callees.get(e.from);
    if (out) out.push(e.to);
    else callees.set(e.from, [e.to]);
  }
  const none = new Set<string>();
  const hops = new Map<string, number>();
  const queue: string[] = [];
  for (const node of graph.services) {
    if (entryPointReason(node, callers.get(node.name) ?? none, nodes) !== undefined) {
      hops.set(node.name, 0);
      queue.push(node.name);
    }
  }
  for (let i = 0; i < queue.length && !hops.has(service); i++) {
    const x = queue[i]!;
    const d = hops.get(x)!;
    for (const y of callees.get(x) ?? []) {
      if (hops.has(y)) continue;
      hops.set(y, d + 1);
      queue.push(y);
    }
  }
  const h = hops.get(service);
  return {
    entryPoint: h === 0,
    hopsFromEntry: h ?? null,
    blastRadius: blastRadius(graph, service)?.transitive.length ?? 0,
  };
}
