/** A plain-text report for terminals: summary first, then findings, each with its explanation. */
import type { AnalysisReport } from '../analysis/analyze.ts';
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
  report.bootOrder.waves.slice(0, max).forEach((w, i) => {
    out.push(
      `  wave ${i + 1}: ${w.slice(0, 12).join(', ')}${w.length > 12 ? `, … (${w.length})` : ''}`,
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
