/**
 * Control-plane ingest: decision logs, OTLP traces, the dependency graph, the soft-apply reports
 * and promote, as one Ward plugin.
 */

export type {
  DryRunItemV1 as DryRunItem,
  PromoteAnswerV1 as PromoteResult,
} from '@ward/api-types';
export type { ApprovingRule } from './approvals.ts';
export { type IngestPluginOptions, ingestPlugin } from './plugin.ts';
export type { DryRunReport, UnapprovedItem, UnusedItem } from './reports.ts';
