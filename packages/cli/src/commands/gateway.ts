/**
 * `ward gateway`: runs the edge (@ward/gateway) for one gateway service key. Its PDP fetches the
 * key's bundle (Gateway + Route documents, passport signing key, edge intentions) from the
 * control plane or the node agent; every new bundle reconfigures the gateway without a restart.
 * Runs until SIGTERM/SIGINT, then drains in-flight requests.
 */
import { readFileSync } from 'node:fs';
import { canonicalServiceKey } from '@ward/spiffe';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import {
  addOutputOption,
  collect,
  parseServer,
  readKey,
  untilStopSignal,
  usageError,
} from '../options.ts';
import { parseListen } from './server.ts';

interface GatewayCliOptions {
  service: string;
  listen: string;
  server?: string[];
  token?: string;
  agentSocket?: string;
  publicKey?: string;
  redis?: string;
  tlsCert?: string;
  tlsKey?: string;
  maxConnections: string;
  cacheDir?: string;
  output: string;
}

export function register(program: Command): void {
  const command = program
    .command('gateway')
    .description(
      'run the edge gateway of a service key: OIDC/API keys in, passports out, edge policy, rate limits, mTLS upstreams',
    )
    .requiredOption('--service <key>', "the gateway's service key (its Gateway document's key)")
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option(
      '--server <url>',
      'control plane URL or HOST:PORT (repeatable for failover; env WARD_SERVER)',
      collect,
    )
    .option('--token <token>', 'pdp-scoped token of the gateway service (env WARD_TOKEN)')
    .option('--agent-socket <path>', "the node agent's socket (instead of --server and --token)")
    .option(
      '--public-key <key>',
      'bundle verification key: PEM/base64 text or @file (env WARD_BUNDLE_PUBLIC_KEY)',
    )
    .option(
      '--cache-dir <dir>',
      'keep the last good bundle here (decides before the control plane answers)',
    )
    .option('--redis <url>', 'share rate limits through Redis (default: in memory, per replica)')
    .option('--tls-cert <file>', 'listener certificate (PEM); with --tls-key')
    .option('--tls-key <file>', 'listener private key (PEM)')
    .option(
      '--max-connections <n>',
      'connections served at once; more are closed on accept',
      String(DEFAULT_MAX_CONNECTIONS),
    );
  addOutputOption(command, ['text', 'json']).action(async (opts: GatewayCliOptions) => {
    const service = canonicalServiceKey(opts.service);
    if (service === undefined || service !== opts.service) {
      throw usageError(
        `--service must be a service key (name or namespace/name), got "${opts.service}"`,
        'CLI_BAD_OPTION',
      );
    }
    const listen = parseListen(opts.listen);
    const publicKey = readKey(opts.publicKey ?? process.env.WARD_BUNDLE_PUBLIC_KEY);
    if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
      throw usageError('--tls-cert and --tls-key go together', 'CLI_BAD_OPTION');
    }
    // Read now, like the bundle key: a missing file is a usage error before anything starts.
    const tls =
      opts.tlsCert !== undefined && opts.tlsKey !== undefined
        ? { cert: readFile(opts.tlsCert, '--tls-cert'), key: readFile(opts.tlsKey, '--tls-key') }
        : undefined;
    const maxConnections = Number(opts.maxConnections);
    if (
      !/^[0-9]+$/.test(opts.maxConnections) ||
      !Number.isSafeInteger(maxConnections) ||
      maxConnections < 1
    ) {
      throw usageError(
        `--max-connections must be a positive integer, got "${opts.maxConnections}"`,
        'CLI_BAD_OPTION',
      );
    }
    const source = pdpSource(opts);
    if (opts.redis !== undefined && !/^rediss?:\/\//.test(opts.redis)) {
      throw usageError('--redis must be a redis:// or rediss:// URL', 'CLI_BAD_OPTION');
    }
    const [
      { createClientUpstream, createGateway, memoryRateLimiter, redisRateLimiter },
      { createDecisionLogShipper, createPdp, workloadIdentity },
      { pino },
    ] = await Promise.all([import('@ward/gateway'), import('@ward/sdk'), import('pino')]);
    const logger = pino({ level: process.env.WARD_LOG_LEVEL ?? 'info' }, process.stderr);
    const pdp = createPdp({
      service,
      publicKey,
      logger,
      ...source,
      ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    });
    // mTLS to https upstreams with the gateway's own SVID, from the node agent's Workload API
    // (the --agent-socket one, else SPIFFE_ENDPOINT_SOCKET's); without one, http upstreams only.
    // No egress guard: the gateway's token reads its own bundle, not the upstreams' intentions,
    // so each upstream decides on the gateway's mTLS identity and passport with its own PDP.
    let identity: Awaited<ReturnType<typeof workloadIdentity>> | undefined;
    try {
      if (opts.agentSocket !== undefined) {
        identity = await workloadIdentity({ socketPath: opts.agentSocket });
      } else if (process.env.SPIFFE_ENDPOINT_SOCKET) identity = await workloadIdentity();
    } catch (error) {
      await pdp.close();
      throw error;
    }
    const upstream = createClientUpstream({
      self: service,
      ...(identity === undefined ? {} : { identity }),
      logger,
    });
    // No failureMode here: the gateway applies its Gateway document's (hot-reloaded) one.
    let rateLimiter: ReturnType<typeof memoryRateLimiter>;
    if (opts.redis === undefined) {
      rateLimiter = memoryRateLimiter();
    } else {
      const shared = redisRateLimiter({
        url: opts.redis,
        onUnavailable: (error) =>
          logger.warn({ error: error.message }, 'rate-limit store unavailable'),
      });
      rateLimiter = shared;
      // Connected before serving, so the first requests are not answered by failureMode. Not
      // fatal: the store may come later, and failureMode decides until it does.
      if (!(await shared.ready(REDIS_READY_MS))) {
        logger.warn(
          { waitedMs: REDIS_READY_MS },
          'rate-limit store not reachable yet; serving, spec.rateLimit.failureMode decides until it is',
        );
      }
    }
    // Edge decisions go to the control plane like every service's (soft-apply reports, `ward
    // logs`, the console), with the gateway's pdp token.
    const shipper =
      'token' in source
        ? createDecisionLogShipper({
            controlPlanes: source.controlPlanes,
            token: source.token,
            onError: (error) =>
              logger.warn({ error: error.message.slice(0, 200) }, 'decision logs not shipped'),
          })
        : undefined;
    if (shipper === undefined) {
      // The agent socket serves bundles but takes no decision logs (yet): say so, since soft-apply
      // reports, `ward logs` and the console will not show this gateway's edge decisions.
      logger.warn(
        { agentSocket: opts.agentSocket },
        'edge decisions are not shipped with --agent-socket (use --server and --token to ship them)',
      );
    }
    let gateway: Awaited<ReturnType<typeof createGateway>>;
    try {
      gateway = await createGateway({
        pdp, // the authenticator is built from its Gateway document (OIDC issuers, API keys)
        ...(shipper ? { decisionLog: shipper } : {}),
        rateLimiter,
        upstream,
        logger,
        listen: { ...listen, ...(tls === undefined ? {} : { tls }) },
        maxConnections,
      });
    } catch (error) {
      await pdp.close();
      await upstream.close();
      await rateLimiter.close();
      await shipper?.close();
      identity?.close();
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new CliError(
          'CLI_ADDRESS_IN_USE',
          `${opts.listen} is already in use; pick another with --listen`,
        );
      }
      throw error;
    }
    const stopped = untilStopSignal();
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({ url: gateway.url, service })}\n`);
    } else {
      process.stdout.write(`Ward gateway ${service} listening on ${gateway.url}\n`);
    }
    await stopped;
    await gateway.close();
    await Promise.all([pdp.close(), upstream.close(), rateLimiter.close(), shipper?.close()]);
    identity?.close();
  });
}

const DEFAULT_MAX_CONNECTIONS = 10_000;
/** How long `--redis` may take to connect before the gateway serves anyway. */
const REDIS_READY_MS = 5000;

/** A file given by `flag`, read at start: unreadable is a usage error. */
function readFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw usageError(`${flag}: cannot read ${file}: ${(cause as Error).message}`, 'CLI_INPUT');
  }
}

/** Where the PDP gets bundles: the node agent, or control planes with a pdp token. */
function pdpSource(
  opts: GatewayCliOptions,
): { agentSocket: string } | { controlPlanes: string[]; token: string } {
  if (opts.agentSocket !== undefined) {
    if (opts.server !== undefined || opts.token !== undefined) {
      throw usageError('--agent-socket replaces --server and --token', 'CLI_BAD_OPTION');
    }
    return { agentSocket: opts.agentSocket };
  }
  const env = process.env.WARD_SERVER;
  const servers = opts.server ?? (env ? env.split(',') : []);
  if (servers.length === 0)
    throw usageError('give --server URL (or --agent-socket)', 'CLI_BAD_OPTION');
  const token = opts.token ?? process.env.WARD_TOKEN;
  if (!token)
    throw usageError(
      'give --token (or WARD_TOKEN): a pdp-scoped token of the gateway',
      'CLI_BAD_OPTION',
    );
  return { controlPlanes: servers.map((s) => parseServer(s, '--server')), token };
}
