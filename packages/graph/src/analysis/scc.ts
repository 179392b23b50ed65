/**
 * Strongly connected components by Tarjan's algorithm, iterative (an explicit stack instead of
 * recursion), so a 100,000-service chain cannot overflow the call stack.
 */
import type { CompiledGraph } from './compiled.ts';

export interface SccResult {
  /** Component id of each node. Ids are in reverse topological order of the condensation. */
  component: Int32Array;
  count: number;
  /** Nodes of each component that is a cycle: more than one node, or one node with a self-loop. */
  cyclic: number[][];
}

export function stronglyConnected(g: CompiledGraph): SccResult {
  const { n, offsets, targets } = g;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  const component = new Int32Array(n).fill(-1);
  let sp = 0;
  let counter = 0;
  let count = 0;
  const cyclic: number[][] = [];

  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    let depth = 0;
    callNode[0] = root;
    callEdge[0] = offsets[root]!;
    index[root] = low[root] = counter++;
    stack[sp++] = root;
    onStack[root] = 1;
    while (depth >= 0) {
      const v = callNode[depth]!;
      const k = callEdge[depth]!;
      if (k < offsets[v + 1]!) {
        callEdge[depth] = k + 1;
        const w = targets[k]!;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack[sp++] = w;
          onStack[w] = 1;
          depth++;
          callNode[depth] = w;
          callEdge[depth] = offsets[w]!;
        } else if (onStack[w] && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      // v is done: pop its component if it is a root, then return to the caller.
      if (low[v] === index[v]) {
        const members: number[] = [];
        let w: number;
        do {
          w = stack[--sp]!;
          onStack[w] = 0;
          component[w] = count;
          members.push(w);
        } while (w !== v);
        if (members.length > 1 || hasSelfLoop(g, v)) cyclic.push(members.sort((a, b) => a - b));
        count++;
      }
      depth--;
      if (depth >= 0) {
        const u = callNode[depth]!;
        if (low[v]! < low[u]!) low[u] = low[v]!;
      }
    }
  }
  return { component, count, cyclic };
}

function hasSelfLoop(g: CompiledGraph, v: number): boolean {
  for (let k = g.offsets[v]!; k < g.offsets[v + 1]!; k++) if (g.targets[k] === v) return true;
  return false;
}

/** The condensation DAG: one node per component, deduplicated edges between components. */
export function condensation(
  g: CompiledGraph,
  scc: SccResult,
): { nodes: number; offsets: Int32Array; targets: Int32Array } {
  const { n, offsets, targets } = g;
  const c = scc.component;
  // Nodes grouped by component (counting sort), then each component's distinct targets.
  const start = new Int32Array(scc.count + 1);
  for (let v = 0; v < n; v++) start[c[v]! + 1]!++;
  for (let i = 0; i < scc.count; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, scc.count);
  const byComp = new Int32Array(n);
  for (let v = 0; v < n; v++) byComp[fill[c[v]!]!++] = v;
  const seen = new Int32Array(scc.count).fill(-1);
  const outOffsets = new Int32Array(scc.count + 1);
  const out: number[] = [];
  for (let comp = 0; comp < scc.count; comp++) {
    for (let i = start[comp]!; i < start[comp + 1]!; i++) {
      const v = byComp[i]!;
      for (let k = offsets[v]!; k < offsets[v + 1]!; k++) {
        const t = c[targets[k]!]!;
        if (t !== comp && seen[t] !== comp) {
          seen[t] = comp;
          out.push(t);
        }
      }
    }
    outOffsets[comp + 1] = out.length;
  }
  return { nodes: scc.count, offsets: outOffsets, targets: Int32Array.from(out) };
}
