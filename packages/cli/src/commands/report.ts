/**
 * `ward report dry-run|unused|unapproved`: the soft-apply reports of the control plane (what
 * dry-run rules would deny, approved edges nobody uses, observed edges nobody approved). Text
 * tables by default, `-o json|yaml` for the API's data.
 */
import type { DryRunItemV1 as DryRunItem } from '@ward/api-types';
import type { Command } from 'commander';
import { addOutputOption, printResult } from '../options.ts';
import { type ConnectionOptions, call, table, withConnection } from './_api.ts';

interface UnusedItem {
  source: string;
  destination: string;
  rules: { rule: string; mode: string; wildcard: boolean }[];
  wildcard: boolean;
  lastSeen: string | null;
}
interface UnapprovedItem {
  source: string;
  destination: string;
  decisions: number;
  denied: number;
  traceCalls: number;
  firstSeen: string;
  lastSeen: string;
  seenIn: string[];
}
interface Report<T> {
  since: string;
  until: string;
  items: T[];
  dropped?: number;
}

type Opts = ConnectionOptions & { since?: string; service?: string; output: string };

/** `2026-01-02T03:04:05.678Z` → `2026-01-02 03:04:05Z`: tables stay narrow. */
const short = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : 'never');

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function register(program: Command): void {
  const report = program
    .command('report')
    .description('soft-apply reports: dry-run denials, unused and unapproved edges');

  withConnection(
    addOutputOption(
      report
        .command('dry-run')
        .description('every call that dry-run rules would have denied, by edge and rule')
        .option('--since <window>', 'duration back from now (30m, 1h, 7d) or ISO time', '1h')
        .option('--service <name>', 'only calls to this destination service'),
    ),
  ).action(async (opts: Opts) => {
    const r = await call<Report<DryRunItem>>(
      opts,
      'GET',
      `/v1/reports/dry-run${query({ since: opts.since, service: opts.service })}`,
    );
    printResult(opts.output, r, () => {
      if (r.items.length === 0) return `no dry-run denials since ${short(r.since)}\n`;
      const rows = [
        ['SOURCE', 'DESTINATION', 'RULE', 'CALLS', 'FIRST SEEN', 'LAST SEEN', 'SAMPLE'],
      ];
      for (const i of r.items) {
        const sample = i.samples[0] ? `${i.samples[0].method} ${i.samples[0].path}` : '';
        rows.push([
          i.source,
          i.destination,
          i.rule,
          String(i.count),
          short(i.firstSeen),
          short(i.lastSeen),
          sample,
        ]);
      }
      const total = r.items.reduce((n, i) => n + i.count, 0);
      const note = r.dropped
        ? `\nnote: shippers dropped ${r.dropped} record(s) in this window; counts may be low\n`
        : '';
      return `${table(rows)}\n${total} call(s) on ${r.items.length} edge/rule pair(s) would be denied once enforced (since ${short(r.since)})\n${note}`;
    });
  });

  withConnection(
    addOutputOption(
      report
        .command('unused')
        .description('approved edges (allow rules) that no traffic used: candidates to remove')
        .option('--since <window>', 'duration back from now or ISO time', '7d'),
    ),
  ).action(async (opts: Opts) => {
    const r = await call<Report<UnusedItem>>(
      opts,
      'GET',
      `/v1/reports/unused${query({ since: opts.since })}`,
    );
    printResult(opts.output, r, () => {
      if (r.items.length === 0) return `every approved edge was used since ${short(r.since)}\n`;
      const rows = [['SOURCE', 'DESTINATION', 'APPROVED BY', 'LAST SEEN']];
      for (const i of r.items) {
        const by = i.rules
          .map(
            (x) =>
              `${x.rule}${x.wildcard ? ' (wildcard)' : ''}${x.mode === 'dry-run' ? ' [dry-run]' : ''}`,
          )
          .join(', ');
        rows.push([i.source, i.destination, by, short(i.lastSeen)]);
      }
      return `${table(rows)}\n${r.items.length} approved edge(s) unused since ${short(r.since)}\n`;
    });
  });

  withConnection(
    addOutputOption(
      report
        .command('unapproved')
        .description('observed edges (decision logs, traces) that no allow rule approves')
        .option('--since <window>', 'duration back from now or ISO time', '30d'),
    ),
  ).action(async (opts: Opts) => {
    const r = await call<Report<UnapprovedItem>>(
      opts,
      'GET',
      `/v1/reports/unapproved${query({ since: opts.since })}`,
    );
    printResult(opts.output, r, () => {
      if (r.items.length === 0) return `no unapproved edges since ${short(r.since)}\n`;
      const rows = [
        ['SOURCE', 'DESTINATION', 'DECISIONS', 'DENIED', 'TRACE CALLS', 'LAST SEEN', 'SEEN IN'],
      ];
      for (const i of r.items) {
        rows.push([
          i.source,
          i.destination,
          String(i.decisions),
          String(i.denied),
          String(i.traceCalls),
          short(i.lastSeen),
          i.seenIn.join(', '),
        ]);
      }
      return `${table(rows)}\n${r.items.length} observed edge(s) with no allow rule since ${short(r.since)}\n`;
    });
  });
}
