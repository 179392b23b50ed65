/**
 * `ward propose [--since 1h] [--destination S] [--out DIR] [-o yaml|json|text]`: Intention
 * documents in dry-run for the observed edges no rule covers, from the control plane's
 * `GET /v1/propose`. YAML (the default) is a stream ready for `ward apply -f -`; `--out DIR`
 * writes one file per destination instead. The loop then goes on with `ward report dry-run` and
 * `ward promote` (docs/soft-apply.md).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ProposeResult, proposalsYaml } from '@ward/policy';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, printResult, usageError } from '../options.ts';
import {
  type ConnectionOptions,
  call,
  namespaceOption,
  resolveKey,
  table,
  withConnection,
} from './_api.ts';

type Opts = ConnectionOptions & {
  since: string;
  destination?: string;
  namespace?: string;
  out?: string;
  output: string;
};

/** Document names become file names: only what the policy language allows as a name. */
const FILE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function summary(r: ProposeResult, written: string[]): string {
  const lines: string[] = [];
  if (r.proposals.length === 0) {
    lines.push(`nothing to propose: every edge observed since ${r.since} is covered by a rule`);
  } else {
    const rows = [['DESTINATION', 'DOCUMENT', 'OWNER', 'SOURCES', 'PERMISSIONS', 'CALLS']];
    for (const p of r.proposals) {
      p.document.spec.rules.forEach((rule, i) => {
        const calls = p.rules[i]?.evidence.reduce((n, e) => n + e.calls, 0) ?? 0;
        rows.push([
          p.destination,
          p.document.metadata.name,
          p.owner ?? '-',
          rule.sources.join(','),
          rule.permissions ? String(rule.permissions.length) : 'whole edge',
          String(calls),
        ]);
      });
    }
    lines.push(table(rows).trimEnd());
  }
  for (const s of r.skipped) lines.push(`skipped ${s.source} -> ${s.destination}: ${s.reason}`);
  for (const f of written) lines.push(`wrote ${f}`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('propose')
        .description(
          'propose dry-run intentions for observed edges no rule covers (policy from traffic)',
        )
        .option('--since <window>', 'duration back from now (30m, 1h, 7d) or ISO time', '1h')
        .option('--destination <service>', 'only proposals for this destination')
        .addOption(namespaceOption('the namespace --destination is in'))
        .option('--out <dir>', 'write one YAML file per destination into this directory'),
      ['yaml', 'json', 'text'],
    ),
  ).action(async (opts: Opts) => {
    const q = new URLSearchParams({ since: opts.since });
    if (opts.namespace !== undefined && opts.destination === undefined)
      throw usageError('-n names the namespace of --destination: pass --destination too');
    if (opts.destination !== undefined)
      q.set('destination', resolveKey(opts.destination, opts.namespace, '--destination'));
    const r = await call<ProposeResult>(opts, 'GET', `/v1/propose?${q}`);
    const written: string[] = [];
    if (opts.out !== undefined) {
      const out = opts.out;
      // Every name and target checked before the first write, so a refusal writes nothing.
      const files = r.proposals.map((p) => {
        const name = p.document.metadata.name;
        const namespace = p.document.metadata.namespace ?? 'default';
        if (!FILE_NAME.test(name) || !FILE_NAME.test(namespace)) {
          throw new CliError('CLI_INPUT', `the control plane answered a bad document name`);
        }
        // Two namespaces may each have a proposal of one name: outside the default namespace
        // the file is `<namespace>__<name>.yaml` (a key's `/` never reaches a path).
        const file = join(
          out,
          namespace === 'default' ? `${name}.yaml` : `${namespace}__${name}.yaml`,
        );
        if (existsSync(file))
          throw new CliError('CLI_INPUT', `cannot write ${file}: it exists (not overwritten)`);
        return { p, file };
      });
      for (const { p, file } of files) {
        try {
          // `wx`: never overwrite a file a person may have edited (nor one made meanwhile).
          writeFileSync(file, proposalsYaml({ ...r, proposals: [p] }), { flag: 'wx' });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new CliError(
            'CLI_INPUT',
            `cannot write ${file}: ${code === 'EEXIST' ? 'it exists (not overwritten)' : code === 'ENOENT' ? 'no such directory' : code}`,
          );
        }
        written.push(file);
      }
      if (opts.output === 'yaml') {
        process.stdout.write(summary({ ...r, skipped: [] }, written));
        return;
      }
    }
    if (opts.output === 'yaml') {
      if (r.proposals.length === 0) {
        process.stderr.write(`ward propose: nothing to propose since ${r.since}\n`);
        return;
      }
      process.stdout.write(proposalsYaml(r));
      return;
    }
    printResult(opts.output, r, () => summary(r, written));
  });
}
