/** `ward tokens create|list|revoke`: API tokens (admin). A new token is printed once. */
import type { TokenInfo } from '@ward/server/client';
import { type Command, Option } from 'commander';
import { addOutputOption, collect, printResult, usageError } from '../options.ts';
import { type ConnectionOptions, call, resolveKey, table, withConnection } from './_api.ts';

/** What a token owns, for one line: its services, and its namespaces as `ns/*`. */
function owned(t: TokenInfo): string {
  return [...t.services, ...(t.namespaces ?? []).map((n) => `${n}/*`)].join(', ');
}

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
          'a service a team token owns, name or namespace/name (repeatable); for pdp, the one service it speaks for',
          collect,
          [],
        )
        .option(
          '--namespace <namespace>',
          'a namespace a team token owns whole: every service in it, present and future (repeatable)',
          collect,
          [],
        ),
    ),
  ).action(
    async (
      opts: ConnectionOptions & {
        name: string;
        scope: string;
        service: string[];
        namespace: string[];
        output: string;
      },
    ) => {
      // Elsewhere `-n/--namespace` says which namespace a name is in; here it grants a whole
      // namespace. A bare --service beside it is ambiguous (was `team-a/payments` meant?), so it
      // must be written namespace/name (`default/payments` for the default namespace).
      const bare = opts.service.find((s) => !s.includes('/'));
      if (opts.namespace.length > 0 && bare !== undefined) {
        throw usageError(
          `--service "${bare}" beside --namespace is ambiguous: --namespace grants a whole namespace and does not place --service; write it as namespace/name (default/${bare} for the default namespace)`,
          'CLI_BAD_OPTION',
        );
      }
      const services = opts.service.map((s) => resolveKey(s, undefined, '--service'));
      for (const ns of opts.namespace) resolveKey('x', ns);
      if (opts.namespace.length > 0 && opts.scope !== 'team') {
        throw usageError(
          '--namespace is for --scope team: only a team token owns whole namespaces',
          'CLI_BAD_OPTION',
        );
      }
      if (opts.scope === 'pdp' && opts.service.length !== 1) {
        throw usageError(
          '--scope pdp needs exactly one --service NAME: a pdp token reads only that service',
          'CLI_BAD_OPTION',
        );
      }
      const body = {
        name: opts.name,
        scope: opts.scope,
        ...(services.length ? { services } : {}),
        ...(opts.namespace.length ? { namespaces: opts.namespace } : {}),
      };
      const created = await call<TokenInfo & { token: string }>(opts, 'POST', '/v1/tokens', body);
      if (opts.output !== 'text') {
        printResult(opts.output, created, () => '');
        return;
      }
      process.stdout.write(
        `created ${created.scope} token ${created.id} "${created.name}"${owned(created) ? ` ${created.scope === 'pdp' ? 'for' : 'owning'} ${owned(created)}` : ''}\n` +
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
    const rows = [['ID', 'NAME', 'SCOPE', 'SERVICES', 'NAMESPACES', 'CREATED', 'REVOKED']];
    for (const t of items)
      rows.push([
        t.id,
        t.name,
        t.scope,
        t.services.join(',') || '-',
        (t.namespaces ?? []).join(',') || '-',
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
