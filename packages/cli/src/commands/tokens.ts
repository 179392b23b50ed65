/** `ward tokens create|list|revoke`: API tokens (admin). A new token is printed once. */
import type { TokenInfo } from '@ward/server/client';
import { type Command, Option } from 'commander';
import { addOutputOption, collect, printResult, usageError } from '../options.ts';
import { type ConnectionOptions, call, table, withConnection } from './_api.ts';

export function register(program: Command): void {
  const tokens = program.command('tokens').description('manage control-plane API tokens (admin)');

  withConnection(
    addOutputOption(
      tokens
        .command('create')
        .description(
          "create a token: admin, team (owns services), pdp (one service's PDP), collector (forwards spans) or metrics (scrapes /metrics)",
        )
        .requiredOption('--name <name>', 'who or what holds it')
        .addOption(
          new Option('--scope <scope>', 'what the token may do')
            .choices(['admin', 'team', 'pdp', 'collector', 'metrics'])
            .makeOptionMandatory(),
        )
        .option(
          '--service <name>',
          'a service a team token owns (repeatable); for pdp, the one service it speaks for',
          collect,
          [],
        ),
    ),
  ).action(
    async (
      opts: ConnectionOptions & { name: string; scope: string; service: string[]; output: string },
    ) => {
      if (opts.scope === 'pdp' && opts.service.length !== 1) {
        throw usageError(
          '--scope pdp needs exactly one --service NAME: a pdp token reads only that service',
          'CLI_BAD_OPTION',
        );
      }
      const body = {
        name: opts.name,
        scope: opts.scope,
        ...(opts.service.length ? { services: opts.service } : {}),
      };
      const created = await call<TokenInfo & { token: string }>(opts, 'POST', '/v1/tokens', body);
      if (opts.output !== 'text') {
        printResult(opts.output, created, () => '');
        return;
      }
      process.stdout.write(
        `created ${created.scope} token ${created.id} "${created.name}"${created.services.length ? ` ${created.scope === 'pdp' ? 'for' : 'owning'} ${created.services.join(', ')}` : ''}\n` +
          `token (shown once; only its hash is stored):\n${created.token}\n`,
      );
    },
  );

  withConnection(
    addOutputOption(tokens.command('list').description('list tokens (never the secrets)')),
  ).action(async (opts: ConnectionOptions & { output: string }) => {
    const { items } = await call<{ items: TokenInfo[] }>(opts, 'GET', '/v1/tokens');
    if (opts.output !== 'text') {
      printResult(opts.output, items, () => '');
      return;
    }
    const rows = [['ID', 'NAME', 'SCOPE', 'SERVICES', 'CREATED', 'REVOKED']];
    for (const t of items)
      rows.push([
        t.id,
        t.name,
        t.scope,
        t.services.join(',') || '-',
        t.createdAt,
        t.revokedAt ?? '-',
      ]);
    process.stdout.write(table(rows));
  });

  withConnection(
    addOutputOption(tokens.command('revoke').description('revoke a token by id').argument('<id>')),
  ).action(async (id: string, opts: ConnectionOptions & { output: string }) => {
    const t = await call<TokenInfo>(opts, 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
    printResult(opts.output, t, () => `revoked ${t.id} "${t.name}" at ${t.revokedAt}\n`);
  });
}
