import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { SignedBundleV1 } from '@ward/api-types';
import type { PolicyDocument } from '@ward/policy';
import { createPdp, type Pdp, type PdpOptions } from '../src/index.ts';
import { memoryLogger, tempDir } from './_pdp-fixture.ts';

const root = join(import.meta.dirname, '..', '..', '..');
export const ADMIN_TOKEN = 'ward-test-admin-token-0123456789abcdef';

/** A real `ward server` process on loopback. */
export interface ControlPlaneProcess {
  url: string;
  publicKey: string;
  child: ChildProcess;
  /** Ends the process with `signal` and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `node packages/cli/src/bin.ts server … -o json` and reads the first stdout line for the
 * URL and the bundle public key. `database` is a SQLite path or a postgres URL.
 */
export async function spawnControlPlane(options: {
  database: string;
  dataDir: string;
  signingKey?: string;
  listen?: string;
  heartbeatMs?: number;
  /** Extra environment, e.g. a `WARD_CA_KEY` that replicas on one database must share. */
  env?: Record<string, string>;
  /** Extra `ward server` flags, e.g. `--tls-cert`. */
  args?: string[];
  /**
   * A command that runs node for us, e.g. `['ip', 'netns', 'exec', 'ns1']` to start the replica
   * inside a network namespace (`ip netns exec` execs node in place: the child's pid is node's).
   */
  wrap?: string[];
}): Promise<ControlPlaneProcess> {
  const args = [
    join(root, 'packages/cli/src/bin.ts'),
    'server',
    '--db',
    options.database,
    '--data-dir',
    options.dataDir,
    '--listen',
    options.listen ?? '127.0.0.1:0',
    '--trust-domain',
    'test.local',
    '-o',
    'json',
  ];
  if (options.signingKey) args.push('--signing-key', options.signingKey);
  if (options.heartbeatMs) args.push('--heartbeat-ms', String(options.heartbeatMs));
  args.push(...(options.args ?? []));
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(command!, [...prefix, ...args], {
    env: { ...process.env, WARD_ADMIN_TOKEN: ADMIN_TOKEN, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ward server exited with ${code}: ${stderr}`)));
  });
  lines.on('line', () => {});
  const info = JSON.parse(first) as { url: string; publicKey: string };
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    url: info.url,
    publicKey: info.publicKey,
    child,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Calls the control-plane API with the admin token; throws on any non-2xx answer. */
export async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** `apply` of a set of documents, like `ward apply -f`. */
export async function applyDocuments(url: string, documents: PolicyDocument[]): Promise<void> {
  // The API takes files, YAML or JSON; one multi-document YAML file of JSON documents.
  const content = documents.map((d) => JSON.stringify(d)).join('\n---\n');
  await api(url, 'POST', '/v1/apply', { files: [{ name: 'policy.yaml', content }] });
}

/** A `pdp`-scoped token, as a service would be given. */
export async function pdpToken(url: string, service: string): Promise<string> {
  const created = (await api(url, 'POST', '/v1/tokens', {
    name: `pdp-${service}-${Date.now()}`,
    scope: 'pdp',
    services: [service],
  })) as { token: string };
  return created.token;
}

/** The bundle the control plane serves now, as raw bytes (for replaying it later). */
export async function captureBundle(url: string, service: string, token: string): Promise<Buffer> {
  const res = await fetch(`${url}/v1/bundles/${service}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 200) throw new Error(`bundle of ${service} answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export function revisionOf(bytes: Buffer): number {
  const envelope = JSON.parse(bytes.toString('utf8')) as SignedBundleV1;
  return (JSON.parse(envelope.payload) as { revision: number }).revision;
}

/**
 * PDPs of `orders` against `ward server` processes in one temporary folder: `spawn` starts a
 * control plane (the latest one's key verifies the PDPs' bundles), `start` a PDP with fast
 * backoff, and `close` stops them all and removes the folder.
 */
export function pdpHarness(label: string) {
  const dir = tempDir(label);
  const pdps: Pdp[] = [];
  let server: ControlPlaneProcess | undefined;
  return {
    dir,
    async spawn(options: Parameters<typeof spawnControlPlane>[0]): Promise<ControlPlaneProcess> {
      server = await spawnControlPlane(options);
      return server;
    },
    start(options: Partial<PdpOptions> & { controlPlanes: string[] }): Pdp {
      if (!server) throw new TypeError('pdpHarness: spawn a control plane first');
      const pdp = createPdp({
        service: 'orders',
        publicKey: server.publicKey,
        logger: memoryLogger(),
        backoff: { initialMs: 50, maxMs: 500 },
        ...options,
      });
      pdps.push(pdp);
      return pdp;
    },
    async close(): Promise<void> {
      for (const p of pdps) await p.close();
      await server?.kill('SIGKILL');
      dir.remove();
    },
  };
}
