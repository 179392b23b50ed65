/** A plain-text report for terminals: summary first, then findings, each with its explanation. */
import type { AnalysisReport } from '../analysis/analyze.ts';
import type { GraphDiagnostic } from '../model.ts';
import type { IngestStats } from '../readers/ingest.ts';

export function toTextReport(
  report: AnalysisReport,
  stats?: IngestStats,
  options: { maxItems?: number } = {},
): string {
  const max = options.maxItems ?? 20;
  const s = report.summary;
  const out: string[] = [];
  const more = (n: number): void => {
    if (n > max) out.push(`  … and ${n - max} more`);
  };
  out.push(
    `Services: ${s.services} (${s.virtualServices} virtual)   Edges: ${s.edges} (declared ${s.declared}, observed ${s.observed}, both ${s.both}; startup ${s.startupEdges})`,
  );
  if (stats && stats.spans > 0) {
    const skipped = Object.values(stats.skipped).reduce((a, b) => a + b, 0);
    out.push(
      `Spans: ${stats.spans}, paired ${stats.pairs}, peer calls ${stats.peerCalls}, skipped ${skipped}, evicted traces ${stats.evictedTraces}`,
    );
  } else if (stats) {
    const skipped = Object.values(stats.skipped).reduce((a, b) => a + b, 0);
    if (skipped > 0) out.push(`Skipped records: ${skipped}`);
  }
  if (stats?.skipSamples.length)
    for (const m of stats.skipSamples.slice(0, 5)) out.push(`  skipped: ${m}`);
  if (stats?.diagnostics?.length) {
    out.push('');
    out.push(...diagnosticLines(stats.diagnostics, max));
  }
  if (s.edges === 0) {
    out.push('');
    out.push(
      'No dependencies found in the inputs. They probably live in code or configuration files the manifests do not show: try `ward graph scan DIR`, or add traces or decision logs.',
    );
  }
  if (report.stores.length > 0) {
    out.push('');
    out.push(`Data stores and brokers (started first, call nothing): ${report.stores.length}`);
    for (const st of report.stores.slice(0, max))
      out.push(
        `  ${st.service}: ${st.type === 'messaging' ? 'broker' : st.type} (${st.typedFrom})`,
      );
    more(report.stores.length);
  }
  if (report.entryPoints.length > 0) {
    out.push('');
    out.push(`Entry points (reachable from outside): ${report.entryPoints.length}`);
    for (const e of report.entryPoints.slice(0, max))
      out.push(`  ${e.service}: ${e.via.join('; ')}`);
    more(report.entryPoints.length);
  }
  out.push('');
  out.push(
    `Cycles: ${s.cyclicComponents} cyclic component(s), ${s.servicesInCycles} service(s) in cycles`,
  );
  for (const c of report.cycles.slice(0, max)) {
    out.push(`  ${[...c.services, c.services[0]].join(' → ')}  [${c.kinds.join(', ')}]`);
  }
  more(report.cycles.length);
  if (report.cyclesTruncated) out.push('  (cycle list truncated by its bounds)');
  out.push('');
  out.push(`Cold-start boot order: ${report.bootOrder.waves.length} wave(s)`);
  const kind = new Map(
    report.stores.map((st) => [st.service, st.type === 'messaging' ? 'broker' : st.type]),
  );
  const label = (name: string): string => (kind.has(name) ? `${name} [${kind.get(name)}]` : name);
  report.bootOrder.waves.slice(0, max).forEach((w, i) => {
    out.push(
      `  wave ${i + 1}: ${w.slice(0, 12).map(label).join(', ')}${w.length > 12 ? `, … (${w.length})` : ''}`,
    );
  });
  more(report.bootOrder.waves.length);
  if (report.bootOrder.blocked.length > 0) {
    out.push(`  can never start cold: ${report.bootOrder.blocked.length}`);
    for (const b of report.bootOrder.blocked.slice(0, max))
      out.push(`    ${b.service}: ${b.reason}`);
    more(report.bootOrder.blocked.length);
  }
  if (report.breakSuggestions.length > 0) {
    out.push('');
    out.push('Breaking the cycles:');
    for (const b of report.breakSuggestions.slice(0, max)) {
      out.push(
        `  component {${b.component.join(', ')}}: cut ${b.cuts.length} edge(s), total cost ${b.totalCost}`,
      );
      for (const c of b.cuts) out.push(`    - ${c.explanation}`);
      out.push(`    - or: ${b.supernode.explanation}`);
    }
    more(report.breakSuggestions.length);
  }
  if (report.repairTools.length > 0) {
    out.push('');
    out.push('Repair and monitoring tools at risk:');
    for (const f of report.repairTools.slice(0, max)) out.push(`  ${f.explanation}`);
    more(report.repairTools.length);
  }
  if (report.critical.length > 0) {
    out.push('');
    out.push('Most critical (dependents that fail if it is down):');
    for (const c of report.critical)
      out.push(`  ${c.service}: ${c.direct} direct, ${c.transitive} transitive`);
  }
  const dvo = report.declaredVsObserved;
  if (dvo.compared) {
    out.push('');
    out.push(`Observed but never declared (unapproved): ${dvo.unapproved.length}`);
    for (const e of dvo.unapproved.slice(0, max))
      out.push(`  ${e.from} → ${e.to} (${e.calls} calls${e.denied ? `, ${e.denied} denied` : ''})`);
    more(dvo.unapproved.length);
    out.push(`Declared but never observed (unused): ${dvo.unused.length}`);
    for (const e of dvo.unused.slice(0, max)) out.push(`  ${e.from} → ${e.to} (${e.kind})`);
    more(dvo.unused.length);
  }
  if (report.layering.checked) {
    out.push('');
    out.push(`Layering violations: ${report.layering.violations.length}`);
    for (const v of report.layering.violations.slice(0, max))
      out.push(`  [${v.severity}] ${v.message}`);
    more(report.layering.violations.length);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Documents skipped or used for something other than a node, and references left unresolved:
 * counted by action, then each named with its file, line, kind and why.
 */
export function diagnosticLines(diagnostics: readonly GraphDiagnostic[], max = 20): string[] {
  const out: string[] = [];
  const groups: [GraphDiagnostic['action'], string][] = [
    ['skipped', 'Documents skipped'],
    ['used', 'Documents used for entry points and external hosts'],
    ['unresolved', 'Not resolved'],
    ['hint', 'Hints'],
  ];
  for (const [action, title] of groups) {
    const list = diagnostics.filter((d) => d.action === action);
    if (list.length === 0) continue;
    out.push(`${title}: ${list.length}`);
    for (const d of list.slice(0, max)) {
      const where = d.line === undefined ? d.file : `${d.file}:${d.line}`;
      const what = d.kind === 'file' ? '' : ` ${d.kind} ${d.name}`;
      out.push(`  ${where}${what}: ${d.reason}`);
    }
    if (list.length > max) out.push(`  … and ${list.length - max} more`);
  }
  return out;
}
