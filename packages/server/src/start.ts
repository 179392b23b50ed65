/**
 * `startServer`: opens the store, migrates it, bootstraps the first admin token, the passport key
 * and the bundle-signing key, and listens.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { SealKey } from '@ward/ca';
import { trustDomainProblem } from '@ward/spiffe';
import type { FastifyInstance } from 'fastify';
import type { Migration } from 'kysely';
import { Authenticator } from './auth/authenticator.ts';
import { trustAnchors } from './auth/mtls.ts';
import { onTokenRevoked, recheckSvidStreams, startRevocationSweep } from './auth/revocation.ts';
import { ServiceIdentities } from './auth/service-identities.ts';
import { generateToken, hashToken, insertToken } from './auth/tokens.ts';
import { BundleCache } from './bundles/cache.ts';
import { loadOrCreateSigningKey } from './bundles/signing-key.ts';
import { ServerError } from './errors.ts';
import { buildApp, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts, type WardPlugin } from './http/app.ts';
import type { WardContext } from './http/context.ts';
import {
  httpsOptions,
  listenTls,
  type ServerTlsOptions,
  type TlsListener,
} from './http/tls-listener.ts';
import { resolveSealKey } from './keys/seal-key.ts';
import { listenMetrics } from './metrics/listener.ts';
import { ServerMetrics } from './metrics/metrics.ts';
import {
  type ResolvedKek,
  resolveSecretsKek,
  type SecretsKekOptions,
} from './secrets/kek-source.ts';
import { appendAudit } from './store/audit.ts';
import { openDatabase } from './store/database.ts';
import { migrateNamespaces } from './store/migrate-namespaces.ts';
import { migrate } from './store/migrations.ts';
import { ensurePassportKey, sealPlaintextSecrets } from './store/passport-keys.ts';
import { type Actor, type RevisionEvent, Store } from './store/store.ts';
import { AgentHub } from './watch/agent-hub.ts';
import { RevisionFollower } from './watch/follower.ts';
import { WatchHub } from './watch/hub.ts';
import { WatchAdmission, type WatchLimits } from './watch/limits.ts';

export type { ServerTlsOptions, TlsListener };

/** Ward's default port, used by the server and as the CLI's default `--server`. */
export const DEFAULT_PORT = 8181;
/** Default heartbeat interval of watch streams (ms); `ward server --heartbeat-ms`. */
export const DEFAULT_HEARTBEAT_MS = 5000;
/** Default deadline of one store query on PostgreSQL (ms). */
export const DEFAULT_STORE_QUERY_TIMEOUT_MS = 10_000;

export interface StartServerOptions {
  /** SQLite file path (default `<dataDir>/ward.db`) or a `postgres://` URL. */
  database?: string;
  /** Holds the SQLite file and the signing key; default `./.ward`. Created 0700. */
  dataDir?: string;
  /** Default `<dataDir>/bundle-signing.key`; replicas point at one shared file. */
  signingKeyFile?: string;
  /**
   * The seal key that encrypts the signing key, the passport secrets and the CA keys at rest.
   * Default: `WARD_SEAL_KEY` (or `WARD_CA_KEY`) from `env`, else `sealKeyFile`, else
   * `<dataDir>/seal.key` generated at first start (with a warning: it travels with the data).
   */
  sealKey?: SealKey;
  /** A seal key file kept outside the data directory (`ward server --seal-key-file`). */
  sealKeyFile?: string;
  /** Where `WARD_SEAL_KEY` is read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  host?: string;
  /** 0 = an ephemeral port. Default 8181. */
  port?: number;
  trustDomain?: string;
  /** Bootstrap admin token (at least 16 characters) instead of a generated one. */
  adminToken?: string;
  /**
   * Interval of the watch streams' heartbeats (default 5000 ms). The SDK takes a stream silent
   * for three of them for dead, so this bounds how long a PDP stays on a frozen replica (15 s).
   */
  heartbeatMs?: number;
  /**
   * PostgreSQL: longest a store query may run (`statement_timeout`, plus a client-side deadline
   * one second later for a store that stopped answering at all). A query past it answers 503
   * STORE_UNREACHABLE with Retry-After, and a revision catch-up past it marks the replica stale.
   * Default 10,000 ms.
   */
  storeQueryTimeoutMs?: number;
  /** Log to stderr (pino). */
  logger?: boolean;
  /** Extra route plugins (identity CA, ingest, …). */
  plugins?: readonly WardPlugin[];
  /**
   * Serve HTTPS instead of HTTP. With `clientCa` (the Ward CA trust bundle, PEM), clients may
   * present an X.509-SVID: it is requested but not required, so tokens keep working, and a
   * verified SVID authenticates as a `pdp` principal of the service its SPIFFE ID names.
   */
  tls?: ServerTlsOptions;
  /** How often other replicas' revocations are re-checked for open streams (PostgreSQL). */
  revocationSweepMs?: number;
  /**
   * PostgreSQL: safety poll of the revision log (default 5000 ms). A catch-up still running after
   * two polls marks the replica stale (a frozen store): its watch streams end.
   */
  revisionPollMs?: number;
  /**
   * Most watch streams open at once per credential, per client address and in total (defaults
   * in `DEFAULT_WATCH_LIMITS`; docs/operations.md says how to size them). Beyond: 429.
   */
  watchLimits?: Partial<WatchLimits>;
  /** Time a client has to send its request headers and its whole request (slowloris). */
  httpTimeouts?: Partial<HttpTimeouts>;
  /** Serve the web console from this directory instead of `@ward/console`'s build (tests). */
  consoleDir?: string;
  /**
   * Also serve `GET /metrics` without a token on this address (`ward server --metrics-listen`);
   * host defaults to 127.0.0.1. The API's `/metrics` needs a `metrics` or `admin` token.
   */
  metricsListen?: { host?: string; port: number };
  /** Count and time every request (default true; the benchmark turns it off to measure it). */
  requestMetrics?: boolean;
  /**
   * Secrets (with `secretsPlugin()`): the key-encryption key (a KekRing or a KMS implementing
   * KeyEncryptionKey), else `WARD_SECRETS_KEK` from `env`, else `kekFile`, else one derived from
   * the seal key (with a warning). See docs/operations.md.
   */
  secrets?: SecretsKekOptions;
}

export interface RunningServer {
  url: string;
  /** base64url raw Ed25519 public key of the bundle-signing key. */
  publicKey: string;
  keyId: string;
  /** Only when generated at this (first) start; never stored in clear. */
  adminToken?: string;
  signingKeyFile: string;
  /** Where the seal key came from: `option`, `env:WARD_SEAL_KEY`, `env:WARD_CA_KEY`, or its file. */
  sealKeySource: string;
  /**
   * Things the operator must hear about: the seal key stored inside the data directory, key or
   * data files readable by others, a revoked bootstrap token.
   */
  warnings: string[];
  database: 'sqlite' | 'postgres';
  /** The unauthenticated scrape URL, with `metricsListen`. */
  metricsUrl?: string;
  app: FastifyInstance;
  /** Every route (method, URL), plugins' included. */
  routes: { method: string; url: string }[];
  /**
   * Serves the API over HTTPS too, on another port (default host: the server's; port 0 = any).
   * For a serving certificate that exists only once the control plane runs (e.g. issued by its
   * own CA); closed with the server.
   */
  listenTls(
    tls: ServerTlsOptions,
    address?: { host?: string; port?: number },
  ): Promise<TlsListener>;
  close(): Promise<void>;
}

const SYSTEM: Actor = { id: 'system', name: 'system', scope: 'admin' };

async function bootstrapAdmin(
  store: Store,
  adminToken: string | undefined,
): Promise<{ token?: string; warning?: string }> {
  return store.transaction(async (trx) => {
    const claimed = await trx
      .updateTable('ward_state')
      .set({ bootstrapped: 1 })
      .where('id', '=', 1)
      .where('bootstrapped', '=', 0)
      .executeTakeFirst();
    const first = Number(claimed.numUpdatedRows) === 1;
    if (adminToken) {
      const existing = await trx
        .selectFrom('tokens')
        .select(['id', 'revoked_at'])
        .where('hash', '=', hashToken(adminToken))
        .executeTakeFirst();
      if (existing?.revoked_at)
        return { warning: 'the bootstrap admin token (WARD_ADMIN_TOKEN) is revoked' };
      if (!existing) {
        const info = await insertToken(trx, adminToken, {
          name: 'bootstrap-admin',
          scope: 'admin',
          createdBy: 'system',
        });
        await appendAudit(trx, SYSTEM, 'token.create', info.id, {
          name: info.name,
          tokenScope: 'admin',
          bootstrap: 'env',
        });
      }
      return {};
    }
    if (!first) return {};
    const token = generateToken();
    const info = await insertToken(trx, token, {
      name: 'first-admin',
      scope: 'admin',
      createdBy: 'system',
    });
    await appendAudit(trx, SYSTEM, 'token.create', info.id, {
      name: info.name,
      tokenScope: 'admin',
      bootstrap: 'generated',
    });
    return { token };
  }, true);
}

/**
 * Creates the data directory owner-only (0700), and takes group and other access away from an
 * existing one: it holds the database and, by default, the keys. A warning when that fails.
 */
function ensurePrivateDir(dir: string): string | undefined {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  try {
    chmodSync(dir, mode & 0o700);
    return undefined;
  } catch {
    return `the data directory ${dir} has mode ${mode.toString(8)}; it should be 700 (it holds the database and the keys)`;
  }
}

/** Refuses limits and timeouts that are not positive integers (or headers beyond request). */
function checkLimits(limits: WatchLimits, timeouts: HttpTimeouts): void {
  const all: [string, number][] = [
    ...Object.entries(limits).map(([k, v]): [string, number] => [`watchLimits.${k}`, v]),
    ...Object.entries(timeouts).map(([k, v]): [string, number] => [`httpTimeouts.${k}`, v]),
  ];
  for (const [name, value] of all) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ServerError('SERVER_CONFIG_INVALID', `${name} must be a positive integer`);
    }
  }
  if (timeouts.headersMs > timeouts.requestMs) {
    throw new ServerError(
      'SERVER_CONFIG_INVALID',
      'httpTimeouts.headersMs must not exceed httpTimeouts.requestMs',
    );
  }
}

/**
 * Starts a control plane.
 *
 * @example
 * ```ts
 * const server = await startServer({ dataDir: '/var/lib/ward', port: 0 });
 * console.log(server.url, server.publicKey, server.adminToken);
 * await server.close();
 * ```
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const dataDir = resolve(options.dataDir ?? '.ward');
  const trustDomain = options.trustDomain ?? 'ward.local';
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) {
    throw new ServerError(
      'SERVER_CONFIG_INVALID',
      `invalid trust domain ${JSON.stringify(trustDomain)}: ${tdProblem}`,
    );
  }
  if (options.adminToken !== undefined && options.adminToken.length < 16) {
    throw new ServerError(
      'SERVER_CONFIG_INVALID',
      'the bootstrap admin token must be at least 16 characters',
    );
  }
  const watchAdmission = new WatchAdmission(options.watchLimits);
  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...options.httpTimeouts };
  checkLimits(watchAdmission.limits, timeouts);
  const dirWarning = ensurePrivateDir(dataDir);
  const seal = resolveSealKey({
    sealKey: options.sealKey,
    file: options.sealKeyFile,
    env: options.env ?? process.env,
    dataDir,
  });
  const signingKey = loadOrCreateSigningKey(
    resolve(options.signingKeyFile ?? join(dataDir, 'bundle-signing.key')),
    seal.key,
  );
  const database = options.database ?? join(dataDir, 'ward.db');
  const queryTimeoutMs = options.storeQueryTimeoutMs ?? DEFAULT_STORE_QUERY_TIMEOUT_MS;
  if (!Number.isSafeInteger(queryTimeoutMs) || queryTimeoutMs < 1) {
    throw new ServerError(
      'SERVER_CONFIG_INVALID',
      'storeQueryTimeoutMs must be a positive integer',
    );
  }
  const opened = await openDatabase(database, { queryTimeoutMs });
  const cleanups: (() => Promise<void>)[] = [() => opened.close()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    const extra: Record<string, Migration> = {};
    for (const p of options.plugins ?? []) Object.assign(extra, p.migrations ?? {});
    await migrate(opened.db as never, opened.dialect, extra);
    const store = new Store(opened.db, opened.dialect, trustDomain, seal.key);
    // Documents stored before namespaces keep their meaning (once; docs/namespaces.md).
    await migrateNamespaces(store);
    const boot = await bootstrapAdmin(store, options.adminToken);
    await sealPlaintextSecrets(store);
    await ensurePassportKey(store);

    // One registry per server: two servers in one process never share a counter.
    const metrics = new ServerMetrics();
    const bundles = new BundleCache(store, signingKey, metrics);
    const authenticator = new Authenticator(opened.db);
    // Reads the follower's revision lazily (the follower is made next and knows the identities).
    const identities = new ServiceIdentities(store, () => follower.revision);
    // The hub pushes bundles from the same cache the GET route serves (one build per revision).
    // Heartbeats carry the follower's revision (read lazily, like the identities above).
    const hub = new WatchHub(
      options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      bundles,
      () => follower.revision,
    );
    // Node agents' streams (one per node, scoped to its services); fed by the same revisions.
    const agentHub = new AgentHub(
      options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      bundles,
      () => follower.revision,
    );
    let app: FastifyInstance | undefined;
    const revisionListeners = new Set<(event: RevisionEvent) => void>();
    const follower = new RevisionFollower({
      store,
      postgresUrl: opened.url,
      ...(options.revisionPollMs ? { pollMs: options.revisionPollMs } : {}),
      onRevision: (event) => {
        bundles.invalidate(event.services);
        hub.publish(event);
        agentHub.publish(event);
        void recheckSvidStreams(hub, identities).catch((e) =>
          app?.log.warn(`SVID stream re-check: ${(e as Error).message}`),
        );
        for (const listener of revisionListeners) {
          try {
            listener(event);
          } catch (e) {
            app?.log.warn(`revision listener: ${(e as Error).message}`);
          }
        }
      },
      onRevoked: (tokenId) => onTokenRevoked(hub, authenticator, tokenId),
      log: (m) => app?.log.warn(m),
      // A replica that cannot follow the log ends its streams so PDPs fail over to a current one.
      onHealth: (healthy) => {
        if (!healthy) {
          hub.closeWhere(() => true);
          agentHub.closeWhere(() => true);
        }
      },
    });
    await follower.start();
    cleanups.push(() => follower.close());
    metrics.attach({
      watchers: () => hub.size,
      agentWatchers: () => agentHub.size,
      revision: () => follower.revision,
      following: () => follower.healthy,
    });
    if (opened.dialect === 'postgres') {
      const stop = startRevocationSweep({
        db: opened.db,
        hub,
        authenticator,
        intervalMs: options.revocationSweepMs ?? 5000,
        log: (m) => app?.log.warn(m),
      });
      cleanups.push(async () => stop());
    }
    cleanups.push(async () => hub.close());
    cleanups.push(async () => agentHub.close());
    // The secrets' KEK, resolved only when the secrets plugin is registered.
    const secretsKek: ResolvedKek | undefined = (options.plugins ?? []).some(
      (p) => p.name === 'secrets',
    )
      ? resolveSecretsKek({
          ...(options.secrets ? { secrets: options.secrets } : {}),
          env: options.env ?? process.env,
          sealKey: seal.key,
          dataDir,
        })
      : undefined;
    const ctx: WardContext = {
      store,
      db: opened.db,
      dialect: opened.dialect,
      ...(opened.url ? { postgresUrl: opened.url } : {}),
      trustDomain,
      dataDir,
      signingKey,
      sealKey: seal.key,
      bundles,
      hub,
      agentHub,
      watchAdmission,
      follower,
      authenticator,
      identities,
      metrics,
      ...(options.tls?.clientCa ? { clientRoots: trustAnchors(options.tls.clientCa) } : {}),
      changed: () => follower.catchUp(),
      onRevision(listener) {
        revisionListeners.add(listener);
        return () => revisionListeners.delete(listener);
      },
      ...(secretsKek ? { secretsKek } : {}),
    };
    app = await buildApp(ctx, {
      logger: options.logger ?? false,
      plugins: options.plugins ?? [],
      timeouts,
      ...(options.requestMetrics === false ? { requestMetrics: false } : {}),
      ...(options.tls ? { https: httpsOptions(options.tls) } : {}),
      ...(options.consoleDir !== undefined ? { consoleDir: options.consoleDir } : {}),
    });
    const started = app;
    cleanups.push(async () => {
      hub.close();
      agentHub.close();
      await started.close();
      for (const p of options.plugins ?? []) await p.close?.();
    });
    await app.listen({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? DEFAULT_PORT,
      backlog: 4096,
    });
    const scrape = options.metricsListen
      ? await listenMetrics(
          () => metrics.scrape(),
          options.metricsListen.host ?? '127.0.0.1',
          options.metricsListen.port,
        )
      : undefined;
    if (scrape) cleanups.push(() => scrape.close());
    const address = app.server.address() as AddressInfo;
    const host = ['0.0.0.0', '::', ''].includes(address.address)
      ? '127.0.0.1'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
    const warnings = [
      ...seal.warnings,
      dirWarning,
      signingKey.warning,
      ...opened.warnings,
      ...(secretsKek?.warnings ?? []),
      boot.warning,
    ].filter((w): w is string => !!w);
    for (const w of warnings) app.log.warn(w);
    let closed: Promise<void> | undefined;
    return {
      url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
      publicKey: signingKey.publicKeyText,
      keyId: signingKey.keyId,
      ...(boot.token ? { adminToken: boot.token } : {}),
      signingKeyFile: signingKey.file,
      sealKeySource: seal.source,
      warnings,
      database: opened.dialect,
      ...(scrape ? { metricsUrl: scrape.url } : {}),
      app,
      routes: app.wardRoutes,
      async listenTls(tls, at = {}) {
        const listener = await listenTls(
          started,
          tls,
          at.host ?? options.host ?? '127.0.0.1',
          at.port ?? 0,
        );
        cleanups.push(() => listener.close());
        return listener;
      },
      close: () => (closed ??= cleanup()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
