/**
 * The demo's control plane: the embedded default (SQLite under the data dir) with the ingest
 * (decision logs, reports, promote) and identity CA plugins, the demo's admin token, its policy
 * documents (applied on first start only, so a `ward promote` survives a restart), and one `pdp`
 * token per service (bound to it) that the service uses to fetch its bundle and ship decision
 * logs.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkloadIdentity } from '@ward/sdk';
import {
  alertsPlugin,
  caPlugin,
  fleetAlertSources,
  fleetPlugin,
  ingestPlugin,
  type RunningServer,
  secretsPlugin,
  startServer,
  vulnsPlugin,
} from '@ward/server';
import { ApiError, apiRequest, type ClientOptions } from '@ward/server/client';
import { DemoError } from './errors.ts';
import { keyOf, MESH, TRUST_DOMAIN } from './mesh.ts';
import type { ResolvedDemoOptions } from './options.ts';
import { loadOrCreateToken, saveToken } from './tokens.ts';

/** The control plane's own identity in the demo: its serving certificate comes from its CA. */
export const CONTROL_PLANE_ID = `spiffe://${TRUST_DOMAIN}/ns/ward/sa/control-plane`;

/**
 * Serves the control plane over HTTPS as well, with the SVID its own CA issued it (swapped on
 * each rotation) and the CA's trust bundle as client CA: there the services' PDPs authenticate
 * with their own SVIDs, the normal path, with no token. Returns the URL PDPs use
 * (`https://localhost:PORT`, the name on the certificate).
 */
export async function serveWithSvid(
  cp: DemoControlPlane,
  workload: WorkloadIdentity,
  host: string,
): Promise<string> {
  const svid = workload.svid;
  const listener = await cp.server.listenTls(
    { cert: svid.certChainPem, key: svid.keyPem, clientCa: svid.bundlePem },
    { host },
  );
  workload.on('rotate', (next: typeof svid) =>
    listener.setCertificate(next.certChainPem, next.keyPem),
  );
  return `https://localhost:${new URL(listener.url).port}`;
}

export interface DemoControlPlane {
  server: RunningServer;
  url: string;
  adminToken: string;
  adminTokenFile: string;
  /** The `pdp` token bound to the key `service` (each service reads only its own bundle). */
  pdpToken(service: string): Promise<string>;
  /** Whether the policy documents were applied at this start (false: kept from a previous run). */
  applied: boolean;
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ResolvedDemoOptions): Promise<DemoControlPlane> {
  const adminTokenFile = join(opts.dataDir, 'admin.token');
  // The token file goes in the data dir, so the dir is made first (0700, as startServer would).
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const adminToken = loadOrCreateToken(adminTokenFile).token;
  let server: RunningServer;
  try {
    server = await startServer({
      dataDir: opts.dataDir,
      host: opts.host,
      port: opts.port,
      adminToken,
      // Prometheus scrapes the control plane without a token here (the API's /metrics needs one).
      metricsListen: { host: opts.host, port: 0 },
      // Alerts evaluated every 15 s, so the console's Live view shows them during a short demo.
      plugins: [
        ingestPlugin(),
        caPlugin(),
        secretsPlugin(),
        fleetPlugin(),
        alertsPlugin({ intervalMs: 15_000, sources: fleetAlertSources() }),
        // No advisories in the demo: POST /v1/vulns/scan answers 503 saying how to load them.
        vulnsPlugin(),
      ],
      logger: false,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new DemoError(
        'DEMO_ADDRESS_IN_USE',
        `port ${opts.port} is already in use (another ward server or demo?); pick another with --port, or --port 0 for any free one`,
        { cause: error },
      );
    }
    throw error;
  }
  const client: ClientOptions = { server: server.url, token: adminToken };
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    try {
      return await apiRequest<T>(client, method, path, body);
    } catch (error) {
      if (error instanceof ApiError) {
        throw new DemoError('DEMO_SETUP_FAILED', `${method} ${path}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  };
  try {
    const applied = await applyOnFirstStart(opts.policyDir, opts.dataDir, admin);
    return {
      server,
      url: server.url,
      adminToken,
      adminTokenFile,
      pdpToken: (service) => pdpTokenOf(opts.dataDir, server.url, service, admin),
      applied,
      admin,
      close: () => server.close(),
    };
  } catch (error) {
    await server.close();
    throw error;
  }
}

/**
 * Applies the demo's documents unless the control plane already holds intentions, and switches
 * the passport zone to Ed25519.
 */
async function applyOnFirstStart(
  dir: string,
  dataDir: string,
  admin: DemoControlPlane['admin'],
): Promise<boolean> {
  const existing = await admin<{ items: unknown[] }>('GET', '/v1/intentions');
  if (existing.items.length > 0) {
    // Kept policies must still name the mesh's services by their keys (`shop/orders`): a data
    // dir from before namespaces holds `orders` (migrated to the default namespace).
    const stored = await admin<{ items: { name: string }[] }>('GET', '/v1/services');
    const have = new Set(stored.items.map((s) => s.name));
    // The Python service came later: without it the demo runs and says why (./python.ts).
    const missing = MESH.filter((m) => !m.python)
      .map(keyOf)
      .filter((key) => !have.has(key));
    if (missing.length > 0) {
      throw new DemoError(
        'DEMO_SETUP_FAILED',
        `the data dir ${dataDir} keeps policies without the demo's services ${missing.join(', ')} (from a run before namespaces, or edited); delete the data dir to start over`,
      );
    }
    return false;
  }
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.(ya?ml|json)$/.test(n));
  } catch (cause) {
    throw new DemoError('DEMO_SETUP_FAILED', `cannot read the demo policies in ${dir}`, { cause });
  }
  const files = names
    .sort()
    .map((n) => ({ name: join(dir, n), content: readFileSync(join(dir, n), 'utf8') }));
  await admin('POST', '/v1/apply', { files, dryRun: false });
  // Ed25519 passports: only the frontend (`spec.passport.mint`) holds the signing key; orders,
  // whose rules read the passport, holds the public key; the other services hold no key at all.
  await admin('POST', '/v1/passport-keys/rotate', {
    zone: 'default',
    alg: 'EdDSA',
    retirePrevious: true,
  });
  return true;
}

/**
 * A `pdp` token bound to `service` (a key, `shop/orders`), kept in
 * `<dataDir>/pdp-shop__orders.token` (a key's `/` never reaches a path); a kept token that no
 * longer reads the service's bundle (revoked, or bound elsewhere) is replaced.
 */
async function pdpTokenOf(
  dataDir: string,
  url: string,
  service: string,
  admin: DemoControlPlane['admin'],
): Promise<string> {
  const file = join(dataDir, `pdp-${service.replaceAll('/', '__')}.token`);
  let kept: string | undefined;
  try {
    kept = readFileSync(file, 'utf8').trim();
  } catch {
    kept = undefined;
  }
  if (kept) {
    const res = await fetch(`${url}/v1/bundles/${encodeURIComponent(service)}`, {
      headers: { authorization: `Bearer ${kept}` },
    });
    await res.arrayBuffer();
    // 404 (a client-only service has no bundle) still proves the token is good for `service`.
    if (res.status !== 401 && res.status !== 403) return kept;
  }
  const created = await admin<{ token: string }>('POST', '/v1/tokens', {
    name: `demo-${service}`,
    scope: 'pdp',
    services: [service],
  });
  saveToken(file, created.token);
  return created.token;
}
