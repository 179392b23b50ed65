/** `ward history [REVISION]`: who changed what, when; one revision with its field diffs. */
import type { HistoryDetail, HistoryEntry } from '@ward/server/client';
import type { Command } from 'commander';
import { addOutputOption, printResult, usageError } from '../options.ts';
import {
  type ConnectionOptions,
  call,
  namespaceOption,
  resolveKey,
  table,
  withConnection,
} from './_api.ts';

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('history')
        .description('revision history of the control plane (newest first)')
        .argument('[revision]', 'show one revision in detail')
        .option('--limit <n>', 'how many revisions', '20')
        .option('--service <name>', 'only revisions that changed this service (or namespace/name)')
        .addOption(namespaceOption('the namespace --service is in, or whose revisions to list')),
    ),
  ).action(
    async (
      revision: string | undefined,
      opts: ConnectionOptions & {
        limit: string;
        output: string;
        service?: string;
        namespace?: string;
      },
    ) => {
      if (revision !== undefined) {
        if (!/^[1-9][0-9]*$/.test(revision))
          throw usageError(
            `revision must be a positive integer, not "${revision}"`,
            'CLI_BAD_ARGUMENT',
          );
        const d = await call<HistoryDetail>(opts, 'GET', `/v1/history/${revision}`);
        if (opts.output !== 'text') {
          printResult(opts.output, d, () => '');
          return;
        }
        const lines = [
          `revision ${d.revision}  ${d.at}  by ${d.actor.name} (${d.actor.id})  ${d.operation}`,
        ];
        lines.push(`bundles changed: ${d.services.join(', ') || '(none)'}`);
        for (const c of d.changes) {
          lines.push(
            `${c.kind.toLowerCase()}/${c.name} ${c.action}${c.file ? `  (${c.file})` : ''}`,
          );
          for (const f of c.diff) {
            const fmt = (v: unknown) => JSON.stringify(v);
            lines.push(
              f.op === 'add'
                ? `    + ${f.path}: ${fmt(f.after)}`
                : f.op === 'remove'
                  ? `    - ${f.path}: ${fmt(f.before)}`
                  : `    ~ ${f.path}: ${fmt(f.before)} -> ${fmt(f.after)}`,
            );
          }
        }
        process.stdout.write(`${lines.join('\n')}\n`);
        return;
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw usageError('--limit must be 1..1000', 'CLI_BAD_OPTION');
      const q = new URLSearchParams({ limit: String(limit) });
      if (opts.service !== undefined) q.set('service', resolveKey(opts.service, opts.namespace));
      else if (opts.namespace !== undefined) {
        resolveKey('x', opts.namespace);
        q.set('namespace', opts.namespace);
      }
      const { items } = await call<{ items: HistoryEntry[] }>(opts, 'GET', `/v1/history?${q}`);
      if (opts.output !== 'text') {
        printResult(opts.output, items, () => '');
        return;
      }
      const rows = [['REVISION', 'AT', 'BY', 'OPERATION', 'CHANGES']];
      for (const e of items) {
        const counts = new Map<string, number>();
        for (const c of e.changes) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
        const summary =
          [...counts].map(([a, n]) => `${n} ${a}`).join(', ') ||
          (e.services.includes('*') ? 'all bundles' : '');
        rows.push([String(e.revision), e.at, e.actor.name, e.operation, summary]);
      }
      process.stdout.write(items.length ? table(rows) : 'no revisions yet\n');
    },
  );
}
