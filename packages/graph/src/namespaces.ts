/**
 * Namespaces of graph nodes. A service's node id is its key (`name` in the default namespace,
 * `namespace/name` in any other: @ward/spiffe), so the key says its namespace. Uninstrumented
 * peers that are not services (a database named `postgresql/orders`, a topic `kafka/orders`,
 * an external host) have no key: their namespace is the one a reader learnt, or none.
 */
import { namespaceOfKey } from '@ward/spiffe';
import { cmp, type DependencyGraph, type ServiceNode } from './model.ts';

/** The namespace of a node, or null for a peer that is not a service and names none. */
export function namespaceOfNode(
  s: Pick<ServiceNode, 'name' | 'namespace' | 'type' | 'virtual'>,
): string | null {
  if (!s.virtual || s.type === 'service') return namespaceOfKey(s.name);
  return s.namespace ?? null;
}

/**
 * The part of the graph one namespace sees (`ward graph … -n NS`): its services, every edge into
 * or out of them, and the services at the other end of those edges (so a cross-namespace
 * dependency stays visible). Other edges among outside services are left out.
 */
export function namespaceSubgraph(graph: DependencyGraph, namespace: string): DependencyGraph {
  const inside = new Set(
    graph.services.filter((s) => namespaceOfNode(s) === namespace).map((s) => s.name),
  );
  const edges = graph.edges.filter((e) => inside.has(e.from) || inside.has(e.to));
  const keep = new Set(inside);
  for (const e of edges) {
    keep.add(e.from);
    keep.add(e.to);
  }
  return {
    services: graph.services.filter((s) => keep.has(s.name)).sort((a, b) => cmp(a.name, b.name)),
    edges,
  };
}
