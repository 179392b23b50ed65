/**
 * `ward promote SERVICE [--force] [--window 1h] [-o text|json|yaml]`: switch a service's dry-run intentions to enforce.
 * The control plane refuses (409, exit 1) while the window shows calls they would deny.
 */
import type { PromoteAnswerV1 } from '@ward/api-types';
import type { Command } from 'commander';
import { addOutputOption, printResult } from '../options.ts';
import { type ConnectionOptions, call, withConnection } from './_api.ts';

export function register(program: Command): void {
  withConnection(
    addOutputOption(
      program
        .command('promote')
        .description(
          "switch a service's dry-run intentions to enforce (refused while dry-run denials remain)",
        )
        .argument('<service>', 'destination service')
        .option('--force', 'promote even though the window shows dry-run denials')
        .option('--window <window>', 'how far back to look for dry-run denials', '1h'),
    ),
  ).action(
    async (
      service: string,
      opts: ConnectionOptions & { force?: boolean; window: string; output: string },
    ) => {
      const r = await call<PromoteAnswerV1>(
        opts,
        'POST',
        `/v1/services/${encodeURIComponent(service)}/promote`,
        {
          force: opts.force === true,
          window: opts.window,
        },
      );
      if (opts.output !== 'text') {
        printResult(opts.output, r, () => '');
        return;
      }
      if (!r.changed) {
        process.stdout.write(
          `${service}: no intention in dry-run; nothing to promote (revision ${r.revision})\n`,
        );
        return;
      }
      const lines = [`${service}: enforcing ${r.promoted.join(', ')} at revision ${r.revision}`];
      if (r.forced) {
        const n = r.denials.reduce((s, d) => s + d.count, 0);
        lines.push(`forced: ${n} call(s) in the last ${opts.window} are now denied:`);
        for (const d of r.denials) lines.push(`  ${d.source} (${d.rule}): ${d.count}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    },
  );
}
