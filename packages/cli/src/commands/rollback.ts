/**
 * `ward rollback --to REVISION [--service NAME] [--yes] [-o text|json|yaml]`: return the stored
 * documents (all, or one service's) to their state at a past revision, as one ordinary, audited
 * apply. The diff comes first (a dry run); on a terminal the command then asks, elsewhere it
 * needs `--yes`. The rollback is sent with the revision the diff was computed at, so a change
 * made in between fails it (412) instead of being undone unseen.
 */
import { createInterface } from 'node:readline';
import type { ApplyResult } from '@ward/server/client';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, printResult, usageError } from '../options.ts';
import {
  type ConnectionOptions,
  call,
  namespaceOption,
  resolveKey,
  withConnection,
} from './_api.ts';
import { formatResultLines } from './apply.ts';

interface RollbackOptions extends ConnectionOptions {
  to: string;
  service?: string;
  namespace?: string;
  yes?: boolean;
  output: string;
}

/** `--to`: a revision number (1 or more). */
export function parseRevision(text: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > 2147483647)
    throw usageError(`--to ${JSON.stringify(text)}: expected a revision number (1 or more)`);
  return Number(text);
}

const counts = (r: ApplyResult) =>
  `${r.summary.created} created, ${r.summary.updated} updated, ${r.summary.deleted} deleted`;

/** The dry run as text: what would change, field by field. */
export function formatPlan(plan: ApplyResult, scope: string, to: number): string {
  return `${[
    `rollback of ${scope} to revision ${to} (the store is at revision ${plan.revision}):`,
    ...formatResultLines(plan, false),
    `would change: ${counts(plan)}`,
  ].join('\n')}\n`;
}

/**
 * Asks a yes/no question on `output`, reads one line of `input`: only `y` or `yes` (any case)
 * agrees; anything else, or the end of the input, declines.
 */
export function confirm(
  question: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<boolean> {
  const rl = createInterface({ input, output, terminal: false });
  return new Promise<boolean>((resolve) => {
    rl.once('close', () => resolve(false));
    rl.question(question, (answer) => {
      resolve(/^y(es)?$/i.test(answer.trim()));
      rl.close();
    });
  });
}

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('rollback')
        .description(
          'return the documents (all, or one service) to their state at a past revision, as one audited apply; shows the diff first',
        )
        .requiredOption(
          '--to <revision>',
          'the revision whose state is restored (see ward history)',
        )
        .option(
          '--service <name>',
          'only this Service and the Intentions whose destination it is (team tokens: required)',
        )
        .addOption(namespaceOption('the namespace --service is in'))
        .option('-y, --yes', 'roll back without asking (needed when stdin is not a terminal)'),
    ),
  ).action(async (opts: RollbackOptions) => {
    const to = parseRevision(opts.to);
    if (opts.namespace !== undefined && opts.service === undefined)
      throw usageError('-n names the namespace of --service: pass --service too', 'CLI_BAD_OPTION');
    const service =
      opts.service === undefined
        ? undefined
        : resolveKey(opts.service, opts.namespace, '--service');
    const scope = service === undefined ? 'all documents' : `service ${service}`;
    const body = { to, ...(service !== undefined ? { service } : {}) };
    const plan = await call<ApplyResult>(opts, 'POST', '/v1/rollback', { ...body, dryRun: true });
    if (plan.results.length === 0) {
      printResult(
        opts.output,
        plan,
        () =>
          `${scope}: already as at revision ${to}; nothing to roll back (revision ${plan.revision})\n`,
      );
      return;
    }
    const interactive = !opts.yes && process.stdin.isTTY === true;
    if (!opts.yes && !interactive) {
      printResult(opts.output, plan, () => formatPlan(plan, scope, to));
      throw new CliError(
        'CLI_CONFIRMATION_REQUIRED',
        'stdin is not a terminal: pass --yes to roll back (nothing was changed)',
      );
    }
    // The diff always comes first; with -o json|yaml it goes to stderr, so stdout holds one
    // document: the result.
    const shown = formatPlan(plan, scope, to);
    if (opts.output === 'text') process.stdout.write(shown);
    else if (interactive) process.stderr.write(shown);
    if (interactive) {
      const n = plan.results.length;
      const yes = await confirm(
        `roll back ${n} document(s) of ${scope} to revision ${to}? [y/N] `,
        process.stdin,
        process.stderr,
      );
      if (!yes) throw new CliError('CLI_CANCELLED', 'rollback cancelled; nothing was changed');
    }
    let done: ApplyResult;
    try {
      done = await call<ApplyResult>(opts, 'POST', '/v1/rollback', {
        ...body,
        expectedRevision: plan.revision,
      });
    } catch (error) {
      if (error instanceof CliError && error.code === 'API_PRECONDITION_FAILED') {
        throw new CliError(
          error.code,
          `${error.message}\nthe documents changed after the diff above was computed: run ward rollback again to review the new diff`,
        );
      }
      throw error;
    }
    printResult(opts.output, done, () =>
      done.changed
        ? `rolled back ${scope} to revision ${to}: ${counts(done)}; now at revision ${done.revision}\n`
        : `${scope}: nothing to change (revision ${done.revision})\n`,
    );
  });
}
