/** The JSON report: graph, analysis and ingest stats. Also what `ward graph check` reads as a baseline. */
import type { AnalysisReport } from '../analysis/analyze.ts';
import type { DependencyGraph } from '../model.ts';
import type { IngestStats } from '../readers/ingest.ts';

/** Identifies the report format, so a reader can tell a Ward graph file. */
export const GRAPH_REPORT_VERSION = 'ward.dev/graph/v1';

export interface GraphReport {
  version: typeof GRAPH_REPORT_VERSION;
  graph: DependencyGraph;
  analysis: AnalysisReport;
  stats?: IngestStats;
}

export function toJsonReport(
  graph: DependencyGraph,
  analysis: AnalysisReport,
  stats?: IngestStats,
): string {
  const report: GraphReport = { version: GRAPH_REPORT_VERSION, graph, analysis };
  if (stats) report.stats = stats;
  return `${JSON.stringify(report, null, 2)}\n`;
}
