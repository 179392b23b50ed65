/**
 * Elementary cycles, bounded in count, length and work, shortest first. For each start node s
 * (in order) only cycles whose smallest node is s are enumerated, so each cycle is found once;
 * a reverse BFS distance to s prunes every path that could not close within the length bound.
 * Every cyclic component contributes at least its shortest cycle, even when the bounds cut the
 * enumeration short.
 */
import type { CompiledGraph } from './compiled.ts';
import { reverse } from './compiled.ts';
import type { SccResult } from './scc.ts';

export interface CycleOptions {
  /** Most cycles returned. Default 100. */
  maxCycles?: number;
  /** Longest cycle (in edges) enumerated. Default 8. */
  maxLength?: number;
  /** Work budget in visited edges. Default 2,000,000. */
  maxSteps?: number;
}

export interface CyclesResult {
  /** Each cycle as node indexes, starting at its smallest node; sorted shortest first. */
  cycles: number[][];
  /** True when a bound stopped the enumeration before every short cycle was found. */
  truncated: boolean;
}

export function elementaryCycles(
  g: CompiledGraph,
  scc: SccResult,
  options: CycleOptions = {},
): CyclesResult {
  const maxCycles = options.maxCycles ?? 100;
  const maxLength = options.maxLength ?? 8;
  let budget = options.maxSteps ?? 2_000_000;
  const { offsets, targets } = g;
  const comp = scc.component;
  const rev = reverse(g);
  const found: number[][] = [];
  const cap = maxCycles * 10;
  let truncated = false;
  const dist = new Int32Array(g.n).fill(-1);
  const touched: number[] = [];
  const path: number[] = [];
  const onPath = new Uint8Array(g.n);

  outer: for (const members of scc.cyclic) {
    for (const s of members) {
      // Reverse BFS from s over nodes of the same component that are >= s, up to maxLength.
      for (const t of touched) dist[t] = -1;
      touched.length = 0;
      dist[s] = 0;
      touched.push(s);
      const queue = [s];
      for (let qi = 0; qi < queue.length; qi++) {
        const v = queue[qi]!;
        if (dist[v]! >= maxLength - 1) continue;
        for (let k = rev.offsets[v]!; k < rev.offsets[v + 1]!; k++) {
          const u = rev.sources[k]!;
          budget--;
          if (u < s || comp[u] !== comp[s] || dist[u] !== -1) continue;
          dist[u] = dist[v]! + 1;
          touched.push(u);
          queue.push(u);
        }
      }
      // Depth-first over paths s → … that can still close within maxLength.
      path.length = 0;
      path.push(s);
      onPath[s] = 1;
      const edgePos = [offsets[s]!];
      while (path.length > 0) {
        if (budget <= 0 || found.length >= cap) {
          truncated = true;
          for (const v of path) onPath[v] = 0;
          break outer;
        }
        const depth = path.length - 1;
        const v = path[depth]!;
        const k = edgePos[depth]!;
        if (k >= offsets[v + 1]!) {
          onPath[v] = 0;
          path.pop();
          edgePos.pop();
          continue;
        }
        edgePos[depth] = k + 1;
        budget--;
        const w = targets[k]!;
        if (w === s) {
          found.push(path.slice());
          continue;
        }
        if (w < s || onPath[w] || dist[w] === -1 || path.length + dist[w]! > maxLength) continue;
        path.push(w);
        onPath[w] = 1;
        edgePos.push(offsets[w]!);
      }
    }
  }
  // Make sure every cyclic component has an example, even if the enumeration stopped early.
  const covered = new Set(found.map((c) => comp[c[0]!]!));
  for (const members of scc.cyclic) {
    const id = comp[members[0]!]!;
    if (!covered.has(id)) {
      const c = shortestCycleThrough(g, scc, members[0]!);
      if (c) found.push(c);
    }
  }
  found.sort((a, b) => a.length - b.length || a[0]! - b[0]!);
  if (found.length > maxCycles) {
    truncated = true;
    found.length = maxCycles;
  }
  return { cycles: found, truncated };
}

/** The shortest cycle through `v` within its component (BFS), as node indexes from v. */
export function shortestCycleThrough(
  g: CompiledGraph,
  scc: SccResult,
  v: number,
): number[] | undefined {
  return shortestPath(g, scc, v, v);
}

/**
 * Shortest path from `from` to `to` within their component (BFS), as node indexes starting at
 * `from`, ending before `to` when from === to (a cycle), else ending at `to`.
 */
export function shortestPath(
  g: CompiledGraph,
  scc: SccResult,
  from: number,
  to: number,
  skipEdge = -1,
): number[] | undefined {
  const comp = scc.component;
  const parent = new Map<number, number>();
  const queue = [from];
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi]!;
    for (let k = g.offsets[v]!; k < g.offsets[v + 1]!; k++) {
      if (g.edgeOf[k] === skipEdge) continue;
      const w = g.targets[k]!;
      if (comp[w] !== comp[from]) continue;
      if (w === to) {
        const out = [v];
        let x = v;
        while (x !== from) {
          x = parent.get(x)!;
          out.push(x);
        }
        out.reverse();
        if (from !== to) out.push(to);
        return out;
      }
      if (!parent.has(w) && w !== from) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return undefined;
}
