/**
 * `ward agent`: the node agent. Attests to the control plane with a one-time join token (or a
 * Kubernetes projected service-account token), then serves the SPIFFE Workload API to the
 * workloads of this node until SIGTERM/SIGINT. With `--wire-interval` it also samples the node's
 * TCP connections and ships them to the control plane as observed edges.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { parseServer, readKey, usageError } from '../options.ts';

interface AgentCliOptions {
  joinToken?: string;
  k8sTokenFile?: string;
  controlPlane?: string;
  socket: string;
  syncIntervalMs: string;
  wireInterval?: string;
  wireAddressMap?: string;
  secretTemplates?: string;
  publicKey?: string;
  decide: boolean;
  decideListen?: string;
  extAuthzListen?: string;
}

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: attest, then serve the SPIFFE Workload API on a Unix socket')
    .option(
      '--join-token <token>',
      'one-time join token (env WARD_JOIN_TOKEN; `ward ca join-token create`)',
    )
    .option(
      '--k8s-token-file <file>',
      'projected service-account token file (Kubernetes attestation)',
    )
    .option('--control-plane <url>', 'control plane URL or HOST:PORT (env WARD_SERVER)')
    .option(
      '--socket <path>',
      'Workload API socket; workloads set SPIFFE_ENDPOINT_SOCKET=unix://<path>',
      '/tmp/ward-agent.sock',
    )
    .option('--sync-interval-ms <ms>', 'how often registration entries are re-synced', '5000')
    .option(
      '--wire-interval <seconds>',
      "sample the node's TCP connections every N seconds and ship them as observed edges (off unless given)",
    )
    .option(
      '--wire-address-map <file>',
      'JSON {"ip[:port]": "service"} naming remote addresses that are not workloads of this node',
    )
    .option(
      '--secret-templates <file>',
      'YAML/JSON file of secret templates: secrets rendered to tmpfs files (mode 0600), with a reload command or signal on change (docs/secrets.md)',
    )
    .option(
      '--public-key <key>',
      'bundle verification key: PEM/base64 text or @file (env WARD_BUNDLE_PUBLIC_KEY); turns on the local decision API (docs/decide-api.md)',
    )
    .option('--no-decide', 'no local decision API, even with --public-key')
    .option(
      '--decide-listen <host:port>',
      'also serve the decision API on this loopback address; callers send a JWT-SVID (audience ward-decide)',
    )
    .option(
      '--ext-authz-listen <host:port>',
      "also serve Envoy ext_authz on TCP (mTLS: a proxy presents its workload's SVID), e.g. for Istio's CUSTOM provider (docs/envoy.md)",
    )
    .action(async (opts: AgentCliOptions) => {
      const joinToken = opts.joinToken ?? process.env.WARD_JOIN_TOKEN;
      let k8sToken: string | undefined;
      if (opts.k8sTokenFile) {
        try {
          k8sToken = readFileSync(opts.k8sTokenFile, 'utf8').trim();
        } catch (cause) {
          throw usageError(
            `--k8s-token-file: cannot read ${opts.k8sTokenFile}: ${(cause as Error).message}`,
            'CLI_BAD_OPTION',
          );
        }
      }
      if (!joinToken === !k8sToken) {
        throw usageError(
          'give exactly one of --join-token (or WARD_JOIN_TOKEN) and --k8s-token-file',
          'CLI_BAD_OPTION',
        );
      }
      const controlPlane =
        opts.controlPlane !== undefined
          ? parseServer(opts.controlPlane, '--control-plane')
          : process.env.WARD_SERVER
            ? parseServer(process.env.WARD_SERVER, 'WARD_SERVER')
            : undefined;
      if (!controlPlane)
        throw usageError('--control-plane <url> (or WARD_SERVER) is required', 'CLI_BAD_OPTION');
      const syncIntervalMs = Number(opts.syncIntervalMs);
      if (!Number.isInteger(syncIntervalMs) || syncIntervalMs < 100) {
        throw usageError('--sync-interval-ms must be an integer >= 100', 'CLI_BAD_OPTION');
      }
      const decide = decideOptions(opts);
      const { startAgent, AgentError, parseAddressMap, parseSecretTemplates } = await import(
        '@ward/agent'
      );
      let agent: Awaited<ReturnType<typeof startAgent>>;
      try {
        const wire = wireOptions(opts, parseAddressMap);
        const secretTemplates =
          opts.secretTemplates === undefined
            ? undefined
            : parseSecretTemplates(readTemplates(opts.secretTemplates), opts.secretTemplates);
        agent = await startAgent({
          controlPlane,
          ...(joinToken ? { joinToken } : { k8sToken: k8sToken! }),
          socketPath: opts.socket,
          timing: { syncIntervalMs },
          ...(wire ? { wire } : {}),
          ...(secretTemplates ? { secretTemplates } : {}),
          ...(decide ? { decide } : {}),
        });
      } catch (error) {
        if (error instanceof AgentError) throw new CliError(error.code, error.message);
        throw error;
      }
      process.stderr.write(
        `ward agent ${agent.spiffeId}: Workload API on unix://${agent.socketPath}${agent.pdps ? ' (and POST /v1/decide)' : ''}\n`,
      );
      if (agent.decideAddress) {
        const { host, port } = agent.decideAddress;
        process.stderr.write(
          `ward agent: decision API on http://${host.includes(':') ? `[${host}]` : host}:${port}\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await agent.close();
    });
}

/**
 * The decision API is on whenever the agent has the bundle key (its PDPs verify every bundle
 * with it), unless `--no-decide`.
 */
function decideOptions(
  opts: AgentCliOptions,
): { publicKey: string; listen?: string; extAuthzListen?: string } | undefined {
  const key = opts.publicKey ?? process.env.WARD_BUNDLE_PUBLIC_KEY;
  if (!opts.decide || key === undefined) {
    for (const [flag, value] of [
      ['--decide-listen', opts.decideListen],
      ['--ext-authz-listen', opts.extAuthzListen],
    ] as const) {
      if (value === undefined) continue;
      throw usageError(
        opts.decide
          ? `${flag} needs --public-key (or WARD_BUNDLE_PUBLIC_KEY): the local PDPs verify bundles with it`
          : `${flag} and --no-decide contradict each other`,
        'CLI_BAD_OPTION',
      );
    }
    return undefined;
  }
  return {
    publicKey: readKey(key),
    ...(opts.decideListen === undefined ? {} : { listen: opts.decideListen }),
    ...(opts.extAuthzListen === undefined ? {} : { extAuthzListen: opts.extAuthzListen }),
  };
}

function readTemplates(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw usageError(
      `--secret-templates: cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`,
      'CLI_BAD_OPTION',
    );
  }
}

/** `--wire-*` options to the agent's wire sampling options (undefined: off). */
function wireOptions(
  opts: AgentCliOptions,
  parseAddressMap: (text: string, file: string) => Record<string, string>,
): { intervalMs: number; addressMap?: Record<string, string> } | undefined {
  if (opts.wireInterval === undefined) {
    if (opts.wireAddressMap !== undefined) {
      throw new CliError('CLI_BAD_OPTION', '--wire-address-map needs --wire-interval', 2);
    }
    return undefined;
  }
  const seconds = Number(opts.wireInterval);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {
    throw new CliError(
      'CLI_BAD_OPTION',
      '--wire-interval must be a number of seconds from 1 to 3600',
      2,
    );
  }
  if (opts.wireAddressMap === undefined) return { intervalMs: seconds * 1000 };
  let text: string;
  try {
    text = readFileSync(opts.wireAddressMap, 'utf8');
  } catch (cause) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `--wire-address-map: cannot read ${opts.wireAddressMap}: ${(cause as Error).message}`,
    );
  }
  return { intervalMs: seconds * 1000, addressMap: parseAddressMap(text, opts.wireAddressMap) };
}
