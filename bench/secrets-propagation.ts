/**
 * `npm run bench -- secrets-propagation [--agents N] [--small M] [--no-small] [--workers W]
 *   [--identities I] [--pollers P] [--big-peer] [--interval-ms T] [--no-peer]`
 *
 * Secret delivery through node agents (issue 16). ONE real `ward server` process (SQLite, with
 * the CA and secrets plugins `ward server` registers) serves simulated node agents, each holding
 * ONE agent-scoped watch stream, spread over W client processes (default: one per core, 2 to 8).
 * Every node runs the reader service `shop/inventory`; one `Secret` (`shop/api-key`, type random,
 * readers [inventory], activation 0s) has a first version PUT before the agents connect. Then
 * one `POST /v1/secrets/shop%2Fapi-key/rotate` per run, and per agent the time from just before
 * that request until its `SecretStore` holds the new version (its `secret` event, version
 * checked). The default run does M = 1,000 then N = 10,000 agents.
 *
 * Reported per run: `p50_ms`/`p99_ms`/`max_ms` over the agents; `rotate_ms`, the rotate
 * request's own latency (generate, seal, commit; part of every agent's figure); `control_plane`,
 * the server's own timing of the fan-out from `GET /v1/agent/watch/stats` `lastSecretFanout`
 * (`load_ms`: the state read and decrypted once; `write_ms`: encoded once and written to every
 * stream); server and clients CPU over the change; `agent_receipt_cpu_us` (client CPU / agents:
 * one agent's receipt — SSE read, parse, checks, store).
 *
 * What is simulated (bench/_agent-fleet-client.ts): the agents are real agent code (attestation,
 * proofs, `BundleFeed`, `SecretStore`), their streams sharing `--identities` (default 500)
 * attested agent identities round-robin (set-up cost only: each stream is still its own
 * connection, proof check and write), N/W agents per process on this box's cores — agent k of a
 * process waits for the k-1 before it, which a real node's agent does not.
 *
 * The peer, in the same run: Vault Agent's model. P pollers (default 1,000; `--big-peer` adds a
 * run at N) each `GET /v1/secrets/:s/value` with a reader service's pdp token every T ms
 * (default 5,000, Vault Agent's template default) from a random phase; per poller, the time from
 * just before the rotate until its first answer with the new version. Every read is a real
 * request: authenticated, decrypted, audited (`secret.read`, a SQLite transaction each).
 *
 * `PROF=1` profiles the measured window only: the workers in-process (summaries in the JSON,
 * `.cpuprofile` files in /tmp/prof) and the server through its inspector.
 *
 * File descriptors: the server holds N sockets, each worker N/W: `ulimit -n` of at least N + 1,000.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  api,
  applyPolicy,
  broadcast,
  cpuMsOf,
  defaultWorkers,
  epochNow,
  parseFlags,
  prepareNodes,
  type Server,
  settle,
  shareOf,
  startControlPlane,
  startWorkers,
  stopControlPlane,
  stopWorkers,
  TRUST_DOMAIN,
} from './_agent-fleet.ts';
import { percentile, progress, round } from './_stats.ts';

const SERVICE = 'shop/inventory';
const SERVICE_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/inventory`;
const SECRET = 'shop/api-key';
const SECRET_PATH = `/v1/secrets/${encodeURIComponent(SECRET)}`;

interface Options {
  agents: number;
  small: number;
  workers: number;
  identities: number;
  pollers: number;
  bigPeer: boolean;
  intervalMs: number;
  peer: boolean;
}

function parseArgs(args: string[]): Options {
  return parseFlags<Options>(
    args,
    {
      agents: 10_000,
      small: 1000,
      workers: defaultWorkers(),
      identities: 500,
      pollers: 1000,
      bigPeer: false,
      intervalMs: 5000,
      peer: true,
    },
    {
      '--agents': ['agents', 'int'],
      '--small': ['small', 'int'],
      '--no-small': ['small', 0],
      '--workers': ['workers', 'int'],
      '--identities': ['identities', 'int'],
      '--pollers': ['pollers', 'int'],
      '--big-peer': ['bigPeer', true],
      '--interval-ms': ['intervalMs', 'int'],
      '--no-peer': ['peer', false],
    },
  );
}

/** The server's parts in a profile: the secret's fan-out, the rotate, the HTTP stack. */
const SERVER_PARTS = ['#pushSecret', '#send', '#write', 'rotate', 'parseOptions'];

const documents = [
  ...['inventory', 'orders'].map((name) => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop' },
    spec: {},
  })),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Secret',
    metadata: { name: 'api-key', namespace: 'shop' },
    spec: {
      owner: 'inventory',
      readers: ['inventory'],
      type: 'random',
      random: { length: 40 },
      rotation: { activation: '0s', grace: '1h' },
    },
  },
];

const rotate = async (server: Server) =>
  (await api(server.url, 'POST', `${SECRET_PATH}/rotate`)) as { version: number };

/** Latency figures of `samples` (ms from the rotate) under `prefix`. */
function spread(samples: number[], prefix = ''): Record<string, number> {
  return {
    [`${prefix}p50_ms`]: round(percentile(samples, 50)),
    [`${prefix}p99_ms`]: round(percentile(samples, 99)),
    [`${prefix}max_ms`]: round(percentile(samples, 100)),
  };
}

/** N simulated agents with a `SecretStore` each, one rotation. */
async function measureAgents(
  server: Server,
  o: Options,
  agents: number,
): Promise<Record<string, unknown>> {
  const setup0 = Date.now();
  const identities = Math.min(agents, o.identities);
  const tokens = await prepareNodes(server, `s${agents}`, identities, SERVICE_SPIFFE_ID);
  progress(`agents: ${identities} nodes registered in ${Date.now() - setup0} ms`);
  const parts = Math.min(o.workers, identities);
  const per = Math.ceil(identities / parts);
  const started = Date.now();
  const { workers, ready } = await startWorkers('_secrets-agent-worker.ts', parts, (i) => ({
    url: server.url,
    service: SERVICE,
    secret: SECRET,
    tokens: tokens.slice(i * per, (i + 1) * per),
    agents: shareOf(agents, parts, i),
  }));
  try {
    progress(`agents: setup per worker ${JSON.stringify(ready.map((r) => r.setupMs))}`);
    progress(
      `agents: ${agents} attested, streaming, holding version ${ready[0]!.baseline} in ${Date.now() - started} ms`,
    );
    progress(`agents: server idle after ${await settle(server)} ms`);
    await broadcast(workers, 'arm', 'armed');
    const done = Promise.all(workers.map((w) => w.next('done')));
    await server.profiler?.start();
    const serverCpu0 = cpuMsOf(server.child.pid);
    const t0 = epochNow();
    const rotated = await rotate(server);
    const rotateMs = epochNow() - t0;
    const results = await done;
    const serverCpuMs = cpuMsOf(server.child.pid) - serverCpu0;
    const serverProfile = await server.profiler?.stop(
      `/tmp/prof/server-secrets-${agents}.cpuprofile`,
      SERVER_PARTS,
    );
    const stats = (await api(server.url, 'GET', '/v1/agent/watch/stats')) as {
      lastSecretFanout: {
        revision: number;
        streams: number;
        loadMs: number;
        writeMs: number;
      } | null;
    };
    const latencies = results.flatMap((r) => (r.times as number[]).map((t) => t - t0));
    const clientsCpuMs = round(results.reduce((sum, r) => sum + (r.cpuMs as number), 0));
    const fanout = stats.lastSecretFanout;
    const figures = {
      agents,
      agent_identities: identities,
      version: rotated.version,
      ...spread(latencies),
      rotate_ms: round(rotateMs),
      control_plane: {
        streams_written: fanout?.streams ?? 0,
        load_ms: round(fanout?.loadMs ?? Number.NaN, 2),
        write_ms: round(fanout?.writeMs ?? Number.NaN, 2),
      },
      server_cpu_ms: round(serverCpuMs),
      clients_cpu_ms: clientsCpuMs,
      agent_receipt_cpu_us: round((clientsCpuMs * 1000) / agents),
      setup_ms: Date.now() - setup0,
      ...(process.env.PROF
        ? { profiles: { server: serverProfile, workers: results.map((r) => r.profile) } }
        : {}),
    };
    progress(`agents: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await stopWorkers(workers);
  }
}

/** The peer: P pollers, one GET of the value each per interval, one rotation. */
async function measurePolling(
  server: Server,
  o: Options,
  pollers: number,
  token: string,
): Promise<Record<string, unknown>> {
  const started = Date.now();
  const { workers, ready } = await startWorkers(
    '_secrets-poll-worker.ts',
    Math.min(o.workers, pollers),
    (i, parts) => ({
      url: server.url,
      token,
      secret: SECRET,
      count: shareOf(pollers, parts, i),
      intervalMs: o.intervalMs,
    }),
  );
  try {
    progress(
      `polling: ${pollers} pollers each holding version ${ready[0]!.baseline} in ${Date.now() - started} ms`,
    );
    await broadcast(workers, 'arm', 'armed');
    const done = Promise.all(workers.map((w) => w.next('done')));
    await server.profiler?.start();
    const serverCpu0 = cpuMsOf(server.child.pid);
    const t0 = epochNow();
    const rotated = await rotate(server);
    const rotateMs = epochNow() - t0;
    const results = await done;
    const windowMs = epochNow() - t0;
    const serverCpuMs = cpuMsOf(server.child.pid) - serverCpu0;
    const serverProfile = await server.profiler?.stop(
      `/tmp/prof/server-secrets-poll-${pollers}.cpuprofile`,
      ['secretRoutes', 'appendAudit', 'read', 'authenticate', 'parseOptions'],
    );
    const latencies = results.flatMap((r) => (r.times as number[]).map((t) => t - t0));
    const requests = results.flatMap((r) => r.latencies as number[]);
    const figures = {
      pollers,
      interval_ms: o.intervalMs,
      version: rotated.version,
      ...spread(latencies),
      rotate_ms: round(rotateMs),
      // The polling load while measured: what the control plane answers for this model.
      requests: requests.length,
      requests_per_s: round((requests.length * 1000) / windowMs),
      offered_per_s: round((pollers * 1000) / o.intervalMs),
      ...spread(requests, 'request_'),
      errors: results.reduce((sum, r) => sum + (r.errors as number), 0),
      server_cpu_ms: round(serverCpuMs),
      // Share of one core the server used over the window (1 = one core busy throughout).
      server_cpu_cores: round(serverCpuMs / windowMs, 2),
      clients_cpu_ms: round(results.reduce((sum, r) => sum + (r.cpuMs as number), 0)),
      ...(process.env.PROF
        ? { profiles: { server: serverProfile, workers: results.map((r) => r.profile) } }
        : {}),
    };
    progress(`polling: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await stopWorkers(workers);
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parseArgs(args);
  if (process.env.PROF) mkdirSync('/tmp/prof', { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-secrets-propagation-'));
  const server = await startControlPlane(dir);
  try {
    progress(
      `control plane at ${server.url}; ${o.small || 'no'} then ${o.agents} agents over ${o.workers} processes; peer: ${o.peer ? `${o.pollers}${o.bigPeer ? ` and ${o.agents}` : ''} pollers every ${o.intervalMs} ms` : 'none'}`,
    );
    await applyPolicy(server.url, documents);
    await api(server.url, 'PUT', SECRET_PATH, {
      data: {
        value: Buffer.from(crypto.getRandomValues(new Uint8Array(30))).toString('base64url'),
      },
    });
    const small = o.small > 0 ? await measureAgents(server, o, o.small) : undefined;
    const big = await measureAgents(server, o, o.agents);
    const peers: Record<string, unknown> = {};
    if (o.peer) {
      const { token } = (await api(server.url, 'POST', '/v1/tokens', {
        name: 'bench-poller',
        scope: 'pdp',
        services: [SERVICE],
      })) as { token: string };
      for (const p of o.bigPeer ? [o.pollers, o.agents] : [o.pollers]) {
        peers[`at_${p}`] = await measurePolling(server, o, p, token);
      }
    }
    return {
      design: 'push: one agent stream per node, event: secret',
      workers: o.workers,
      [`at_${o.agents}`]: big,
      ...(small ? { [`at_${o.small}`]: small } : {}),
      peer: o.peer
        ? {
            name: `polling (Vault Agent's model): GET the value every ${o.intervalMs} ms per agent`,
            ...peers,
          }
        : 'skipped (--no-peer)',
    };
  } finally {
    await stopControlPlane(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
