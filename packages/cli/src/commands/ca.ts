/**
 * `ward ca …`: the identity CA of the control plane (admin): join tokens for node agents,
 * registration entries (which workloads get which SPIFFE ID), the trust bundle, rotation.
 */
import { type Command, Option } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, collect, printResult, usageError } from '../options.ts';
import { type ConnectionOptions, call, serverUrl, table, withConnection } from './_api.ts';

interface Entry {
  id: string;
  spiffeId: string;
  node: string;
  selectors: string[];
  ttlSeconds: number;
  hint?: string;
}

function seconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`${flag} must be a whole number of seconds >= 1`, 'CLI_BAD_OPTION');
  return n;
}

export function register(program: Command): void {
  const ca = program
    .command('ca')
    .description('workload identity CA: join tokens, registration entries, trust bundle (admin)');

  const jt = ca.command('join-token').description('one-time tokens that let a node agent attest');
  withConnection(
    addOutputOption(
      jt
        .command('create')
        .description('create a join token for a node (shown once; single use)')
        .requiredOption(
          '--node <name>',
          'node name; the agent becomes spiffe://<td>/ward/agent/<name>',
        )
        .option('--ttl <seconds>', 'how long the token may be used', '600'),
    ),
  ).action(async (opts: ConnectionOptions & { node: string; ttl: string; output: string }) => {
    const created = await call<{
      token: string;
      node: string;
      spiffeId: string;
      expiresAt: number;
    }>(opts, 'POST', '/v1/ca/join-tokens', {
      node: opts.node,
      ttlSeconds: seconds(opts.ttl, '--ttl'),
    });
    if (opts.output !== 'text') {
      printResult(opts.output, created, () => '');
      return;
    }
    process.stdout.write(
      `join token for ${created.spiffeId}, valid until ${new Date(created.expiresAt).toISOString()} (single use):\n${created.token}\n` +
        `start the agent:  ward agent --join-token ${created.token} --control-plane <url>\n`,
    );
  });

  const entry = ca.command('entry').description('registration entries: selectors → SPIFFE ID');
  withConnection(
    addOutputOption(
      entry
        .command('create')
        .description('give the workloads on a node that match every selector a SPIFFE ID')
        .option('--spiffe-id <id>', 'e.g. spiffe://example.org/ns/shop/sa/orders')
        .option(
          '--service <key>',
          'instead of --spiffe-id: a service key (shop/orders), its ID spiffe://<td>/ns/shop/sa/orders',
        )
        .requiredOption('--node <name>', 'node whose agent serves it')
        .requiredOption(
          '--selector <sel>',
          'unix:uid:N, unix:gid:N, unix:path:/bin/x (repeatable)',
          collect,
          [],
        )
        .option('--ttl <seconds>', 'X.509-SVID lifetime (default 3600)')
        .option('--jwt-ttl <seconds>', 'JWT-SVID lifetime (default 300)')
        .option('--hint <text>', 'Workload API hint')
        .option('--dns <name>', 'extra DNS SAN (repeatable)', collect, []),
    ),
  ).action(
    async (
      opts: ConnectionOptions & {
        spiffeId?: string;
        service?: string;
        node: string;
        selector: string[];
        ttl?: string;
        jwtTtl?: string;
        hint?: string;
        dns: string[];
        output: string;
      },
    ) => {
      if ((opts.spiffeId === undefined) === (opts.service === undefined)) {
        throw usageError('give exactly one of --spiffe-id and --service');
      }
      const body = {
        ...(opts.spiffeId !== undefined ? { spiffeId: opts.spiffeId } : { service: opts.service }),
        node: opts.node,
        selectors: opts.selector,
        ...(opts.ttl ? { ttlSeconds: seconds(opts.ttl, '--ttl') } : {}),
        ...(opts.jwtTtl ? { jwtTtlSeconds: seconds(opts.jwtTtl, '--jwt-ttl') } : {}),
        ...(opts.hint ? { hint: opts.hint } : {}),
        ...(opts.dns.length ? { dnsNames: opts.dns } : {}),
      };
      const created = await call<Entry>(opts, 'POST', '/v1/ca/entries', body);
      printResult(
        opts.output,
        created,
        () =>
          `created entry ${created.id}: ${created.spiffeId} on ${created.node} for ${created.selectors.join(' + ')}\n`,
      );
    },
  );
  withConnection(
    addOutputOption(
      entry
        .command('list')
        .description('list registration entries')
        .option('--node <name>', 'only this node'),
    ),
  ).action(async (opts: ConnectionOptions & { node?: string; output: string }) => {
    const q = opts.node ? `?node=${encodeURIComponent(opts.node)}` : '';
    const { entries } = await call<{ entries: Entry[] }>(opts, 'GET', `/v1/ca/entries${q}`);
    if (opts.output !== 'text') {
      printResult(opts.output, entries, () => '');
      return;
    }
    const rows = [['ID', 'SPIFFE ID', 'NODE', 'SELECTORS', 'TTL']];
    for (const e of entries)
      rows.push([e.id, e.spiffeId, e.node, e.selectors.join(','), `${e.ttlSeconds}s`]);
    process.stdout.write(table(rows));
  });
  withConnection(
    addOutputOption(entry.command('delete').description('delete an entry').argument('<id>')),
  ).action(async (id: string, opts: ConnectionOptions & { output: string }) => {
    await call(opts, 'DELETE', `/v1/ca/entries/${encodeURIComponent(id)}`);
    printResult(opts.output, { deleted: id }, () => `deleted entry ${id}\n`);
  });

  ca.command('bundle')
    .description('print the trust bundle (root certificates, PEM); no token needed')
    .option('--server <url>', 'control plane URL or HOST:PORT (env WARD_SERVER)')
    .addOption(
      new Option('-o, --output <format>', 'pem (certificates) or spiffe (JWK Set)')
        .choices(['pem', 'spiffe'])
        .default('pem'),
    )
    .addOption(new Option('--spiffe', 'deprecated: use -o spiffe').hideHelp())
    .action(async (opts: { server?: string; spiffe?: boolean; output: string }) => {
      const server = serverUrl(opts);
      if (opts.spiffe) process.stderr.write('ward: --spiffe is deprecated; use -o spiffe\n');
      const spiffe = opts.spiffe === true || opts.output === 'spiffe';
      let res: Response;
      try {
        res = await fetch(`${server}/v1/trust-bundle${spiffe ? '?format=spiffe' : ''}`);
      } catch (cause) {
        throw new CliError(
          'CLI_UNREACHABLE',
          `cannot reach ${server}: ${(cause as Error).message}`,
        );
      }
      if (!res.ok)
        throw new CliError('CLI_API_ERROR', `${server}/v1/trust-bundle: HTTP ${res.status}`);
      process.stdout.write(await res.text());
    });

  const root = ca
    .command('root')
    .description('rotate the root in three steps: prepare, activate, retire');
  const steps: Record<string, string> = {
    prepare: 'add a new root to the trust bundle (it does not sign yet)',
    activate: 'make the prepared root sign (through a new intermediate)',
    retire: 'drop the old root once every SVID chained to it has expired',
  };
  for (const [step, description] of Object.entries(steps)) {
    withConnection(addOutputOption(root.command(step).description(description))).action(
      async (opts: ConnectionOptions & { output: string }) => {
        const r = await call<{ roots?: string[]; serial?: string }>(
          opts,
          'POST',
          `/v1/ca/root/${step}`,
          {},
        );
        printResult(opts.output, r, () =>
          r.roots
            ? `roots in the trust bundle: ${r.roots.join(', ')}\n`
            : `new intermediate ${r.serial} under the new root\n`,
        );
      },
    );
  }

  withConnection(
    addOutputOption(
      ca
        .command('rotate')
        .description(
          'rotate the signing intermediate now (live SVIDs stay valid until they expire)',
        )
        .option('--jwt', 'rotate the JWT-SVID signing key too'),
    ),
  ).action(async (opts: ConnectionOptions & { jwt?: boolean; output: string }) => {
    const r = await call<{
      intermediate: { serial: string; notAfter: number };
      jwt?: { kid: string };
    }>(opts, 'POST', '/v1/ca/rotate', { jwt: opts.jwt === true });
    printResult(
      opts.output,
      r,
      () =>
        `new intermediate ${r.intermediate.serial}, valid until ${new Date(r.intermediate.notAfter).toISOString()}${r.jwt ? `; new JWT key ${r.jwt.kid}` : ''}\n`,
    );
  });
}
