/**
 * Runs every analysis over a graph and returns one report: the shape `ward graph analyze -o json`
 * writes (with the graph) and `GET /v1/graph` serves.
 */
import { type DependencyGraph, type EdgeKind, isStoreWorkload } from '../model.ts';
import { type CriticalService, mostCritical } from './blast-radius.ts';
import { type BootOrder, bootOrder } from './boot-order.ts';
import { type BreakSuggestion, breakCycles } from './break-cycles.ts';
import { compile } from './compiled.ts';
import { type CycleOptions, elementaryCycles } from './cycles.ts';
import { type DeclaredVsObserved, declaredVsObserved } from './declared-observed.ts';
import { checkLayering, type LayeringRules, type LayeringViolation } from './layering.ts';
import { checkRepairTools, type RepairToolFinding } from './repair-tools.ts';
import { condensation, stronglyConnected } from './scc.ts';

export interface AnalyzeOptions extends CycleOptions {
  rules?: LayeringRules;
  /** How many most-critical services to list. Default 10. */
  criticalTop?: number;
}

export interface CycleReport {
  services: string[];
  /** Kind of each edge along the cycle (services[i] → services[i+1], last → first). */
  kinds: EdgeKind[];
}

export interface AnalysisReport {
  summary: {
    services: number;
    virtualServices: number;
    edges: number;
    declared: number;
    observed: number;
    both: number;
    startupEdges: number;
    cyclicComponents: number;
    servicesInCycles: number;
    blockedAtColdStart: number;
  };
  /** Cyclic strongly connected components (service names, sorted). */
  components: string[][];
  cycles: CycleReport[];
  cyclesTruncated: boolean;
  condensation: { nodes: number; edges: number };
  bootOrder: BootOrder;
  breakSuggestions: BreakSuggestion[];
  repairTools: RepairToolFinding[];
  critical: CriticalService[];
  declaredVsObserved: DeclaredVsObserved;
  layering: { checked: boolean; violations: LayeringViolation[] };
  /** Workloads typed data store or broker, and why (boot order starts them first). */
  stores: { service: string; type: string; typedFrom: string }[];
  /** Workloads reachable from outside, and through what. */
  entryPoints: { service: string; via: string[] }[];
}

export function analyze(graph: DependencyGraph, options: AnalyzeOptions = {}): AnalysisReport {
  const g = compile(graph);
  const scc = stronglyConnected(g);
  const cond = condensation(g, scc);
  const { cycles, truncated } = elementaryCycles(g, scc, options);
  const kindOf = new Map<string, EdgeKind>();
  for (const e of graph.edges) kindOf.set(`${e.from}\u0000${e.to}`, e.kind);
  const cycleReports = cycles.map((c): CycleReport => {
    const services = c.map((v) => g.names[v]!);
    const kinds = services.map(
      (s, i) => kindOf.get(`${s}\u0000${services[(i + 1) % services.length]}`) ?? 'runtime',
    );
    return { services, kinds };
  });
  const boot = bootOrder(g);
  const components = scc.cyclic.map((m) => m.map((v) => g.names[v]!).sort());
  const dvo = declaredVsObserved(graph);
  const violations = options.rules ? checkLayering(graph, options.rules) : [];
  return {
    summary: {
      services: graph.services.length,
      virtualServices: graph.services.filter((s) => s.virtual).length,
      edges: graph.edges.length,
      declared: graph.edges.filter((e) => e.provenance === 'declared').length,
      observed: graph.edges.filter((e) => e.provenance === 'observed').length,
      both: graph.edges.filter((e) => e.provenance === 'both').length,
      startupEdges: graph.edges.filter((e) => e.kind === 'startup').length,
      cyclicComponents: components.length,
      servicesInCycles: components.reduce((n, c) => n + c.length, 0),
      blockedAtColdStart: boot.blocked.length,
    },
    components,
    cycles: cycleReports,
    cyclesTruncated: truncated,
    condensation: { nodes: cond.nodes, edges: cond.targets.length },
    bootOrder: boot,
    breakSuggestions: breakCycles(g, scc),
    repairTools: checkRepairTools(g, scc),
    critical: mostCritical(g, options.criticalTop ?? 10),
    declaredVsObserved: dvo,
    layering: { checked: options.rules !== undefined, violations },
    stores: graph.services
      .filter(isStoreWorkload)
      .map((s) => ({ service: s.name, type: s.type, typedFrom: s.typedFrom! })),
    entryPoints: graph.services
      .filter((s) => s.entryPoints?.length)
      .map((s) => ({ service: s.name, via: s.entryPoints!.map((e) => e.via) })),
  };
}
