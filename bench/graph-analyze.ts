/**
 * `npm run bench -- graph-analyze [services] [edges]`: strongly connected components, cold-start
 * boot order and cycle-break suggestions on a generated graph of 100,000 services and 1,000,000
 * edges (a random DAG plus planted cycles, some over startup edges). Target: < 1,000 ms.
 *
 * `ms` is wall time; `cpu_ms` the process CPU time over the same span (on a shared machine the
 * difference is time spent waiting for a core).
 *
 * Peer, same graph, same run: graphology + graphology-components (strongly connected
 * components) + graphology-dag (topological generations = boot waves). `peer_ms`, or the error a
 * peer step hits. graphology has no feedback-arc-set, so the peer does no break suggestions.
 */
import { createRequire } from 'node:module';
import {
  bootOrder,
  breakCycles,
  compile,
  type DependencyGraph,
  type Edge,
  stronglyConnected,
} from '@ward/graph';
import { progress, round } from './_stats.ts';

const require = createRequire(import.meta.url);

export function generate(n: number, m: number, planted: number): DependencyGraph {
  let seed = 12345;
  const rand = (k: number): number => {
    // xorshift32: deterministic, fast.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % k;
  };
  const crit = ['low', 'medium', 'high', 'critical'];
  const services = Array.from({ length: n }, (_, i) => ({
    name: `svc-${i}`,
    type: 'service' as const,
    virtual: false,
    labels: { criticality: crit[i % 4]! },
    sources: [],
  }));
  // Pairs first, then edge objects allocated in (from, to) order, as GraphBuilder.build() and
  // JSON.parse of a written graph lay them out.
  const seen = new Set<number>();
  const pairs: number[] = [];
  const startup = new Set<number>();
  const add = (a: number, b: number, kind: Edge['kind']): void => {
    const key = a * n + b;
    if (a === b || seen.has(key)) return;
    seen.add(key);
    pairs.push(key);
    if (kind === 'startup') startup.add(key);
  };
  // Planted cycles of length 2..6; every fifth is a startup cycle (services that never start).
  for (let c = 0; c < planted; c++) {
    const len = 2 + (c % 5);
    const base = rand(n - 10);
    const nodes = Array.from({ length: len }, (_, i) => base + i);
    for (let i = 0; i < len; i++)
      add(nodes[i]!, nodes[(i + 1) % len]!, c % 5 === 0 ? 'startup' : 'runtime');
  }
  // The rest: a random DAG (edges from lower to higher index, up to 2,000 apart so paths are long).
  while (pairs.length < m) {
    const a = rand(n);
    const b = a + 1 + rand(2000);
    if (b < n) add(a, b, rand(10) === 0 ? 'startup' : 'runtime');
  }
  const name = (i: number): string => services[i]!.name;
  pairs.sort((x, y) => {
    const ax = name(Math.floor(x / n));
    const ay = name(Math.floor(y / n));
    if (ax !== ay) return ax < ay ? -1 : 1;
    const bx = name(x % n);
    const by = name(y % n);
    return bx < by ? -1 : bx > by ? 1 : 0;
  });
  const edges: Edge[] = pairs.map((key) => ({
    from: name(Math.floor(key / n)),
    to: name(key % n),
    kind: startup.has(key) ? 'startup' : 'runtime',
    provenance: 'observed',
    sources: [],
    metrics: { calls: rand(10_000), errors: 0, denied: 0 },
  }));
  return { services, edges };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = Number(args[0] ?? 100_000);
  const m = Number(args[1] ?? 1_000_000);
  progress(`generating ${n} services, ${m} edges…`);
  const graph = generate(n, m, 200);
  const heapBefore = process.memoryUsage().heapUsed;

  // Warm-up on a small graph so the JIT has seen the code paths.
  const warm = generate(2_000, 20_000, 10);
  breakCycles(compile(warm), stronglyConnected(compile(warm)));
  bootOrder(warm);

  progress('ward: SCC, boot order, break suggestions…');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const g = compile(graph);
  const t1 = performance.now();
  const scc = stronglyConnected(g);
  const t2 = performance.now();
  const boot = bootOrder(g);
  const t3 = performance.now();
  const breaks = breakCycles(g, scc);
  const t4 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const heapAfter = process.memoryUsage().heapUsed;
  const ms = t4 - t0;
  progress(
    `ward: ${round(ms)} ms (compile ${round(t1 - t0)}, scc ${round(t2 - t1)}, boot ${round(t3 - t2)}, break ${round(t4 - t3)})`,
  );

  progress('peer: graphology + graphology-components + graphology-dag…');
  const peer: Record<string, unknown> = {};
  try {
    const { DirectedGraph } = require('graphology') as typeof import('graphology');
    const { stronglyConnectedComponents } = require('graphology-components') as {
      stronglyConnectedComponents(g: unknown): string[][];
    };
    const { topologicalGenerations } = require('graphology-dag') as {
      topologicalGenerations(g: unknown): string[][];
    };
    const b0 = performance.now();
    const pg = new DirectedGraph();
    const startup = new DirectedGraph();
    for (const s of graph.services) {
      pg.addNode(s.name);
      startup.addNode(s.name);
    }
    for (const e of graph.edges) {
      pg.addEdge(e.from, e.to);
      if (e.kind === 'startup') startup.addEdge(e.to, e.from); // dependency first
    }
    peer.peer_build_ms = round(performance.now() - b0);
    const p0 = performance.now();
    let sccMs: number | undefined;
    try {
      const comps = stronglyConnectedComponents(pg);
      sccMs = performance.now() - p0;
      peer.peer_cyclic_components = comps.filter((c) => c.length > 1).length;
    } catch (error) {
      peer.peer_scc_error = (error as Error).message;
    }
    const p1 = performance.now();
    try {
      peer.peer_waves = topologicalGenerations(startup).length;
    } catch (error) {
      peer.peer_boot_error = (error as Error).message;
    }
    const topoMs = performance.now() - p1;
    peer.peer_ms = sccMs === undefined ? null : round(sccMs + topoMs);
    peer.peer_break = 'not available (graphology has no feedback-arc-set)';
  } catch (error) {
    peer.peer_error = (error as Error).message;
  }
  progress(`peer: ${JSON.stringify(peer)}`);

  return {
    services: n,
    edges: m,
    ms: round(ms),
    // CPU time of this process over the same span: the machine is shared, so wall time
    // includes waiting for a core; cpu_ms is what the analysis itself costs.
    cpu_ms: round((cpu.user + cpu.system) / 1000),
    compile_ms: round(t1 - t0),
    scc_ms: round(t2 - t1),
    boot_ms: round(t3 - t2),
    break_ms: round(t4 - t3),
    heap_mb: round(heapAfter / 1048576),
    analysis_heap_mb: round((heapAfter - heapBefore) / 1048576),
    cyclic_components: scc.cyclic.length,
    boot_waves: boot.waves.length,
    blocked_at_cold_start: boot.blocked.length,
    suggested_cuts: breaks.reduce((k, b) => k + b.cuts.length, 0),
    target_ms: 1000,
    ...peer,
  };
}
