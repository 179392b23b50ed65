/**
 * Graphviz DOT and Mermaid flowcharts. Edges inside a cycle are red and bold; startup edges are
 * solid, runtime edges dashed; observed-only (unapproved) edges orange; virtual nodes drawn as
 * cylinders (databases) or dashed boxes.
 */
import type { AnalysisReport } from '../analysis/analyze.ts';
import type { DependencyGraph, Edge } from '../model.ts';

function cyclicPairs(report: AnalysisReport): {
  inCycle: (e: Edge) => boolean;
  comp: Map<string, number>;
} {
  const comp = new Map<string, number>();
  report.components.forEach((members, i) => {
    for (const m of members) comp.set(m, i);
  });
  return {
    comp,
    inCycle: (e) => comp.has(e.from) && comp.get(e.from) === comp.get(e.to),
  };
}

function dotId(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function toDot(graph: DependencyGraph, report: AnalysisReport): string {
  const { inCycle, comp } = cyclicPairs(report);
  const lines = ['digraph ward {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica"];'];
  for (const s of graph.services) {
    const attrs: string[] = [];
    if (s.type === 'database') attrs.push('shape=cylinder');
    else if (s.virtual) attrs.push('style=dashed');
    if (comp.has(s.name)) attrs.push('color=red', 'penwidth=2');
    lines.push(`  ${dotId(s.name)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  for (const e of graph.edges) {
    const attrs: string[] = [];
    if (e.kind === 'runtime') attrs.push('style=dashed');
    if (inCycle(e)) attrs.push('color=red', 'penwidth=2');
    else if (e.provenance === 'observed') attrs.push('color=orange');
    else if (e.provenance === 'declared') attrs.push('color=gray40');
    if (e.metrics?.calls) attrs.push(`label=${dotId(String(e.metrics.calls))}`);
    lines.push(
      `  ${dotId(e.from)} -> ${dotId(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`,
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function toMermaid(graph: DependencyGraph, report: AnalysisReport): string {
  const { inCycle, comp } = cyclicPairs(report);
  const ids = new Map<string, string>();
  for (const [i, s] of graph.services.entries()) ids.set(s.name, `n${i}`);
  const label = (s: string): string => `"${s.replace(/"/g, '#quot;')}"`;
  const lines = ['flowchart LR'];
  for (const s of graph.services) {
    const id = ids.get(s.name)!;
    lines.push(s.type === 'database' ? `  ${id}[(${label(s.name)})]` : `  ${id}[${label(s.name)}]`);
  }
  const red: number[] = [];
  const orange: number[] = [];
  graph.edges.forEach((e, i) => {
    const arrow = e.kind === 'startup' ? '==>' : '-.->';
    lines.push(`  ${ids.get(e.from)} ${arrow} ${ids.get(e.to)}`);
    if (inCycle(e)) red.push(i);
    else if (e.provenance === 'observed') orange.push(i);
  });
  lines.push('  classDef cycle stroke:#d00,stroke-width:3px');
  const cyc = graph.services.filter((s) => comp.has(s.name)).map((s) => ids.get(s.name));
  if (cyc.length) lines.push(`  class ${cyc.join(',')} cycle`);
  if (red.length) lines.push(`  linkStyle ${red.join(',')} stroke:#d00,stroke-width:3px`);
  if (orange.length) lines.push(`  linkStyle ${orange.join(',')} stroke:#e80`);
  return `${lines.join('\n')}\n`;
}
