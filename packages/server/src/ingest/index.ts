/**
 * Control-plane ingest: decision logs, OTLP traces, the dependency graph, the soft-apply reports
 * and promote, as one Ward plugin.
 */

export type { ApprovingRule } from './approvals.ts';
export { type IngestPluginOptions, ingestPlugin } from './plugin.ts';
export type { PromoteResult } from './promote.ts';
export type { DryRunItem, DryRunReport, UnapprovedItem, UnusedItem } from './reports.ts';
