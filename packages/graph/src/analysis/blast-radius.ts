/**
 * Blast radius: if a service is down, its direct dependents fail, and transitively everything
 * that depends on them. Computed by reverse BFS; the ranking of most critical services scores
 * every service exactly for graphs up to `exactLimit` services and, above that, ranks by direct
 * dependents and computes the transitive count for the top entries only.
 */

import type { DependencyGraph } from '../model.ts';
import type { CompiledGraph } from './compiled.ts';
import { compile, reverse } from './compiled.ts';

export interface BlastRadius {
  service: string;
  direct: string[];
  transitive: string[];
}

export interface CriticalService {
  service: string;
  direct: number;
  transitive: number;
}

function dependents(
  g: CompiledGraph,
  rev: ReturnType<typeof reverse>,
  v: number,
  seen: Int32Array,
  stamp: number,
): number[] {
  const out: number[] = [];
  const queue = [v];
  seen[v] = stamp;
  for (let qi = 0; qi < queue.length; qi++) {
    const x = queue[qi]!;
    for (let k = rev.offsets[x]!; k < rev.offsets[x + 1]!; k++) {
      const a = rev.sources[k]!;
      if (seen[a] === stamp) continue;
      seen[a] = stamp;
      out.push(a);
      queue.push(a);
    }
  }
  void g;
  return out;
}

/** Which services fail, directly and transitively, if `service` is down. */
export function blastRadius(graph: DependencyGraph, service: string): BlastRadius | undefined {
  const g = compile(graph);
  const v = g.index.get(service);
  if (v === undefined) return undefined;
  const rev = reverse(g);
  const direct = new Set<number>();
  for (let k = rev.offsets[v]!; k < rev.offsets[v + 1]!; k++)
    if (rev.sources[k] !== v) direct.add(rev.sources[k]!);
  const all = dependents(g, rev, v, new Int32Array(g.n).fill(-1), 1).filter((x) => x !== v);
  return {
    service,
    direct: [...direct].map((x) => g.names[x]!).sort(),
    transitive: all.map((x) => g.names[x]!).sort(),
  };
}

/** Services ranked by how many others fail when they are down. */
export function mostCritical(g: CompiledGraph, top = 10, exactLimit = 2_000): CriticalService[] {
  const rev = reverse(g);
  const directCount = (v: number): number => {
    const s = new Set<number>();
    for (let k = rev.offsets[v]!; k < rev.offsets[v + 1]!; k++)
      if (rev.sources[k] !== v) s.add(rev.sources[k]!);
    return s.size;
  };
  let candidates = Array.from({ length: g.n }, (_, v) => v);
  if (g.n > exactLimit) {
    candidates = candidates
      .map((v) => [v, directCount(v)] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, top * 5)
      .map(([v]) => v);
  }
  const seen = new Int32Array(g.n).fill(-1);
  const scored = candidates.map((v) => ({
    service: g.names[v]!,
    direct: directCount(v),
    transitive: dependents(g, rev, v, seen, v).filter((x) => x !== v).length,
  }));
  return scored
    .filter((s) => s.transitive > 0)
    .sort(
      (a, b) =>
        b.transitive - a.transitive || b.direct - a.direct || (a.service < b.service ? -1 : 1),
    )
    .slice(0, top);
}
