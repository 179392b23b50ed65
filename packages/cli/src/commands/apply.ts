/**
 * `ward apply -f DIR|FILE|- [--dry-run] [--force] [-o text|json|yaml]`: send policy files to the control plane, all or
 * nothing. A document with `metadata.revision` (as `ward get -o yaml` writes it) is applied only
 * if it is still at that revision; `--force` overwrites regardless.
 */
import type { ApplyResult } from '@ward/server/client';
import type { Command } from 'commander';
import {
  addFileOption,
  addOutputOption,
  collectFiles,
  printResult,
  readText,
  usageError,
} from '../options.ts';
import { type ConnectionOptions, call, withConnection } from './_api.ts';

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** One line per document (unchanged ones only when `verbose`), each followed by its field diff. */
export function formatResultLines(result: ApplyResult, verbose: boolean): string[] {
  const lines: string[] = [];
  const verb = result.dryRun ? 'would be ' : '';
  for (const r of result.results) {
    if (r.action === 'unchanged' && !verbose) continue;
    const where = r.file ? `  (${r.file}${r.line ? `:${r.line}` : ''})` : '';
    lines.push(`${r.kind.toLowerCase()}/${r.name} ${verb}${r.action}${where}`);
    for (const d of r.diff ?? []) {
      if (d.op === 'add') lines.push(`    + ${d.path}: ${show(d.after)}`);
      else if (d.op === 'remove') lines.push(`    - ${d.path}: ${show(d.before)}`);
      else lines.push(`    ~ ${d.path}: ${show(d.before)} -> ${show(d.after)}`);
    }
  }
  return lines;
}

export function formatApply(result: ApplyResult, verbose: boolean): string {
  const lines = formatResultLines(result, verbose);
  const s = result.summary;
  const counts = `${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged`;
  if (result.dryRun)
    lines.push(`dry run: ${counts}; nothing was changed (revision ${result.revision})`);
  else if (result.changed) lines.push(`applied: ${counts}; now at revision ${result.revision}`);
  else lines.push(`nothing to change: ${counts} (revision ${result.revision})`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      addFileOption(
        program
          .command('apply')
          .description(
            'apply Service and Intention documents (YAML/JSON files or directories), all or nothing',
          ),
        'Service/Intention file or directory',
      )
        .option('--dry-run', 'show what would change, with a field diff, and change nothing')
        .option(
          '--force',
          'overwrite documents even if they changed since the metadata.revision in the files',
        )
        .option('-v, --verbose', 'also list unchanged documents'),
    ),
  ).action(
    async (
      opts: ConnectionOptions & {
        filename: string[];
        dryRun?: boolean;
        force?: boolean;
        verbose?: boolean;
        output: string;
      },
    ) => {
      const paths = collectFiles(opts.filename);
      if (paths.length === 0)
        throw usageError(
          `no .yaml, .yml or .json files under ${opts.filename.join(', ')}`,
          'CLI_NO_FILES',
        );
      const files = paths.map((name) => ({
        name: name === '-' ? '<stdin>' : name,
        content: readText(name),
      }));
      const result = await call<ApplyResult>(opts, 'POST', '/v1/apply', {
        files,
        dryRun: opts.dryRun ?? false,
        ...(opts.force ? { force: true } : {}),
      });
      printResult(opts.output, result, () => formatApply(result, opts.verbose ?? false));
    },
  );
}
