/**
 * Compressed sparse row (CSR) adjacency over typed arrays: every analysis runs on this, not on
 * the object graph, so 100,000 services and 1,000,000 edges fit in a few MB and are walked
 * without allocation.
 */
import type { DependencyGraph, Edge } from '../model.ts';

export interface CompiledGraph {
  readonly graph: DependencyGraph;
  readonly n: number;
  readonly names: string[];
  readonly index: Map<string, number>;
  /** Out-edges of node i are `targets[offsets[i] .. offsets[i+1])`. */
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
  /** Index into `graph.edges` of each CSR slot. */
  readonly edgeOf: Int32Array;
  /** 1 where the slot's edge is a startup edge: lets boot order filter without object access. */
  readonly startup: Uint8Array;
}

/** Builds CSR adjacency, optionally over a subset of edges (e.g. only startup edges). */
export function compile(graph: DependencyGraph, keep?: (edge: Edge) => boolean): CompiledGraph {
  const names = graph.services.map((s) => s.name);
  const index = new Map<string, number>();
  for (const [i, name] of names.entries()) index.set(name, i);
  const n = names.length;
  const edges = graph.edges;
  const from = new Int32Array(edges.length);
  const to = new Int32Array(edges.length);
  const kind = new Uint8Array(edges.length);
  const counts = new Int32Array(n + 1);
  let m = 0;
  // Graphs from GraphBuilder.build() are sorted by `from`: remember the last lookup.
  let lastFrom = '';
  let lastA: number | undefined;
  for (let e = 0; e < edges.length; e++) {
    const edge = edges[e]!;
    if (keep && !keep(edge)) {
      from[e] = -1;
      continue;
    }
    if (edge.from !== lastFrom || lastA === undefined) {
      lastFrom = edge.from;
      lastA = index.get(lastFrom);
    }
    const a = lastA;
    const b = index.get(edge.to);
    kind[e] = edge.kind === 'startup' ? 1 : 0;
    if (a === undefined || b === undefined) {
      from[e] = -1;
      continue;
    }
    from[e] = a;
    to[e] = b;
    counts[a + 1]!++;
    m++;
  }
  for (let i = 0; i < n; i++) counts[i + 1]! += counts[i]!;
  const offsets = counts.slice();
  const fill = counts.slice(0, n);
  const targets = new Int32Array(m);
  const edgeOf = new Int32Array(m);
  const startup = new Uint8Array(m);
  for (let e = 0; e < edges.length; e++) {
    const a = from[e]!;
    if (a < 0) continue;
    const slot = fill[a]!++;
    targets[slot] = to[e]!;
    edgeOf[slot] = e;
    startup[slot] = kind[e]!;
  }
  return { graph, n, names, index, offsets, targets, edgeOf, startup };
}

/** The reverse adjacency (in-edges) of a compiled graph, in the same CSR form. */
export function reverse(g: CompiledGraph): {
  offsets: Int32Array;
  sources: Int32Array;
  edgeOf: Int32Array;
} {
  const { n, offsets, targets, edgeOf } = g;
  const counts = new Int32Array(n + 1);
  for (let i = 0; i < targets.length; i++) counts[targets[i]! + 1]!++;
  for (let i = 0; i < n; i++) counts[i + 1]! += counts[i]!;
  const fill = counts.slice(0, n);
  const sources = new Int32Array(targets.length);
  const revEdgeOf = new Int32Array(targets.length);
  for (let a = 0; a < n; a++) {
    for (let k = offsets[a]!; k < offsets[a + 1]!; k++) {
      const slot = fill[targets[k]!]!++;
      sources[slot] = a;
      revEdgeOf[slot] = edgeOf[k]!;
    }
  }
  return { offsets: counts, sources, edgeOf: revEdgeOf };
}

/**
 * A compiled graph restricted to some CSR slots (e.g. `(k) => g.startup[k] === 1`), built from
 * the CSR directly: no name lookups and no edge objects touched.
 */
export function subgraph(g: CompiledGraph, keep: (slot: number) => boolean): CompiledGraph {
  const { n, offsets, targets, edgeOf } = g;
  const kept = new Uint8Array(targets.length);
  const newOffsets = new Int32Array(n + 1);
  let m = 0;
  for (let v = 0; v < n; v++) {
    for (let k = offsets[v]!; k < offsets[v + 1]!; k++) {
      if (keep(k)) {
        kept[k] = 1;
        m++;
      }
    }
    newOffsets[v + 1] = m;
  }
  const newTargets = new Int32Array(m);
  const newEdgeOf = new Int32Array(m);
  const newStartup = new Uint8Array(m);
  let j = 0;
  for (let k = 0; k < targets.length; k++) {
    if (kept[k]) {
      newTargets[j] = targets[k]!;
      newStartup[j] = g.startup[k]!;
      newEdgeOf[j++] = edgeOf[k]!;
    }
  }
  return {
    graph: g.graph,
    n,
    names: g.names,
    index: g.index,
    offsets: newOffsets,
    targets: newTargets,
    edgeOf: newEdgeOf,
    startup: newStartup,
  };
}
