/**
 * What the graph view shows: which services and edges pass the filters, the blast radius of a
 * selected service, and the colour of every state. Pure, so the rules are tested without a
 * browser and the renderer only paints what this decides.
 */
import type {
  EdgeStateV1 as EdgeState,
  GraphViewV1 as GraphView,
  GraphViewEdgeV1 as ViewEdge,
  GraphViewNodeV1 as ViewNode,
} from '@ward/api-types/console';

/** Edge colours, strongest state first: an edge takes the colour of its first state here. */
export const EDGE_COLOURS: { state: EdgeState | 'unapproved'; colour: string; label: string }[] = [
  { state: 'denied', colour: '#d23c3c', label: 'denied (enforced)' },
  { state: 'dry-run-denied', colour: '#e08a12', label: 'dry-run denied' },
  { state: 'approved', colour: '#1f9d55', label: 'approved by an intention' },
  { state: 'unapproved', colour: '#8b5cf6', label: 'observed, not approved' },
  { state: 'declared', colour: '#9aa3b2', label: 'declared only' },
];

export const NODE_COLOURS: Record<string, string> = {
  cycle: '#d23c3c',
  service: '#2f6fde',
  database: '#0f9b8e',
  messaging: '#b05bc9',
  external: '#8a6d3b',
  other: '#6b7280',
};

export const DIMMED = '#d9dde4';

export function edgeColour(e: ViewEdge): string {
  if (e.states.includes('denied')) return EDGE_COLOURS[0]!.colour;
  if (e.states.includes('dry-run-denied')) return EDGE_COLOURS[1]!.colour;
  if (e.states.includes('approved')) return EDGE_COLOURS[2]!.colour;
  if (e.states.includes('observed')) return EDGE_COLOURS[3]!.colour;
  return EDGE_COLOURS[4]!.colour;
}

export function nodeColour(n: ViewNode): string {
  if (n.inCycle) return NODE_COLOURS.cycle!;
  return NODE_COLOURS[n.kind] ?? NODE_COLOURS.other!;
}

export interface Filters {
  /** Empty: every namespace. */
  namespace: string;
  team: string;
  /** Edges shown: those with at least one of these states. */
  states: ReadonlySet<EdgeState>;
}

export const ALL_STATES: ReadonlySet<EdgeState> = new Set([
  'declared',
  'observed',
  'approved',
  'dry-run-denied',
  'denied',
]);

export function edgeKey(e: { from: string; to: string }): string {
  return `${e.from}\u2192${e.to}`;
}

/** Services passing the namespace/team filters, and edges between them with a wanted state. */
export function visible(view: GraphView, f: Filters): { nodes: Set<string>; edges: Set<string> } {
  const nodes = new Set<string>();
  for (const n of view.nodes) {
    if (f.namespace && n.namespace !== f.namespace) continue;
    if (f.team && n.team !== f.team) continue;
    nodes.add(n.id);
  }
  const edges = new Set<string>();
  for (const e of view.edges) {
    if (!nodes.has(e.from) || !nodes.has(e.to)) continue;
    if (!e.states.some((s) => f.states.has(s))) continue;
    edges.add(edgeKey(e));
  }
  return { nodes, edges };
}

export interface BlastRadius {
  /** Services that transitively depend on the selected one (break when it breaks). */
  dependents: string[];
  /** Services it transitively depends on. */
  dependencies: string[];
  /** Edges on those paths. */
  edges: Set<string>;
}

/** Everything upstream and downstream of `id` along the given (visible) edges. */
export function blastRadius(
  view: GraphView,
  id: string,
  shown: ReadonlySet<string> | null = null,
): BlastRadius {
  const out = new Map<string, ViewEdge[]>();
  const inn = new Map<string, ViewEdge[]>();
  for (const e of view.edges) {
    if (shown && !shown.has(edgeKey(e))) continue;
    (out.get(e.from) ?? out.set(e.from, []).get(e.from)!).push(e);
    (inn.get(e.to) ?? inn.set(e.to, []).get(e.to)!).push(e);
  }
  const edges = new Set<string>();
  const walk = (adj: Map<string, ViewEdge[]>, next: (e: ViewEdge) => string): string[] => {
    const seen = new Set<string>([id]);
    const queue = [id];
    for (let head = 0; head < queue.length; head++) {
      const v = queue[head]!;
      for (const e of adj.get(v) ?? []) {
        edges.add(edgeKey(e));
        const w = next(e);
        if (!seen.has(w)) {
          seen.add(w);
          queue.push(w);
        }
      }
    }
    seen.delete(id);
    return [...seen].sort();
  };
  const dependents = walk(inn, (e) => e.from);
  const dependencies = walk(out, (e) => e.to);
  return { dependents, dependencies, edges };
}

/** Case-insensitive substring search over names, at most `limit` hits. */
export function search(view: GraphView, text: string, limit = 20): ViewNode[] {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  const hits: ViewNode[] = [];
  for (const n of view.nodes) {
    if (n.name.toLowerCase().includes(q)) hits.push(n);
    if (hits.length >= limit) break;
  }
  return hits;
}

/** Distinct non-null values of a node field, sorted (filter choices). */
export function choices(view: GraphView, field: 'namespace' | 'team'): string[] {
  const set = new Set<string>();
  for (const n of view.nodes) {
    const v = n[field];
    if (v) set.add(v);
  }
  return [...set].sort();
}

/** What is selected: a service, an edge, a cycle (by its index in the answer), or nothing. */
export type Selection =
  | { kind: 'node'; id: string }
  | { kind: 'edge'; from: string; to: string }
  | { kind: 'cycle'; index: number }
  | null;

/**
 * The selection a URL names (`#/graph?node=orders`, `?edge=frontend→orders`, `?cycle=0`), so a
 * link from another view or a colleague opens the same service or edge. The URL is anyone's
 * text: anything else is no selection, and a name is only ever looked up, never rendered as
 * markup.
 */
export function selectionOf(params: URLSearchParams): Selection {
  const node = params.get('node');
  if (node) return { kind: 'node', id: node };
  const edge = params.get('edge');
  const arrow = edge ? edge.indexOf('\u2192') : -1;
  if (edge && arrow > 0 && arrow < edge.length - 1)
    return { kind: 'edge', from: edge.slice(0, arrow), to: edge.slice(arrow + 1) };
  const cycle = params.get('cycle');
  if (cycle !== null && /^\d{1,6}$/.test(cycle)) return { kind: 'cycle', index: Number(cycle) };
  return null;
}
