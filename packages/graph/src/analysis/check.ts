/**
 * The CI gate: compares the current graph with a baseline graph (a previous `ward graph analyze
 * -o json` output) and reports what got worse: a new cycle, a new unapproved edge, a new
 * layering violation. Anything the baseline already had is accepted, so a team can adopt the gate
 * on a graph that is not yet clean and ratchet from there.
 */
import { GraphError } from '../errors.ts';
import type { DependencyGraph, Edge, SourceRef } from '../model.ts';
import { parseGraphJson } from '../readers/graph-json.ts';
import { type AnalysisReport, type AnalyzeOptions, analyze } from './analyze.ts';
import { compile } from './compiled.ts';
import { shortestPath } from './cycles.ts';
import { stronglyConnected } from './scc.ts';

export interface CheckResult {
  ok: boolean;
  /**
   * Cycles among services the baseline did not have in one cycle. `edge` is an edge that closed
   * the cycle — one the baseline did not have whenever there is such an edge — and `cycle` runs
   * through it; `newEdges` are all the edges of `cycle` missing from the baseline (what a
   * reviewer has to look at), so a finding never blames an edge that was already approved.
   */
  newCycles: {
    edge: { from: string; to: string };
    cycle: string[];
    newEdges: { from: string; to: string; sources: SourceRef[] }[];
  }[];
  newUnapproved: { from: string; to: string; calls: number }[];
  newViolations: { rule: string; from: string; to: string; message: string }[];
}

/** Reads a baseline file's JSON; throws `GRAPH_BASELINE_INVALID` naming the file. */
export function parseBaseline(value: unknown, file: string): DependencyGraph {
  try {
    return parseGraphJson(value, file);
  } catch (cause) {
    throw new GraphError(
      'GRAPH_BASELINE_INVALID',
      `baseline is not a Ward graph: ${(cause as Error).message}`,
      {
        file,
        expected: 'the JSON output of `ward graph analyze -o json`',
      },
      { cause },
    );
  }
}

export function checkAgainstBaseline(
  current: DependencyGraph,
  baseline: DependencyGraph,
  options: AnalyzeOptions = {},
  currentReport: AnalysisReport = analyze(current, options),
): CheckResult {
  const base = analyze(baseline, { ...options, maxCycles: 1 });
  // Baseline: which pairs of services share a cycle.
  const baseComp = new Map<string, number>();
  base.components.forEach((members, i) => {
    for (const m of members) baseComp.set(m, i);
  });
  const key = (x: { from: string; to: string }): string => `${x.from}\u0000${x.to}`;
  const baseEdges = new Set(baseline.edges.map(key));
  const g = compile(current);
  const scc = stronglyConnected(g);
  // Per cyclic component that is new: the first edge that makes it new, and the first such edge
  // the baseline did not have (the one that closed the cycle; preferred).
  const first = new Map<number, Edge>();
  const closing = new Map<number, Edge>();
  for (const e of current.edges) {
    const a = g.index.get(e.from)!;
    const b = g.index.get(e.to)!;
    const c = scc.component[a]!;
    if (c !== scc.component[b] || closing.has(c)) continue;
    const isNew =
      a === b
        ? !baseEdges.has(key(e))
        : baseComp.get(e.from) === undefined || baseComp.get(e.from) !== baseComp.get(e.to);
    if (!isNew) continue;
    if (!first.has(c)) first.set(c, e);
    if (!baseEdges.has(key(e))) closing.set(c, e);
  }
  const newCycles: CheckResult['newCycles'] = [];
  const edgeAt = first.size > 0 ? new Map(current.edges.map((e) => [key(e), e])) : undefined;
  for (const [c, fallback] of first) {
    const e = closing.get(c) ?? fallback;
    const a = g.index.get(e.from)!;
    const b = g.index.get(e.to)!;
    const back = a === b ? [] : (shortestPath(g, scc, b, a) ?? []).slice(0, -1);
    const cycle = [e.from, ...back.map((v) => g.names[v]!), e.from];
    const newEdges: CheckResult['newCycles'][number]['newEdges'] = [];
    for (let i = 0; i + 1 < cycle.length; i++) {
      const step = { from: cycle[i]!, to: cycle[i + 1]! };
      // Where the new edge was declared (or observed): what a reviewer opens.
      if (!baseEdges.has(key(step)))
        newEdges.push({ ...step, sources: edgeAt!.get(key(step))?.sources ?? [] });
    }
    newCycles.push({ edge: { from: e.from, to: e.to }, cycle, newEdges });
  }
  const baseUnapproved = new Set(base.declaredVsObserved.unapproved.map(key));
  const newUnapproved = currentReport.declaredVsObserved.unapproved
    .filter((u) => !baseUnapproved.has(key(u)))
    .map((u) => ({ from: u.from, to: u.to, calls: u.calls }));
  const vkey = (v: { rule: string; from: string; to: string }): string =>
    `${v.rule}\u0000${v.from}\u0000${v.to}`;
  const baseViolations = new Set(base.layering.violations.map(vkey));
  const newViolations = currentReport.layering.violations
    .filter((v) => v.severity === 'error' && !baseViolations.has(vkey(v)))
    .map(({ rule, from, to, message }) => ({ rule, from, to, message }));
  return {
    ok: newCycles.length === 0 && newUnapproved.length === 0 && newViolations.length === 0,
    newCycles,
    newUnapproved,
    newViolations,
  };
}
