/**
 * `npm run bench -- propagation [--agents N] [--small M] [--pdps-per-agent K] [--full]
 *   [--workers W] [--peer-pdps P] [--no-peer] [--no-small] [--hop-rounds R] [--identities I]`
 *
 * Fan-out through node agents (issue 10 item 4). ONE real `ward server` process (SQLite) serves
 * simulated node agents, each holding ONE agent-scoped watch stream, spread over W client
 * processes (default: one per core, 2 to 8). One intention change to `orders` (a service every
 * node runs) is applied per run. The default run (~3 min) is:
 *
 * 1. FULL at M agents (default 1,000) × K PDPs (default 10): every PDP's verify-compile-swap
 *    runs on this box too. Reports (a) `control_plane` — the server's own timing of the fan-out
 *    from `GET /v1/agent/watch/stats` (`build_ms`, `write_ms` to every agent stream) and when
 *    the agents had it (`agent_p50_ms`…, from just before the apply request, `apply_ms`
 *    included); (b) `pdp.vcs_*` one PDP's verify-compile-swap; (c) `e2e_*` until each of the
 *    M×K PDPs swapped the new bundle. (c) is CPU-BOUND ON THIS BOX: M×K verify-compile-swaps
 *    that a fleet runs on M nodes' cores here share two cores with the server and the agents.
 * 2. AGENTS-ONLY at N agents (default 10,000): the worker processes only receive, parse and hold
 *    each agent's event — no PDP CPU on the box — so `agent_*` is the control plane's fan-out
 *    plus the agents' receipt (5,000 agents per process on two cores: agent k of a process waits
 *    for the k-1 before it, which a real node's agent does not). `agent_receipt_cpu_us` is one
 *    receipt's CPU. `--full` runs N × K instead (100,000 PDPs at the defaults: tens of seconds).
 * 3. `hop`: the agent → PDP hop on REAL parts — a real agent (`startAgent`) and a real
 *    `createPdp({ agentSocket })` over its Unix socket, agent holds the bundle → PDP swapped it,
 *    that PDP's verify-compile-swap included — over R changes (default 20).
 * 4. (c') `per_node`: what a node of an N-node fleet sees, composed (not measured in one piece):
 *    the agents' receipt distribution of run 2 plus the hop's (p50 + p50, p99 + p99). On a real
 *    fleet each node's PDPs run on that node's cores, so the hop does not queue behind 100,000
 *    other PDPs as it must on this box. `fleet_model_p99_ms` (agents-only) = apply + write +
 *    one receipt's CPU + hop p99: a model from measured parts, network latency excluded.
 * 5. `peer`: the old design in the same run, P PDPs (default 2,000) each holding its own stream.
 *
 * What is simulated (see bench/_propagation-agent-worker.ts): the agents are real agent code
 * (attestation, proofs, `BundleFeed`), their streams sharing `--identities` (default 500)
 * attested agent identities round-robin (set-up cost only: each stream is still its own
 * connection, proof check and write); in FULL runs the hop to their PDPs is in-process and the
 * PDPs are their install step (verify, floor, compile, swap), all of one worker on one event loop.
 *
 * `PROF=1` profiles the measured window only (set-up excluded): the agent workers in-process
 * (summary in the JSON, `.cpuprofile` files in /tmp/prof) and the server through its inspector
 * (`--inspect=127.0.0.1:0`, bench/_inspector-profile.ts). The in-process profiler's own start
 * shows as `post node:inspector` in the workers' summaries: not work of the agents.
 *
 * File descriptors: the server holds N sockets, each worker N/W: `ulimit -n` of at least N + 1,000.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgent } from '@ward/agent';
import pino from 'pino';
import { createPdp } from '../packages/sdk/src/index.ts';
import {
  ADMIN_TOKEN,
  api,
  applyPolicy,
  broadcast,
  cpuMsOf,
  defaultWorkers,
  epochNow,
  parseFlags,
  prepareNodes,
  type Server,
  shareOf,
  startControlPlane,
  startWorkers,
  stopControlPlane,
  stopWorkers,
  TRUST_DOMAIN,
} from './_agent-fleet.ts';
import { percentile, progress, round } from './_stats.ts';

/** The service key of `orders` in namespace `shop` (every node runs it). */
const SERVICE = 'shop/orders';
const SERVICE_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/orders`;

interface Options {
  agents: number;
  small: number;
  pdpsPerAgent: number;
  workers: number;
  peerPdps: number;
  peer: boolean;
  /** Distinct attested agent identities; the agents' streams share them round-robin. */
  identities: number;
  hopRounds: number;
  /** The big run with its PDPs on this box too (N×K), instead of agents-only. */
  full: boolean;
}

function parseArgs(args: string[]): Options {
  return parseFlags<Options>(
    args,
    {
      agents: 10_000,
      small: 1000,
      pdpsPerAgent: 10,
      workers: defaultWorkers(),
      peerPdps: 2000,
      peer: true,
      hopRounds: 20,
      identities: 500,
      full: false,
    },
    {
      '--agents': ['agents', 'int'],
      '--small': ['small', 'int'],
      '--no-small': ['small', 0],
      '--pdps-per-agent': ['pdpsPerAgent', 'int'],
      '--workers': ['workers', 'int'],
      '--peer-pdps': ['peerPdps', 'int'],
      '--no-peer': ['peer', false],
      '--hop-rounds': ['hopRounds', 'int'],
      '--identities': ['identities', 'int'],
      '--full': ['full', true],
    },
  );
}

/** The server's parts in a profile: the fan-out (build, write) and the HTTP/TLS stack. */
const SERVER_PARTS = ['#push', '#build', '#send', '#write', 'applyDocuments', 'parseOptions'];

function documents(allowed: string[]): unknown[] {
  const names = ['orders', 'checkout', 'billing', 'shipping'];
  return [
    ...names.map((name) => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name, namespace: 'shop' },
      spec: {},
    })),
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'orders-callers', namespace: 'shop' },
      spec: { destination: 'orders', rules: [{ sources: allowed, action: 'allow' }] },
    },
  ];
}

const applyDocuments = (url: string, allowed: string[]) => applyPolicy(url, documents(allowed));

/**
 * The peer (the old design): `count` PDPs each holding its own watch stream on the control plane
 * (pushed bundles), one change, and the arrival time of each.
 */
async function measureDirect(
  server: Server,
  o: Options,
  count: number,
  change: string[],
): Promise<Record<string, number>> {
  const started = Date.now();
  // The PDP workers profile with --cpu-prof (the whole process), the agent workers in-process.
  const { workers } = await startWorkers(
    '_propagation-worker.ts',
    Math.min(o.workers, count),
    (i, parts) => ({
      mode: 'watch',
      url: server.url,
      publicKey: server.publicKey,
      token: ADMIN_TOKEN,
      service: SERVICE,
      count: shareOf(count, parts, i),
      pollMs: 1000,
    }),
    { cpuProf: Boolean(process.env.PROF) },
  );
  try {
    progress(`direct: ${count} PDPs connected and holding a bundle in ${Date.now() - started} ms`);
    await broadcast(workers, 'arm', 'armed');
    const done = Promise.all(workers.map((w) => w.next('done')));
    const serverCpu0 = cpuMsOf(server.child.pid);
    const t0 = epochNow();
    await applyDocuments(server.url, change);
    const applyMs = epochNow() - t0;
    const results = await done;
    const serverCpuMs = cpuMsOf(server.child.pid) - serverCpu0;
    const latencies = new Float64Array(count);
    const events = new Float64Array(count);
    let k = 0;
    let e = 0;
    for (const r of results) {
      for (const t of r.times as number[]) latencies[k++] = t - t0;
      for (const t of r.eventTimes as number[]) if (t > 0) events[e++] = t - t0;
    }
    const eventFigures: Record<string, number> = {
      // When the stream delivered the event: the fan-out alone, before verify and compile.
      event_p50_ms: round(percentile(events.subarray(0, e), 50)),
      event_p99_ms: round(percentile(events.subarray(0, e), 99)),
    };
    const figures = {
      pdps: count,
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      max_ms: round(percentile(latencies, 100)),
      // The change request itself (the API's apply, store commit and bundle invalidation): part of
      // every watcher's latency, shown apart so the propagation proper can be read off.
      apply_ms: round(applyMs),
      ...eventFigures,
      // CPU spent from the change until the last watcher had it: where the time goes on a box
      // that runs the control plane and the whole simulated fleet.
      server_cpu_ms: round(serverCpuMs),
      clients_cpu_ms: round(results.reduce((sum, r) => sum + (r.cpuMs as number), 0)),
    };
    progress(`direct: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await stopWorkers(workers);
  }
}

/** N simulated agents × K PDPs, one change: figures (a), (b) and (c). */
async function measureAgents(
  server: Server,
  o: Options,
  agents: number,
  pdpsPerAgent: number,
  change: string[],
): Promise<Record<string, unknown>> {
  const setup0 = Date.now();
  const identities = Math.min(agents, o.identities);
  const tokens = await prepareNodes(server, `n${agents}`, identities, SERVICE_SPIFFE_ID);
  progress(`agents: ${identities} nodes registered in ${Date.now() - setup0} ms`);
  const started = Date.now();
  const parts = Math.min(o.workers, identities);
  const per = Math.ceil(identities / parts);
  const { workers, ready } = await startWorkers('_propagation-agent-worker.ts', parts, (i) => ({
    url: server.url,
    publicKey: server.publicKey,
    service: SERVICE,
    tokens: tokens.slice(i * per, (i + 1) * per),
    agents: shareOf(agents, parts, i),
    pdpsPerAgent,
  }));
  try {
    progress(`agents: setup per worker ${JSON.stringify(ready.map((r) => r.setupMs))}`);
    progress(
      `agents: ${agents} attested, streaming, ${agents * pdpsPerAgent} PDPs holding a bundle in ${Date.now() - started} ms`,
    );
    await broadcast(workers, 'arm', 'armed');
    const done = Promise.all(workers.map((w) => w.next('done')));
    await server.profiler?.start();
    const serverCpu0 = cpuMsOf(server.child.pid);
    const t0 = epochNow();
    await applyDocuments(server.url, change);
    const applyMs = epochNow() - t0;
    const results = await done;
    const serverCpuMs = cpuMsOf(server.child.pid) - serverCpu0;
    const serverProfile = await server.profiler?.stop(
      `/tmp/prof/server-${agents}-${pdpsPerAgent}.cpuprofile`,
      SERVER_PARTS,
    );
    const stats = (await api(server.url, 'GET', '/v1/agent/watch/stats')) as {
      open: number;
      lastFanout: { streams: number; buildMs: number; writeMs: number } | null;
    };
    const agentLat = results.flatMap((r) => (r.agentTimes as number[]).map((t) => t - t0));
    const e2e = results.flatMap((r) => (r.pdpTimes as number[]).map((t) => t - t0));
    const vcs = results.flatMap((r) => r.vcsMs as number[]);
    const clientsCpuMs = round(results.reduce((sum, r) => sum + (r.cpuMs as number), 0));
    const figures = {
      mode: pdpsPerAgent > 0 ? `full: ${pdpsPerAgent} PDPs per agent on this box` : 'agents-only',
      agents,
      agent_identities: identities,
      pdps: e2e.length,
      control_plane: {
        streams_written: stats.lastFanout?.streams ?? 0,
        build_ms: round(stats.lastFanout?.buildMs ?? Number.NaN, 2),
        write_ms: round(stats.lastFanout?.writeMs ?? Number.NaN, 2),
        apply_ms: round(applyMs),
        agent_p50_ms: round(percentile(agentLat, 50)),
        agent_p99_ms: round(percentile(agentLat, 99)),
        agent_max_ms: round(percentile(agentLat, 100)),
      },
      ...(pdpsPerAgent > 0
        ? {
            pdp: {
              vcs_p50_ms: round(percentile(vcs, 50), 3),
              vcs_p99_ms: round(percentile(vcs, 99), 3),
            },
            e2e_p50_ms: round(percentile(e2e, 50)),
            e2e_p99_ms: round(percentile(e2e, 99)),
            e2e_max_ms: round(percentile(e2e, 100)),
          }
        : {}),
      server_cpu_ms: round(serverCpuMs),
      clients_cpu_ms: clientsCpuMs,
      // Agents-only: what one agent's receipt of the change costs (SSE read, parse, checks):
      // the client processes' CPU over the change divided by the agents.
      ...(pdpsPerAgent === 0
        ? { agent_receipt_cpu_us: round((clientsCpuMs * 1000) / agents) }
        : {}),
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

/**
 * The agent → PDP hop on real parts: a real `ward agent` (startAgent) and a real
 * `createPdp({ agentSocket })` over its Unix socket. Per change: from the agent holding the new
 * bundle to the PDP having verified, compiled and swapped it.
 */
async function measureHop(
  server: Server,
  dir: string,
  rounds: number,
): Promise<Record<string, number>> {
  const [token] = await prepareNodes(server, 'hop', 1, SERVICE_SPIFFE_ID);
  const socketPath = join(dir, 'hop-agent.sock');
  const agent = await startAgent({
    controlPlane: server.url,
    joinToken: token!,
    socketPath,
    logger: pino({ level: 'silent' }),
  });
  let agentAt = 0;
  let swappedAt = 0;
  agent.bundles!.on('bundle', () => {
    agentAt = performance.now();
  });
  const pdp = createPdp({
    service: SERVICE,
    agentSocket: socketPath,
    publicKey: server.publicKey,
    revisionFloor: false,
    logger: {
      warn() {},
      info() {
        swappedAt = performance.now();
      },
    },
  });
  const hops: number[] = [];
  try {
    await pdp.waitReady({ timeoutMs: 30_000 });
    for (let k = 0; k < rounds; k++) {
      const before = pdp.revision();
      await applyDocuments(server.url, k % 2 === 0 ? ['checkout'] : ['checkout', 'billing']);
      while (pdp.revision() <= before) await sleep(2);
      hops.push(swappedAt - agentAt);
    }
  } finally {
    await pdp.close();
    await agent.close();
  }
  return {
    hop_p50_ms: round(percentile(hops, 50), 3),
    hop_p99_ms: round(percentile(hops, 99), 3),
    hop_max_ms: round(percentile(hops, 100), 3),
    rounds,
  };
}

/**
 * (c') What a node of a fleet of N would see: when its agent had the change (measured, N agents
 * on this box with no PDP work beside them) plus the agent → PDP hop (measured on a real agent
 * and a real PDP over the Unix socket, which includes that PDP's verify-compile-swap). Composed,
 * not measured in one piece: on a real fleet each node's PDPs run on that node's own cores, so
 * the hop does not queue behind the other nodes' PDPs the way it must on this one box. The p99
 * is the sum of the two p99s (no better than that is claimed for two independent parts).
 */
function perNode(
  big: Record<string, unknown>,
  hop: Record<string, number>,
): Record<string, unknown> {
  const cp = big.control_plane as Record<string, number>;
  const receiptUs = big.agent_receipt_cpu_us as number | undefined;
  return {
    composed_of: `agent receipt at ${big.agents} agents (${big.mode}) + real agent→PDP hop`,
    e2e_p50_ms: round(cp.agent_p50_ms! + hop.hop_p50_ms!),
    e2e_p99_ms: round(cp.agent_p99_ms! + hop.hop_p99_ms!),
    e2e_max_ms: round(cp.agent_max_ms! + hop.hop_max_ms!),
    // A model from measured parts, not a measurement: the last stream is written by apply +
    // write; its agent, alone on its node, spends one receipt's CPU; then the hop (p99). Network
    // latency to the node is not included (loopback here).
    // Only agents-only runs measure one receipt's CPU (in full runs the PDPs share the clock).
    ...(receiptUs === undefined
      ? {}
      : {
          fleet_model_p99_ms: round(
            cp.apply_ms! + cp.write_ms! + receiptUs / 1000 + hop.hop_p99_ms!,
          ),
        }),
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parseArgs(args);
  if (process.env.PROF) mkdirSync('/tmp/prof', { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-propagation-'));
  const server = await startControlPlane(dir);
  try {
    progress(
      `control plane at ${server.url}; ${o.small} agents × ${o.pdpsPerAgent} PDPs, then ${o.agents} agents × ${o.full ? o.pdpsPerAgent : 0} PDPs, over ${o.workers} processes`,
    );
    await applyDocuments(server.url, ['checkout']);
    // (c) as measured with everything on this box, at M agents × K PDPs.
    const small =
      o.small > 0
        ? await measureAgents(server, o, o.small, o.pdpsPerAgent, ['checkout', 'billing'])
        : undefined;
    // (c') the per-node view at N agents: agents-only unless --full.
    const big = await measureAgents(server, o, o.agents, o.full ? o.pdpsPerAgent : 0, [
      'checkout',
      'shipping',
    ]);
    const hop = await measureHop(server, dir, o.hopRounds);
    progress(`hop: ${JSON.stringify(hop)}`);
    const peer = o.peer
      ? await measureDirect(server, o, o.peerPdps, ['checkout', 'billing', 'shipping'])
      : undefined;
    return {
      design: 'agents',
      workers: o.workers,
      pdps_per_agent: o.pdpsPerAgent,
      [`at_${o.agents}`]: big,
      per_node: perNode(big, hop),
      hop,
      ...(small ? { [`at_${o.small}`]: small } : {}),
      peer: peer
        ? { name: 'direct: every PDP holds its own stream (the old design)', ...peer }
        : 'skipped (--no-peer)',
    };
  } finally {
    await stopControlPlane(server);
    rmSync(dir, { recursive: true, force: true });
  }
}
