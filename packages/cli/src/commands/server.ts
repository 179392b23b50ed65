/**
 * `ward server`: starts the control plane (`ward start` runs the demo around one) and
 * prints its URL, the bundle public key, the admin token (first start only) and what to try next.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import { addOutputOption, collect, untilStopSignal, usageError } from '../options.ts';
import { type TokenReviewFlags, tokenReviewOf } from './_token-review.ts';
import { loadVulnsData } from './vulns.ts';

interface ServerOptions extends TokenReviewFlags {
  db?: string;
  listen: string;
  trustDomain?: string;
  dataDir: string;
  signingKey?: string;
  sealKeyFile?: string;
  secretsKekFile?: string;
  heartbeatMs?: string;
  storeQueryTimeoutMs?: string;
  watchMaxPerCredential?: string;
  watchMaxPerAddress?: string;
  watchMaxTotal?: string;
  output: string;
  quiet?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  alertWebhook: string[];
  alertWebhookSecretFile?: string;
  alertmanager: string[];
  alertInterval?: string;
  alertSpikeMin?: string;
  alertSpikeFactor?: string;
  metricsListen?: string;
  vulnsOsv?: string;
  vulnsEpss?: string;
  vulnsKev?: string;
}

/** `30s`, `5m`, `1h` or plain seconds, as milliseconds. */
export function durationMs(text: string, flag: string): number {
  const m = /^([0-9]{1,6})(s|m|h)?$/.exec(text);
  const n = m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']! : 0;
  if (n < 1000)
    throw usageError(`${flag} must be like 30s, 5m or 1h, got "${text}"`, 'CLI_BAD_OPTION');
  return n;
}

function httpUrl(text: string, flag: string): string {
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw usageError(`${flag} must be an http(s) URL, got "${text}"`, 'CLI_BAD_OPTION');
  return text;
}

/** `--alert-*` and `--alertmanager` as alertsPlugin's options. */
function alertsOf(opts: ServerOptions) {
  const secret = opts.alertWebhookSecretFile
    ? readPem(opts.alertWebhookSecretFile, '--alert-webhook-secret-file').trim()
    : undefined;
  if (secret !== undefined && secret.length < 16)
    throw usageError(
      '--alert-webhook-secret-file must hold at least 16 characters',
      'CLI_BAD_OPTION',
    );
  const factor = opts.alertSpikeFactor === undefined ? undefined : Number(opts.alertSpikeFactor);
  if (factor !== undefined && !(factor >= 1))
    throw usageError('--alert-spike-factor must be a number >= 1', 'CLI_BAD_OPTION');
  const minCount = positiveInt(opts.alertSpikeMin, '--alert-spike-min');
  return {
    webhooks: opts.alertWebhook.map((u) => httpUrl(u, '--alert-webhook')),
    alertmanagers: opts.alertmanager.map((u) => httpUrl(u, '--alertmanager')),
    ...(secret !== undefined ? { webhookSecret: secret } : {}),
    ...(opts.alertInterval
      ? { intervalMs: durationMs(opts.alertInterval, '--alert-interval') }
      : {}),
    denialSpike: {
      ...(minCount !== undefined ? { minCount } : {}),
      ...(factor !== undefined ? { factor } : {}),
    },
  };
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(
      `${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'CLI_BAD_OPTION',
    );
  }
}

/** `--tls-cert/--tls-key [--client-ca]` as startServer's `tls`, or undefined for plain HTTP. */
function tlsOf(opts: ServerOptions) {
  if (!opts.tlsCert && !opts.tlsKey) {
    if (opts.clientCa)
      throw usageError('--client-ca needs --tls-cert and --tls-key', 'CLI_BAD_OPTION');
    return undefined;
  }
  if (!opts.tlsCert || !opts.tlsKey) {
    throw usageError('--tls-cert and --tls-key go together', 'CLI_BAD_OPTION');
  }
  return {
    cert: readPem(opts.tlsCert, '--tls-cert'),
    key: readPem(opts.tlsKey, '--tls-key'),
    ...(opts.clientCa ? { clientCa: readPem(opts.clientCa, '--client-ca') } : {}),
  };
}

/** A positive integer flag, or undefined when not given (the server's default applies). */
function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw usageError(`${flag} must be a positive integer, got "${value}"`, 'CLI_BAD_OPTION');
  }
  return n;
}

/**
 * `--vulns-osv/--vulns-epss/--vulns-kev` as vulnsPlugin's loader (the files `ward vulns` reads,
 * read the same way), or undefined when the scans are not configured.
 */
function vulnsLoaderOf(opts: ServerOptions) {
  if (opts.vulnsOsv === undefined) {
    if (opts.vulnsEpss !== undefined || opts.vulnsKev !== undefined)
      throw usageError('--vulns-epss and --vulns-kev need --vulns-osv', 'CLI_BAD_OPTION');
    return undefined;
  }
  const paths = { osv: opts.vulnsOsv, epss: opts.vulnsEpss, kev: opts.vulnsKev };
  return () =>
    loadVulnsData(paths, (line) => process.stderr.write(`ward server: vulns: ${line}\n`));
}

/** `--watch-max-*` as startServer's `watchLimits` (only the limits given). */
function watchLimitsOf(opts: ServerOptions) {
  const limits = {
    perCredential: positiveInt(opts.watchMaxPerCredential, '--watch-max-per-credential'),
    perAddress: positiveInt(opts.watchMaxPerAddress, '--watch-max-per-address'),
    total: positiveInt(opts.watchMaxTotal, '--watch-max-total'),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
}

export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw usageError(`${flag} must be HOST:PORT or PORT, got "${text}"`, 'CLI_BAD_LISTEN');
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export function register(program: Command): void {
  const server = program.command('server');
  registerReseal(server);
  server
    .description('run the control plane (SQLite under --data-dir by default, or PostgreSQL)')
    .option(
      '--db <path|url>',
      'SQLite file or postgres:// URL (env WARD_DATABASE_URL; default <data-dir>/ward.db)',
    )
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8181')
    .option(
      '--metrics-listen <host:port>',
      'also serve GET /metrics without a token on this address (host default 127.0.0.1)',
    )
    .option('--trust-domain <domain>', 'SPIFFE trust domain (default ward.local)')
    .option('--data-dir <dir>', 'directory for the SQLite file and the signing key', '.ward')
    .option(
      '--signing-key <file>',
      'bundle signing key file (default <data-dir>/bundle-signing.key)',
    )
    .option(
      '--seal-key-file <file>',
      'key that encrypts the signing, passport and CA keys at rest (env WARD_SEAL_KEY first; default <data-dir>/seal.key, with a warning)',
    )
    .option(
      '--secrets-kek-file <file>',
      'key-encryption keys of the secrets, `id:base64url32[,id:…]` (env WARD_SECRETS_KEK first; default derived from the seal key, with a warning)',
    )
    .option(
      '--heartbeat-ms <ms>',
      'watch-stream heartbeat interval; PDPs leave a stream silent for 3 of them',
      '5000',
    )
    .option(
      '--store-query-timeout-ms <ms>',
      'PostgreSQL: longest a store query may run before the request answers 503 (default 10000)',
    )
    .option(
      '--watch-max-per-credential <n>',
      'watch streams one credential (all instances of a service) may hold open (default 1024)',
    )
    .option(
      '--watch-max-per-address <n>',
      'watch streams one client address may hold open (default 1024)',
    )
    .option('--watch-max-total <n>', 'watch streams this replica holds in all (default 16384)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option(
      '--client-ca <file>',
      'PEM trust bundle (the Ward CA): PDPs may authenticate with their X.509-SVID',
    )
    .option(
      '--alert-webhook <url>',
      'POST alerts as JSON to this webhook (repeatable)',
      collect,
      [] as string[],
    )
    .option(
      '--alert-webhook-secret-file <file>',
      'sign webhook bodies with HMAC-SHA256 under this secret (header x-ward-signature)',
    )
    .option(
      '--alertmanager <url>',
      'send alerts to this Alertmanager (API v2, repeatable)',
      collect,
      [] as string[],
    )
    .option('--alert-interval <duration>', 'how often alerts are evaluated (default 60s)')
    .option(
      '--alert-spike-min <n>',
      'WardDenialSpike: never below this many denials per 5 min (default 50)',
    )
    .option(
      '--alert-spike-factor <k>',
      'WardDenialSpike: above k x the baseline rate of the previous hour (default 3)',
    )
    .option(
      '--k8s-attestation <ns:sa,...>',
      'attest node agents by the projected service-account tokens of these service accounts (Kubernetes TokenReview)',
    )
    .option('--k8s-audience <aud>', "audience the agents' tokens must carry (default ward)")
    .option(
      '--k8s-api <url>',
      'kube-apiserver URL (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)',
    )
    .option(
      '--k8s-ca-file <file>',
      'PEM CA of the apiserver (default /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)',
    )
    .option(
      '--k8s-reviewer-token-file <file>',
      'token allowed to create tokenreviews, re-read at each review (default the pod service-account token)',
    )
    .option(
      '--vulns-osv <dir|zip>',
      'serve POST /v1/vulns/scan against these OSV records (a directory of JSON files or npm/all.zip), loaded at start and on POST /v1/vulns/reload',
    )
    .option('--vulns-epss <file>', 'with --vulns-osv: EPSS scores (epss_scores-YYYY-MM-DD.csv)')
    .option('--vulns-kev <file>', 'with --vulns-osv: the CISA KEV catalog')
    .addHelpText(
      'after',
      '\n-o json prints one JSON line first: {url, publicKey, keyId, adminToken?, warnings}.',
    );
  addOutputOption(server, ['text', 'json']).action(async (opts: ServerOptions) => {
    const { host, port } = parseListen(opts.listen);
    const metricsListen =
      opts.metricsListen === undefined
        ? undefined
        : parseListen(opts.metricsListen, '--metrics-listen');
    const tls = tlsOf(opts);
    const tokenReview = tokenReviewOf(opts);
    const watchLimits = watchLimitsOf(opts);
    const alertOptions = alertsOf(opts);
    const vulnsLoad = vulnsLoaderOf(opts);
    const heartbeatMs = Number(opts.heartbeatMs);
    if (!Number.isInteger(heartbeatMs) || heartbeatMs < 100) {
      throw usageError('--heartbeat-ms must be an integer >= 100', 'CLI_BAD_OPTION');
    }
    const storeQueryTimeoutMs =
      opts.storeQueryTimeoutMs === undefined ? undefined : Number(opts.storeQueryTimeoutMs);
    if (
      storeQueryTimeoutMs !== undefined &&
      (!Number.isInteger(storeQueryTimeoutMs) || storeQueryTimeoutMs < 100)
    ) {
      throw usageError('--store-query-timeout-ms must be an integer >= 100', 'CLI_BAD_OPTION');
    }
    // Loaded here, not at the top: other commands should not pay for Fastify and the drivers.
    const {
      startServer,
      ServerError,
      ingestPlugin,
      caPlugin,
      alertsPlugin,
      fleetPlugin,
      fleetAlertSources,
      secretsPlugin,
      vulnsPlugin,
    } = await import('@ward/server');
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({
        database: opts.db ?? process.env.WARD_DATABASE_URL,
        dataDir: opts.dataDir,
        signingKeyFile: opts.signingKey,
        sealKeyFile: opts.sealKeyFile,
        ...(opts.secretsKekFile ? { secrets: { kekFile: opts.secretsKekFile } } : {}),
        host,
        port,
        trustDomain: opts.trustDomain,
        adminToken: process.env.WARD_ADMIN_TOKEN || undefined,
        heartbeatMs,
        ...(storeQueryTimeoutMs === undefined ? {} : { storeQueryTimeoutMs }),
        watchLimits,
        logger: true,
        // The alerts plugin reads the ingest and fleet tables: it comes after both plugins.
        plugins: [
          ingestPlugin(),
          caPlugin(tokenReview ? { tokenReview } : {}),
          secretsPlugin(),
          fleetPlugin(),
          alertsPlugin({
            ...alertOptions,
            sources: fleetAlertSources(),
            generatorURL: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/#/live`,
          }),
          // Reads the graph of the ingest tables: after ingestPlugin().
          vulnsPlugin(vulnsLoad ? { load: vulnsLoad } : {}),
        ],
        ...(tls ? { tls } : {}),
        ...(metricsListen ? { metricsListen } : {}),
      });
    } catch (error) {
      if (error instanceof ServerError) throw new CliError(error.code, error.message);
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new CliError(
          'CLI_ADDRESS_IN_USE',
          `${opts.listen} is already in use (another ward server?); pick another with --listen`,
        );
      }
      throw error;
    }
    const stopped = untilStopSignal();
    const out = process.stdout;
    if (opts.output === 'json') {
      out.write(
        `${JSON.stringify({ url: server.url, publicKey: server.publicKey, keyId: server.keyId, ...(server.adminToken ? { adminToken: server.adminToken } : {}), ...(server.metricsUrl ? { metricsUrl: server.metricsUrl } : {}), warnings: server.warnings })}\n`,
      );
    } else {
      const token = server.adminToken ?? '<your admin token>';
      out.write(
        [
          `Ward control plane listening on ${server.url} (${server.database === 'postgres' ? 'PostgreSQL' : `SQLite ${opts.db ?? `${opts.dataDir}/ward.db`}`})`,
          ...(server.metricsUrl ? [`Prometheus metrics (no token): ${server.metricsUrl}`] : []),
          `Bundle signing public key: ${server.publicKey}  (key id ${server.keyId}; PDPs verify bundles with it, also at ${server.url}/v1/keys/bundle)`,
          server.adminToken
            ? `Admin token (shown ONCE, only its hash is stored — keep it now):\n  ${server.adminToken}`
            : 'Admin token: already created on first start (or WARD_ADMIN_TOKEN); create more with `ward tokens create`.',
          // Loud on purpose: a seal key next to the data means a copy of the data is a copy of every key.
          ...server.warnings.map((w) => `\nWARNING: ${w}\n`),
          '',
          'Try next:',
          `  export WARD_SERVER=${server.url} WARD_TOKEN=${token}`,
          '  npx ward apply -f examples/policies --dry-run',
          '  npx ward apply -f examples/policies',
          '  npx ward get intentions',
          '  npx ward history',
          `  open ${server.url}/openapi.json for the API`,
          '',
        ].join('\n'),
      );
    }
    await stopped;
    await server.close();
  });
}

interface ResealOptions {
  db?: string;
  dataDir: string;
  signingKey?: string;
  sealKeyFile?: string;
  newSealKeyFile: string;
}

/**
 * `ward server reseal`: seal-key rotation. Re-encrypts the signing key file, the passport
 * secrets and the CA keys from the current seal key (found as `ward server` finds it) to the key
 * in --new-seal-key-file. With every replica stopped; idempotent, so an interrupted run is
 * finished by running it again.
 */
function registerReseal(server: Command): void {
  server
    .command('reseal')
    .description('re-encrypt the keys at rest under a new seal key (stop every replica first)')
    .requiredOption('--new-seal-key-file <file>', 'the new seal key (`openssl rand -base64 32`)')
    .option('--db <path|url>', 'SQLite file or postgres:// URL (env WARD_DATABASE_URL)')
    .option('--data-dir <dir>', 'the data directory of `ward server`', '.ward')
    .option(
      '--signing-key <file>',
      'bundle signing key file (default <data-dir>/bundle-signing.key)',
    )
    .option('--seal-key-file <file>', 'the current seal key file (env WARD_SEAL_KEY first)')
    .action(async (opts: ResealOptions) => {
      const { resealAtRest, resolveSealKey, ServerError } = await import('@ward/server');
      const { copyFileSync } = await import('node:fs');
      const { join, resolve } = await import('node:path');
      const dataDir = resolve(opts.dataDir);
      try {
        const from = resolveSealKey({
          file: opts.sealKeyFile,
          env: process.env,
          dataDir,
          create: false,
        });
        const to = resolveSealKey({ file: opts.newSealKeyFile, env: {}, dataDir, create: false });
        const result = await resealAtRest({
          database: opts.db ?? process.env.WARD_DATABASE_URL ?? join(dataDir, 'ward.db'),
          signingKeyFile: resolve(opts.signingKey ?? join(dataDir, 'bundle-signing.key')),
          from: from.key,
          to: to.key,
        });
        const lines = [
          `resealed the bundle-signing key, ${result.passportKeys} passport key(s) and ${result.authorities} CA state(s) under ${to.source}`,
        ];
        if (from.source.startsWith('env:')) {
          lines.push(
            `now set WARD_SEAL_KEY to the new key (and unset ${from.source.slice(4)}) on every replica`,
          );
        } else if (opts.sealKeyFile) {
          lines.push(`now start every replica with --seal-key-file ${to.source}`);
        } else {
          // The zero-config default file: replace it, so the next plain `ward server` finds the new key.
          copyFileSync(to.source, from.source);
          lines.push(`replaced ${from.source} with the new key`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (error) {
        if (error instanceof ServerError) throw new CliError(error.code, error.message);
        throw error;
      }
    });
}
