/**
 * `ward agent`: the node agent. Attests to the control plane with a one-time join token (or a
 * Kubernetes projected service-account token), then serves the SPIFFE Workload API to the
 * workloads of this node until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { parseServer, usageError } from '../options.ts';

interface AgentCliOptions {
  joinToken?: string;
  k8sTokenFile?: string;
  controlPlane?: string;
  socket: string;
  syncIntervalMs: string;
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
      const { startAgent, AgentError } = await import('@ward/agent');
      let agent: Awaited<ReturnType<typeof startAgent>>;
      try {
        agent = await startAgent({
          controlPlane,
          ...(joinToken ? { joinToken } : { k8sToken: k8sToken! }),
          socketPath: opts.socket,
          timing: { syncIntervalMs },
        });
      } catch (error) {
        if (error instanceof AgentError) throw new CliError(error.code, error.message);
        throw error;
      }
      process.stderr.write(
        `ward agent ${agent.spiffeId}: Workload API on unix://${agent.socketPath}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await agent.close();
    });
}
