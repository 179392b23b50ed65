/**
 * `ward apply -f DIR|FILE [--dry-run] [--force]`: send policy files to the control plane, all or
 * nothing. A document with `metadata.revision` (as `ward get -o yaml` writes it) is applied only
 * if it is still at that revision; `--force` overwrites regardless.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ApplyResult } from '@ward/server/client';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { type ConnectionOptions, call, withConnection } from './_api.ts';

const EXTENSIONS = /\.(ya?ml|json)$/i;

/** Files under the given paths: directories recursively (sorted), skipping dot-dirs and node_modules. */
export function collectFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.') && entry.name !== 'node_modules') walk(path);
      } else if (EXTENSIONS.test(entry.name)) out.push(path);
    }
  };
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new CliError('CLI_FILE_NOT_FOUND', `${p}: no such file or directory`);
    }
    if (isDir) walk(p);
    else out.push(p);
  }
  return out;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function formatApply(result: ApplyResult, verbose: boolean): string {
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
    program
      .command('apply')
      .description(
        'apply Service and Intention documents (YAML/JSON files or directories), all or nothing',
      )
      .requiredOption(
        '-f, --file <path>',
        'file or directory (repeatable)',
        (v: string, prev: string[]) => [...prev, v],
        [],
      )
      .option('--dry-run', 'show what would change, with a field diff, and change nothing')
      .option(
        '--force',
        'overwrite documents even if they changed since the metadata.revision in the files',
      )
      .option('-v, --verbose', 'also list unchanged documents')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(
    async (
      opts: ConnectionOptions & {
        file: string[];
        dryRun?: boolean;
        force?: boolean;
        verbose?: boolean;
        output: string;
      },
    ) => {
      const paths = collectFiles(opts.file);
      if (paths.length === 0)
        throw new CliError(
          'CLI_NO_FILES',
          `no .yaml, .yml or .json files under ${opts.file.join(', ')}`,
        );
      const files = paths.map((name) => ({ name, content: readFileSync(name, 'utf8') }));
      const result = await call<ApplyResult>(opts, 'POST', '/v1/apply', {
        files,
        dryRun: opts.dryRun ?? false,
        ...(opts.force ? { force: true } : {}),
      });
      process.stdout.write(
        opts.output === 'json'
          ? `${JSON.stringify(result, null, 2)}\n`
          : formatApply(result, opts.verbose ?? false),
      );
    },
  );
}
