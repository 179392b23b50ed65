/**
 * Shared plumbing of the commands that talk to a control plane: `--server` / `WARD_SERVER`,
 * `--token` / `WARD_TOKEN`, and turning problem bodies into clear CLI errors.
 */
import { ApiError, apiRequest, type ClientOptions, DEFAULT_SERVER } from '@ward/server/client';
import { DEFAULT_NAMESPACE, isNamespace, parseServiceRef, serviceKey } from '@ward/spiffe';
import { type Command, Option } from 'commander';
import { CliError } from '../errors.ts';
import { parseServer, usageError } from '../options.ts';

export interface ConnectionOptions {
  server?: string;
  token?: string;
}

/** Adds `--server` and `--token` to a client command. */
export function withConnection(command: Command): Command {
  return command
    .option(
      '--server <url>',
      `control plane URL or HOST:PORT (env WARD_SERVER, default ${DEFAULT_SERVER})`,
    )
    .option('--token <token>', 'API token (env WARD_TOKEN)');
}

/** The control plane to talk to: `--server`, else WARD_SERVER, else the default; checked. */
export function serverUrl(opts: ConnectionOptions): string {
  if (opts.server !== undefined) return parseServer(opts.server, '--server');
  const env = process.env.WARD_SERVER;
  return env ? parseServer(env, 'WARD_SERVER') : DEFAULT_SERVER;
}

export function connection(opts: ConnectionOptions): ClientOptions {
  const server = serverUrl(opts);
  const token = opts.token ?? process.env.WARD_TOKEN;
  if (!token) {
    throw new CliError(
      'CLI_NO_TOKEN',
      'no API token: pass --token or set WARD_TOKEN (ward server prints the first admin token)',
    );
  }
  return { server, token };
}

/** Calls the API; a problem body becomes a CliError whose message lists every field at fault. */
export async function call<T>(
  opts: ConnectionOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  try {
    return await apiRequest<T>(connection(opts), method, path, body);
  } catch (error) {
    if (error instanceof ApiError)
      throw new CliError(error.problem?.code ?? 'CLI_API_ERROR', error.message);
    throw error;
  }
}

/** Left-aligned columns for tables. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`;
}

/** `-n, --namespace NS`, as kubectl: the namespace a NAME is in (default `default`). */
export function namespaceOption(what = 'the namespace NAME is in'): Option {
  return new Option('-n, --namespace <namespace>', `${what} (default: default)`);
}

/**
 * The service or document KEY a command names: `NAME` in `-n NS` (or the default namespace), or
 * `NS/NAME` written out (`-n` must then agree). `default/payments` is `payments`. A usage error
 * (exit 2) names the argument when either part is not a DNS label.
 */
export function resolveKey(name: string, namespace: string | undefined, what = 'NAME'): string {
  if (namespace !== undefined && !isNamespace(namespace)) {
    throw usageError(
      `-n ${JSON.stringify(namespace)}: a namespace is a DNS label (lower-case letters, digits, -)`,
      'CLI_BAD_OPTION',
    );
  }
  const ref = parseServiceRef(name, namespace ?? DEFAULT_NAMESPACE);
  if (ref === undefined) {
    throw usageError(
      `${what} ${JSON.stringify(name)}: expected a name or namespace/name (DNS labels)`,
      'CLI_BAD_ARGUMENT',
    );
  }
  if (namespace !== undefined && name.includes('/') && ref.namespace !== namespace) {
    throw usageError(
      `${what} ${JSON.stringify(name)} is in namespace ${ref.namespace}, but -n says ${namespace}`,
      'CLI_BAD_ARGUMENT',
    );
  }
  return serviceKey(ref.namespace, ref.name);
}

/**
 * A key as one URL path segment: the `/` of `namespace/name` travels percent-encoded
 * (`/v1/services/team-a%2Fpayments`). Every command builds paths with keys through this.
 */
export function keySegment(key: string): string {
  return encodeURIComponent(key);
}
