/**
 * How to break each cycle: a small weighted feedback arc set per cyclic component, and the
 * supernode alternative. The weight of an edge is what cutting it costs: startup edges cost more
 * than runtime edges, busy edges more than rarely used ones, and edges into critical services
 * more than edges into low-criticality ones; so the cheapest cut is a rarely used runtime call
 * into something unimportant.
 *
 * Heuristic: the greedy ordering of Eades, Lin and Smyth (1993), weighted, run on each cyclic
 * component: sinks go last, sources first, otherwise the node with the largest (out − in) weight
 * goes first; edges pointing backwards in the order form the arc set. A final pass puts back
 * every cut edge (most expensive first) whose return closes no cycle, so no suggested cut is
 * superfluous.
 */
import type { DependencyGraph, Edge, ServiceNode } from '../model.ts';
import type { CompiledGraph } from './compiled.ts';
import { shortestPath } from './cycles.ts';
import type { SccResult } from './scc.ts';

export interface CutSuggestion {
  from: string;
  to: string;
  kind: Edge['kind'];
  /** Cost of cutting this edge (lower is cheaper). */
  cost: number;
  /** A cycle this edge closes, as service names from `from` back to `from`. */
  breaks: string[];
  explanation: string;
}

export interface BreakSuggestion {
  /** The services of the cyclic component. */
  component: string[];
  cuts: CutSuggestion[];
  totalCost: number;
  supernode: { services: string[]; internalEdges: number; explanation: string };
}

const CRITICALITY: Record<string, number> = {
  critical: 3,
  high: 3,
  tier0: 3,
  medium: 2,
  low: 0.5,
  none: 0.5,
};

/** What cutting `edge` costs; see the module comment. */
export function cutCost(edge: Edge, target: ServiceNode | undefined): number {
  const kind = edge.kind === 'startup' ? 4 : 1;
  const traffic = 1 + Math.log10(1 + (edge.metrics?.calls ?? 0));
  const crit = CRITICALITY[(target?.labels.criticality ?? '').toLowerCase()] ?? 1;
  return Math.round(kind * traffic * crit * 1000) / 1000;
}

export function breakCycles(
  g: CompiledGraph,
  scc: SccResult,
  options: { minimalityLimit?: number } = {},
): BreakSuggestion[] {
  const graph: DependencyGraph = g.graph;
  const out: BreakSuggestion[] = [];
  const nodeOf = new Map(graph.services.map((s) => [s.name, s]));
  // Whether any input showed traffic: only then can "never observed" be said of an edge.
  const trafficGiven =
    scc.cyclic.length > 0 && graph.edges.some((e) => e.provenance !== 'declared');
  const comp = scc.component;
  for (const members of scc.cyclic) {
    const id = comp[members[0]!]!;
    // Edges of the component, as local arrays.
    const slots: number[] = [];
    for (const v of members) {
      for (let k = g.offsets[v]!; k < g.offsets[v + 1]!; k++)
        if (comp[g.targets[k]!] === id) slots.push(k);
    }
    const weight = new Map<number, number>();
    for (const k of slots) {
      const e = graph.edges[g.edgeOf[k]!]!;
      weight.set(k, cutCost(e, nodeOf.get(e.to)));
    }
    const order = elsOrder(g, members, slots, weight, comp, id);
    let cut = slots.filter((k) => {
      const a = findSource(g, k);
      return a === g.targets[k] || order.get(a)! > order.get(g.targets[k]!)!;
    });
    if (members.length <= (options.minimalityLimit ?? 5_000)) cut = minimize(g, scc, cut, weight);
    const cuts = cut.map((k): CutSuggestion => {
      const e = graph.edges[g.edgeOf[k]!]!;
      const a = g.index.get(e.from)!;
      const b = g.targets[k]!;
      const back = a === b ? [a] : (shortestPath(g, scc, b, a) ?? [b, a]);
      const breaks =
        a === b
          ? [e.from, e.from]
          : [e.from, ...back.map((x) => g.names[x]!), e.from].filter(
              (x, i, arr) => i === 0 || x !== arr[i - 1],
            );
      return {
        from: e.from,
        to: e.to,
        kind: e.kind,
        cost: weight.get(k)!,
        breaks,
        explanation: explainCut(e, nodeOf.get(e.to), weight.get(k)!, breaks, trafficGiven),
      };
    });
    cuts.sort((x, y) => x.cost - y.cost || x.from.localeCompare(y.from));
    const services = members.map((v) => g.names[v]!).sort();
    out.push({
      component: services,
      cuts,
      totalCost: Math.round(cuts.reduce((s, c) => s + c.cost, 0) * 1000) / 1000,
      supernode: {
        services,
        internalEdges: slots.length,
        explanation:
          `Alternatively merge ${services.join(', ')} into one supernode: treat them as one unit that is ` +
          `deployed, started and scaled together (or move what they share into a service they all depend on). ` +
          `The ${slots.length} edge(s) among them become internal calls and the rest of the graph stays acyclic.`,
      },
    });
  }
  return out;
}

function explainCut(
  e: Edge,
  target: ServiceNode | undefined,
  cost: number,
  breaks: string[],
  trafficGiven: boolean,
): string {
  const why: string[] = [
    e.kind === 'runtime'
      ? 'a runtime edge (can degrade gracefully, retry or go async)'
      : 'a startup edge (the service could start without it and connect lazily)',
  ];
  const calls = e.metrics?.calls ?? 0;
  // Say only what the inputs show: without traces or decision logs nothing is known of traffic.
  if (e.provenance !== 'declared') why.push(`${calls} observed call(s)`);
  else if (trafficGiven) why.push('declared but never observed in the traffic given');
  else why.push('declared (no traffic input was given, so how much it is used is unknown)');
  const crit = target?.labels.criticality;
  if (crit) why.push(`into ${crit}-criticality ${e.to}`);
  return `Cut ${e.from} → ${e.to} (cost ${cost}): ${why.join(', ')}. It closes the cycle ${breaks.join(' → ')}.`;
}

function findSource(g: CompiledGraph, slot: number): number {
  // Binary search the CSR offsets for the node owning this slot.
  let lo = 0;
  let hi = g.n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (g.offsets[mid]! <= slot) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Weighted Eades–Lin–Smyth ordering of one component (lazy max-heap on out − in weight). */
function elsOrder(
  g: CompiledGraph,
  members: number[],
  slots: number[],
  weight: Map<number, number>,
  comp: Int32Array,
  id: number,
): Map<number, number> {
  const inW = new Map<number, number>();
  const outW = new Map<number, number>();
  const inEdges = new Map<number, number[]>();
  const outEdges = new Map<number, number[]>();
  for (const v of members) {
    inW.set(v, 0);
    outW.set(v, 0);
    inEdges.set(v, []);
    outEdges.set(v, []);
  }
  for (const k of slots) {
    const a = findSource(g, k);
    const b = g.targets[k]!;
    if (a === b) continue; // a self-loop is always cut
    const w = weight.get(k)!;
    outW.set(a, outW.get(a)! + w);
    inW.set(b, inW.get(b)! + w);
    outEdges.get(a)!.push(k);
    inEdges.get(b)!.push(k);
  }
  void comp;
  void id;
  const removed = new Set<number>();
  const left: number[] = [];
  const right: number[] = [];
  const heap: [number, number][] = [];
  const push = (v: number): void => {
    heap.push([outW.get(v)! - inW.get(v)!, v]);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]![0] >= heap[i]![0]) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): [number, number] | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] > heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] > heap[m]![0]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const sinks: number[] = [];
  const sources: number[] = [];
  const classify = (v: number): void => {
    if (removed.has(v)) return;
    if (outW.get(v)! <= 0 && outEdges.get(v)!.every((k) => removed.has(g.targets[k]!)))
      sinks.push(v);
    else if (inW.get(v)! <= 0 && inEdges.get(v)!.every((k) => removed.has(findSource(g, k))))
      sources.push(v);
    else push(v);
  };
  const remove = (v: number): void => {
    removed.add(v);
    for (const k of outEdges.get(v)!) {
      const b = g.targets[k]!;
      if (removed.has(b)) continue;
      inW.set(b, inW.get(b)! - weight.get(k)!);
      classify(b);
    }
    for (const k of inEdges.get(v)!) {
      const a = findSource(g, k);
      if (removed.has(a)) continue;
      outW.set(a, outW.get(a)! - weight.get(k)!);
      classify(a);
    }
  };
  for (const v of members) classify(v);
  while (removed.size < members.length) {
    const s = sinks.pop();
    if (s !== undefined) {
      if (!removed.has(s)) {
        right.push(s);
        remove(s);
      }
      continue;
    }
    const src = sources.pop();
    if (src !== undefined) {
      if (!removed.has(src)) {
        left.push(src);
        remove(src);
      }
      continue;
    }
    const top = pop();
    if (!top) break;
    const [delta, v] = top;
    if (removed.has(v) || delta !== outW.get(v)! - inW.get(v)!) continue; // stale heap entry
    left.push(v);
    remove(v);
  }
  const order = new Map<number, number>();
  for (const [i, v] of [...left, ...right.reverse()].entries()) order.set(v, i);
  return order;
}

/** Puts back cut edges (most expensive first) whose return closes no cycle. */
function minimize(
  g: CompiledGraph,
  scc: SccResult,
  cut: number[],
  weight: Map<number, number>,
): number[] {
  const cutSet = new Set(cut);
  const byCost = [...cut].sort((a, b) => weight.get(b)! - weight.get(a)!);
  const comp = scc.component;
  for (const k of byCost) {
    const a = findSource(g, k);
    const b = g.targets[k]!;
    if (a === b) continue;
    // Is a reachable from b without any still-cut edge? Then k is needed.
    cutSet.delete(k);
    const seen = new Set<number>([b]);
    const queue = [b];
    let closes = false;
    for (let qi = 0; qi < queue.length && !closes; qi++) {
      const v = queue[qi]!;
      for (let s = g.offsets[v]!; s < g.offsets[v + 1]!; s++) {
        if (cutSet.has(s)) continue;
        const w = g.targets[s]!;
        if (comp[w] !== comp[a]) continue;
        if (w === a) {
          closes = true;
          break;
        }
        if (!seen.has(w)) {
          seen.add(w);
          queue.push(w);
        }
      }
    }
    if (closes) cutSet.add(k);
  }
  return cut.filter((k) => cutSet.has(k));
}
