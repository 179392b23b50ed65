/**
 * `ward secret list|get|versions|put|rotate|rollback|delete|grant|leases|revoke-lease|rewrap`:
 * the control plane's secrets. Who may read a secret is its `Secret` document (`readers`),
 * reviewed and applied like any policy; `grant` edits that list through an ordinary apply,
 * guarded by the document's revision so a concurrent edit is refused, not lost.
 *
 * Values never reach the terminal unless asked for: `get` prints metadata, `get --reveal` the
 * value (an audited read). `put` never takes a value from the command line by default, where
 * it would land in shell history and in every process listing: it reads files or stdin, and
 * `--from-literal` is there for tests and throwaway values.
 */
import { readFileSync } from 'node:fs';
import type { LeaseInfoV1, SecretSummaryV1, SecretVersionInfoV1 } from '@ward/api-types';
import type { ApplyResult } from '@ward/server/client';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, collect, printResult, usageError } from '../options.ts';
import { writeRaw } from '../output.ts';
import {
  type ConnectionOptions,
  call,
  keySegment,
  namespaceOption,
  resolveKey,
  table,
  withConnection,
} from './_api.ts';
import { formatApply } from './apply.ts';

interface KeyOptions extends ConnectionOptions {
  namespace?: string;
  output: string;
}

/** The documents API resource of `Secret` documents (docs/api.md). */
export const SECRET_DOCUMENTS = 'secretpolicies';

const FIELD = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Splits `KEY=VALUE` (the value may hold `=`); a usage error names the flag. */
function pair(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  const key = at < 0 ? '' : text.slice(0, at);
  if (!FIELD.test(key))
    throw usageError(
      `${flag} ${JSON.stringify(text.slice(0, 80))}: expected FIELD=… with FIELD a letter or _ then letters, digits, _ . -`,
    );
  return [key, text.slice(at + 1)];
}

/** Reads standard input whole. */
function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (error) {
    throw new CliError('CLI_READ_FAILED', `cannot read stdin: ${(error as Error).message}`);
  }
}

/** The value's fields from `--from-file`, `--from-literal` and `--from-stdin`. */
export function collectData(opts: {
  fromFile: string[];
  fromLiteral: string[];
  fromStdin?: string | boolean;
}): Record<string, string> {
  const data: Record<string, string> = {};
  const add = (key: string, value: string, flag: string) => {
    if (Object.hasOwn(data, key)) throw usageError(`${flag}: field ${key} is given twice`);
    data[key] = value;
  };
  for (const f of opts.fromFile) {
    const [key, path] = pair(f, '--from-file');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new CliError(
        'CLI_READ_FAILED',
        `--from-file ${key}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    add(key, text, '--from-file');
  }
  for (const l of opts.fromLiteral) add(...pair(l, '--from-literal'), '--from-literal');
  if (opts.fromStdin !== undefined && opts.fromStdin !== false) {
    const key = opts.fromStdin === true ? 'value' : opts.fromStdin;
    if (!FIELD.test(key)) throw usageError(`--from-stdin ${JSON.stringify(key)}: not a field name`);
    // A trailing newline from `echo` or a here-doc is not part of the value.
    add(key, readStdin().replace(/\r?\n$/, ''), '--from-stdin');
  }
  if (Object.keys(data).length === 0)
    throw usageError(
      'no value: give --from-file FIELD=PATH, --from-stdin [FIELD] or --from-literal FIELD=VALUE',
    );
  return data;
}

const path = (key: string, rest = '') => `/v1/secrets/${keySegment(key)}${rest}`;

function summaryRows(items: readonly SecretSummaryV1[]): string {
  const rows = [
    [
      'SECRET',
      'OWNER',
      'TYPE',
      'READERS',
      'CURRENT',
      'VERSIONS',
      'UPDATED',
      'NEXT ROTATION',
      'LEASES',
    ],
  ];
  for (const s of items)
    rows.push([
      s.secret,
      s.owner ?? '-',
      s.type,
      s.readers.join(',') || '-',
      s.currentVersion === null ? '-' : String(s.currentVersion),
      String(s.versionCount),
      s.updatedAt ?? '-',
      s.nextRotationAt ?? '-',
      s.type === 'postgres' ? String(s.activeLeases) : '-',
    ]);
  return table(rows);
}

function versionRows(items: readonly SecretVersionInfoV1[]): string {
  const rows = [['VERSION', 'STATE', 'SOURCE', 'CREATED', 'BY', 'NOT BEFORE', 'NOT AFTER', 'KEK']];
  for (const v of items)
    rows.push([
      String(v.version),
      v.state,
      v.source,
      v.createdAt,
      v.createdBy,
      v.notBefore,
      v.notAfter ?? '-',
      v.kek,
    ]);
  return table(rows);
}

/** A revealed value as text: the bare value of a one-field `value` secret, else FIELD=VALUE lines. */
function valueText(data: Record<string, string>, field: string | undefined): string {
  if (field !== undefined) {
    if (!Object.hasOwn(data, field))
      throw new CliError(
        'CLI_NOT_FOUND',
        `the secret has no field ${field} (fields: ${Object.keys(data).join(', ')})`,
      );
    return data[field]!;
  }
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0] === 'value') return `${data.value}\n`;
  return keys.map((k) => `${k}=${data[k]}\n`).join('');
}

function parseVersion(text: string, flag: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(text) || Number(text) > 2147483647)
    throw usageError(`${flag} ${JSON.stringify(text)}: expected a version number (1 or more)`);
  return Number(text);
}

/** `ward secret NAME`-style subcommand with `-n`, `-o` and the connection flags. */
function keyed(parent: Command, name: string, description: string): Command {
  return withConnection(
    addOutputOption(
      parent
        .command(name)
        .description(description)
        .argument('<name>', 'secret NAME or NS/NAME')
        .addOption(namespaceOption()),
    ),
  );
}

export function register(program: Command): void {
  const secret = program
    .command('secret')
    .description('secrets in the control plane: values, versions, rotation, who may read them');

  withConnection(
    addOutputOption(
      secret
        .command('list')
        .description('list the secrets you own (never a value)')
        .addOption(namespaceOption('only secrets of this namespace')),
    ),
  ).action(async (opts: KeyOptions) => {
    let { items } = await call<{ items: SecretSummaryV1[] }>(opts, 'GET', '/v1/secrets');
    if (opts.namespace !== undefined) {
      const ns = opts.namespace;
      items = items.filter((s) =>
        ns === 'default' ? !s.secret.includes('/') : s.secret.startsWith(`${ns}/`),
      );
    }
    printResult(opts.output, items, () => summaryRows(items));
  });

  keyed(
    secret,
    'get',
    'show a secret: its settings and versions; --reveal prints the value (audited)',
  )
    .option('--reveal', 'print the value (an audited read)')
    .option('--version <n>', 'with --reveal: this version instead of the current one')
    .option('--field <field>', 'with --reveal: print this field only, as is')
    .action(
      async (
        name: string,
        opts: KeyOptions & { reveal?: boolean; version?: string; field?: string },
      ) => {
        const key = resolveKey(name, opts.namespace);
        if (!opts.reveal && (opts.version !== undefined || opts.field !== undefined))
          throw usageError('--version and --field go with --reveal');
        if (!opts.reveal) {
          const s = await call<SecretSummaryV1 & { versions: SecretVersionInfoV1[] }>(
            opts,
            'GET',
            path(key),
          );
          printResult(opts.output, s, () => `${summaryRows([s])}\n${versionRows(s.versions)}`);
          return;
        }
        const q =
          opts.version === undefined ? '' : `?version=${parseVersion(opts.version, '--version')}`;
        const v = await call<{ secret: string; version: number; data: Record<string, string> }>(
          opts,
          'GET',
          path(key, `/value${q}`),
        );
        if (opts.output !== 'text') {
          printResult(opts.output, v, () => '');
          return;
        }
        // Piped, the value goes out byte for byte (a filter would corrupt it on its way into a
        // file); on a terminal it passes the escape filter like all output, since whoever wrote
        // the value is not necessarily whoever reads it.
        const text = valueText(v.data, opts.field);
        if (process.stdout.isTTY) process.stdout.write(text);
        else writeRaw(process.stdout, valueText(v.data, opts.field));
      },
    );

  keyed(secret, 'versions', 'list the versions of a secret and their state (never a value)').action(
    async (name: string, opts: KeyOptions) => {
      const key = resolveKey(name, opts.namespace);
      const { items } = await call<{ items: SecretVersionInfoV1[] }>(
        opts,
        'GET',
        path(key, '/versions'),
      );
      printResult(opts.output, items, () => versionRows(items));
    },
  );

  keyed(secret, 'put', 'store a new version of a secret declared by a Secret document')
    .option('--from-file <field=path>', 'a field read from a file (repeatable)', collect, [])
    .option('--from-stdin [field]', 'a field read from stdin (default field: value)')
    .option(
      '--from-literal <field=value>',
      'a field given inline — visible in shell history and ps (repeatable)',
      collect,
      [],
    )
    .action(
      async (
        name: string,
        opts: KeyOptions & {
          fromFile: string[];
          fromLiteral: string[];
          fromStdin?: string | boolean;
        },
      ) => {
        const key = resolveKey(name, opts.namespace);
        const data = collectData(opts);
        const r = await call<{ secret: string; version: number; notBefore: number | string }>(
          opts,
          'PUT',
          path(key),
          { data },
        );
        printResult(
          opts.output,
          r,
          () =>
            `secret ${r.secret}: version ${r.version} stored (current from ${iso(r.notBefore)})\n`,
        );
      },
    );

  keyed(secret, 'rotate', 'generate a new version now (random and keypair secrets)').action(
    async (name: string, opts: KeyOptions) => {
      const key = resolveKey(name, opts.namespace);
      const r = await call<{ secret: string; version: number; notBefore: number | string }>(
        opts,
        'POST',
        path(key, '/rotate'),
      );
      printResult(
        opts.output,
        r,
        () =>
          `secret ${r.secret}: rotated to version ${r.version} (current from ${iso(r.notBefore)})\n`,
      );
    },
  );

  keyed(secret, 'rollback', "make an earlier version's value current again, as a new version")
    .requiredOption('--to-version <n>', 'the version whose value comes back')
    .action(async (name: string, opts: KeyOptions & { toVersion: string }) => {
      const key = resolveKey(name, opts.namespace);
      const version = parseVersion(opts.toVersion, '--to-version');
      const r = await call<{
        secret: string;
        version: number;
        from: number;
        notBefore: number | string;
      }>(opts, 'POST', path(key, '/rollback'), { version });
      printResult(
        opts.output,
        r,
        () =>
          `secret ${r.secret}: version ${r.version} has the value of version ${r.from} (current from ${iso(r.notBefore)})\n`,
      );
    });

  keyed(
    secret,
    'delete',
    'destroy every version of a secret and revoke its leases (the Secret document stays)',
  ).action(async (name: string, opts: KeyOptions) => {
    const key = resolveKey(name, opts.namespace);
    await call<unknown>(opts, 'DELETE', path(key));
    printResult(
      opts.output,
      { secret: key, deleted: true },
      () => `secret ${key}: every version destroyed\n`,
    );
  });

  keyed(
    secret,
    'grant',
    "let services read a secret (or --revoke): edits the Secret document's readers and applies it",
  )
    .argument('<services...>', "service NAME (in the secret's namespace) or NS/NAME")
    .option('--revoke', 'remove these services from the readers instead')
    .action(async (name: string, services: string[], opts: KeyOptions & { revoke?: boolean }) => {
      const key = resolveKey(name, opts.namespace);
      const result = await grant(opts, key, services, opts.revoke === true);
      printResult(opts.output, result, () => formatApply(result, false));
    });

  keyed(secret, 'leases', 'list the leases of a dynamic secret (never a credential)').action(
    async (name: string, opts: KeyOptions) => {
      const key = resolveKey(name, opts.namespace);
      const { items } = await call<{ items: LeaseInfoV1[] }>(opts, 'GET', path(key, '/leases'));
      const rows = [['LEASE', 'SERVICE', 'NODE', 'ROLE', 'CREATED', 'EXPIRES', 'REVOKED']];
      for (const l of items)
        rows.push([
          l.id,
          l.service,
          l.node,
          l.role,
          l.createdAt,
          l.expiresAt,
          l.revokedAt ? `${l.revokedAt} (${l.revokeReason ?? ''})` : '-',
        ]);
      printResult(opts.output, items, () => table(rows));
    },
  );

  withConnection(
    addOutputOption(
      secret
        .command('revoke-lease')
        .description('revoke a lease now: its login stops working')
        .argument('<id>'),
    ),
  ).action(async (id: string, opts: KeyOptions) => {
    await call<unknown>(opts, 'DELETE', `/v1/leases/${encodeURIComponent(id)}`);
    printResult(opts.output, { lease: id, revoked: true }, () => `lease ${id} revoked\n`);
  });

  withConnection(
    addOutputOption(
      secret
        .command('rewrap')
        .description('re-wrap every data key under the current key-encryption key (admin; online)'),
    ),
  ).action(async (opts: KeyOptions) => {
    const r = await call<{ rewrapped: number; kek: string }>(opts, 'POST', '/v1/secrets/rewrap');
    printResult(opts.output, r, () => `${r.rewrapped} data keys re-wrapped under ${r.kek}\n`);
  });
}

function iso(t: number | string): string {
  return typeof t === 'number' ? new Date(t).toISOString() : t;
}

/**
 * Adds or removes readers of the Secret document `key` and applies it, pinned to the revision it
 * was read at (`metadata.revision`): a concurrent change makes the apply fail with 412 rather
 * than be overwritten.
 */
async function grant(
  opts: KeyOptions,
  key: string,
  services: readonly string[],
  revoke: boolean,
): Promise<ApplyResult> {
  const stored = await call<{
    document: { metadata: Record<string, unknown>; spec: { readers?: string[] } };
    namespace: string;
    updatedRevision: number;
  }>(opts, 'GET', `/v1/${SECRET_DOCUMENTS}/${keySegment(key)}`);
  const doc = stored.document;
  const ns = stored.namespace;
  // Readers are written relative to the document's namespace, as in the file.
  const relative = (ref: string) => {
    const k = resolveKey(ref, ref.includes('/') ? undefined : ns, 'SERVICE');
    if (ns === 'default') return k;
    if (k.startsWith(`${ns}/`)) return k.slice(ns.length + 1);
    return k.includes('/') ? k : `default/${k}`;
  };
  const readers = new Set((doc.spec.readers ?? []).map(relative));
  for (const s of services.map(relative)) {
    if (revoke) readers.delete(s);
    else readers.add(s);
  }
  const updated = {
    ...doc,
    metadata: { ...doc.metadata, revision: stored.updatedRevision },
    spec: { ...doc.spec, readers: [...readers].sort() },
  };
  return call<ApplyResult>(opts, 'POST', '/v1/apply', {
    files: [{ name: `secret-grant:${key}`, content: JSON.stringify(updated) }],
    dryRun: false,
  });
}
