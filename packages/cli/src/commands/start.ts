/**
 * `ward start` (what `npm start` runs): the demo. A control plane on its embedded default plus a
 * small mesh of real services on the Ward SDK, a traffic loop, and one new rule in dry-run; it
 * prints the URLs, the admin token and the `ward report` / `ward promote` commands that show the
 * soft-apply workflow. `ward server` is the plain control plane.
 */
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, usageError } from '../options.ts';
import { trustedOutput } from '../output.ts';

interface StartOptions {
  port: string;
  dataDir: string;
  duration?: string;
  rps: string;
  devIdentity?: boolean;
  postgres?: string;
  output: string;
}

export function register(program: Command): void {
  const start = program
    .command('start')
    .description(
      'run the demo: a control plane, a mesh of services on the Ward SDK, traffic, and a dry-run rule to report on',
    )
    .option('--port <port>', 'control-plane port (0: any free port)', '8181')
    .option(
      '--data-dir <dir>',
      'SQLite database, keys, the demo tokens (reused across runs)',
      '.ward/demo',
    )
    .option('--duration <time>', 'stop by itself after this long (e.g. 20s, 2m)')
    .option('--rps <n>', 'end-user requests per second at the frontend', '8')
    .option('--dev-identity', 'use the development identity header instead of mTLS')
    .option(
      '--postgres <url>',
      'a PostgreSQL database (postgres://…, a role with CREATEROLE; env WARD_DEMO_POSTGRES): inventory gets its login from Ward as a leased role',
    )
    .addHelpText(
      'after',
      '\n-o json prints one JSON line first: {controlPlane, controlPlaneMetrics, adminToken, adminTokenFile, services (each with its metrics URL), identity, python}; the human output then goes to stderr.',
    );
  addOutputOption(start, ['text', 'json']).action(async (opts: StartOptions) => {
    const { runDemo, parseDuration, DemoError } = await import('@ward/demo');
    const port = Number(opts.port);
    if (!/^\d{1,5}$/.test(opts.port) || port > 65535) {
      throw usageError(`--port must be 0-65535, got "${opts.port}"`, 'CLI_BAD_OPTION');
    }
    const rps = Number(opts.rps);
    if (!Number.isFinite(rps) || rps <= 0 || rps > 1000) {
      throw usageError(`--rps must be a number in (0, 1000], got "${opts.rps}"`, 'CLI_BAD_OPTION');
    }
    let durationMs: number | undefined;
    if (opts.duration !== undefined) {
      durationMs = parseDuration(opts.duration);
      if (durationMs === undefined) {
        throw usageError(
          `--duration must be like 500ms, 20s, 2m or 1h, got "${opts.duration}"`,
          'CLI_BAD_OPTION',
        );
      }
    }
    const postgresUrl = opts.postgres ?? process.env.WARD_DEMO_POSTGRES;
    if (postgresUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/.test(postgresUrl)) {
      throw usageError(
        `--postgres must be a postgres:// URL${opts.postgres === undefined ? ' (from WARD_DEMO_POSTGRES)' : ''}`,
        'CLI_BAD_OPTION',
      );
    }
    let demo: Awaited<ReturnType<typeof runDemo>>;
    const out = process.stdout;
    try {
      demo = await runDemo({
        port,
        dataDir: opts.dataDir,
        rps,
        ...(durationMs !== undefined ? { durationMs } : {}),
        devIdentity: opts.devIdentity ?? false,
        ...(postgresUrl ? { postgresUrl } : {}),
        // With -o json the first stdout line is the JSON; the human output follows on stderr.
        // The demo's own colored banner and status line (fixed demo services only).
        out: trustedOutput(opts.output === 'json' ? process.stderr : out),
      });
    } catch (error) {
      if (error instanceof DemoError) throw new CliError(error.code, error.message);
      throw error;
    }
    if (opts.output === 'json') out.write(`${JSON.stringify(demo.info)}\n`);
    const onSignal = () => void demo.stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await demo.done;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
}
