/**
 * `npm run bench -- middleware [--duration S] [--rounds N] [--connections C]`
 *
 * Overhead of the Ward Fastify plugin on a hello-world service, against the same service without
 * it (the peer), measured in one run under autocannon on loopback; and the centralized pattern
 * Ward replaces: the same decision made by calling a Cerbos PDP server per request.
 *
 * The machine has 2 cores: each server runs in its own child process pinned to core 0
 * (`taskset -c 0`), Cerbos (GOMAXPROCS=1) shares core 0 with the service as a sidecar would, and
 * this process (autocannon and the decision-log sink) pins itself to core 1. Both servers stay up
 * and are loaded in alternation, so background noise hits both alike; medians are reported.
 *
 * Figures: `rps`, `peer_rps` and `overhead_pct` (target < 5 %) from the best round of each side;
 * `cpu_overhead_pct`, the same from server CPU time per request (read from the server process
 * itself); `median_pair_*`, the medians of the per-round ratios;
 * `p50_ms`, `peer_p50_ms` and `central_p50_ms` from sequential requests on one keep-alive
 * connection (per-request latency, not queueing); `central_rps`; `check_ns` and
 * `ship_ns_per_record`, the middleware's own in-process CPU cost per request (fastest block), and
 * `own_overhead_pct`, that cost against the peer's CPU per request: the overhead figure least
 * disturbed by other load on a shared machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { PolicyDocument, PolicySet } from '@ward/policy';
import type { DecisionLogEntry } from '@ward/sdk';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { cerbosCheckRequest, policyDocuments, startCerbos } from './_middleware-fixture.ts';
import { nowNs, percentile, pin, progress, round } from './_stats.ts';

const SELF = fileURLToPath(import.meta.url);
const PATH = '/orders/42';
const HEADERS = { 'x-ward-source': 'frontend' };

/** The compiled policy (`@ward/policy`). */
async function decider(): Promise<PolicySet> {
  const { compile } = await import('@ward/policy');
  return compile(policyDocuments() as unknown as PolicyDocument[]);
}

// ---------------------------------------------------------------------------------------------
// Child: one server mode per process.

async function serve(mode: string, extra: string | undefined): Promise<void> {
  // Exit normally on a signal, so `--cpu-prof` can write its profile when profiling a server.
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  if (mode === 'ward' || mode === 'ward-nolog') {
    const { createDecisionLogShipper, wardFastify } = await import('@ward/sdk');
    const compiled = await decider();
    const log =
      mode === 'ward'
        ? createDecisionLogShipper({ controlPlanes: extra!, flushIntervalMs: 200 })
        : undefined;
    await app.register(wardFastify, {
      decider: compiled,
      service: 'orders',
      devIdentityHeader: 'x-ward-source',
      ...(log ? { log } : {}),
    });
  }
  if (mode === 'central') {
    const { Pool } = await import('undici');
    const pool = new Pool(extra!, { connections: 64, pipelining: 1 });
    let id = 0;
    app.get('/orders/:id', async (request, reply) => {
      const source = String(request.headers['x-ward-source'] ?? 'anonymous');
      const path = request.url.split('?')[0]!;
      const check = cerbosCheckRequest(String(++id), source, request.method, path);
      const res = await pool.request({
        path: check.path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: check.body,
      });
      const answer = (await res.body.json()) as { results: { actions: Record<string, string> }[] };
      if (answer.results[0]?.actions[request.method] !== 'EFFECT_ALLOW') {
        return reply.code(403).send({ code: 'DENIED' });
      }
      return 'hello world';
    });
  } else {
    app.get('/orders/:id', async () => 'hello world');
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  // CPU time this process has used, on a side port: CPU per request is the figure that other
  // processes on the machine disturb least.
  const stats = createServer((_req, res) => {
    const { user, system } = process.cpuUsage();
    res.end(String(user + system));
  });
  await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
  const statsUrl = `http://127.0.0.1:${(stats.address() as AddressInfo).port}`;
  process.stdout.write(`${JSON.stringify({ url, statsUrl })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent: servers, load, figures.

interface Child {
  url: string;
  statsUrl: string;
  child: ChildProcess;
}

async function startChild(mode: string, extra?: string): Promise<Child> {
  // --no-warnings: the dev-identity warning would only clutter the progress output.
  const args = ['--no-warnings', SELF, '--serve', mode, ...(extra ? [extra] : [])];
  const child = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const { url, statsUrl } = await new Promise<{ url: string; statsUrl: string }>(
    (resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
      lines.once('line', (line) => resolve(JSON.parse(line) as { url: string; statsUrl: string }));
    },
  );
  return { url, statsUrl, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface Load {
  rps: number;
  /** Server CPU microseconds per request. */
  cpuUs: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function cpuOf(server: Child): Promise<number> {
  return Number(await (await fetch(server.statsUrl)).text());
}

async function load(server: Child, connections: number, duration: number): Promise<Load> {
  const cpu0 = await cpuOf(server);
  const r = await autocannon({
    url: `${server.url}${PATH}`,
    connections,
    duration,
    headers: HEADERS,
  });
  const cpu = (await cpuOf(server)) - cpu0;
  return {
    rps: r.requests.average,
    cpuUs: cpu / Math.max(1, r.requests.total),
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Per-request latency on one keep-alive connection, sequential requests (no queueing), ms. */
async function latency(url: string, requests: number): Promise<{ p50: number; p99: number }> {
  const client = new Client(url);
  const samples = new Float64Array(requests);
  try {
    for (let i = -200; i < requests; i++) {
      const t0 = nowNs();
      const res = await client.request({ path: PATH, method: 'GET', headers: HEADERS });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
      if (i >= 0) samples[i] = (nowNs() - t0) / 1e6;
    }
  } finally {
    await client.close();
  }
  return { p50: round(percentile(samples, 50), 3), p99: round(percentile(samples, 99), 3) };
}

/**
 * The middleware's own CPU cost per request, in process, as the fastest of several blocks (other
 * processes on the machine can only slow a block down): `Enforcer.check` with the compiled policy
 * on the same request the load generator sends, and the decision-log shipping work per record
 * (fold, JSON, gzip) on the entries those checks recorded.
 */
async function ownCost(): Promise<{ checkNs: number; shipNs: number }> {
  const { Enforcer, foldRecords } = await import('@ward/sdk');
  const entries: DecisionLogEntry[] = [];
  const log = { record: (e: DecisionLogEntry) => (entries.length < 500 ? entries.push(e) : 0) };
  const warn = process.emitWarning;
  process.emitWarning = () => {}; // the dev-identity warning, once
  const enforcer = new Enforcer({
    decider: await decider(),
    service: 'orders',
    devIdentityHeader: 'x-ward-source',
    log,
  });
  process.emitWarning = warn;
  const headers = { host: '127.0.0.1', 'x-ward-source': 'frontend', accept: '*/*' };
  let checkNs = Number.POSITIVE_INFINITY;
  for (let block = 0; block < 12; block++) {
    const t0 = nowNs();
    for (let i = 0; i < 20_000; i++) enforcer.check(null, 'GET', PATH, headers, '/orders/:id');
    if (block > 1) checkNs = Math.min(checkNs, (nowNs() - t0) / 20_000);
  }
  if (entries.length !== 500 || entries[0]!.effect !== 'allow') {
    throw new Error('the bench request is not allowed by the bench policy');
  }
  let shipNs = Number.POSITIVE_INFINITY;
  for (let block = 0; block < 12; block++) {
    const t0 = nowNs();
    for (let i = 0; i < 20; i++)
      gzipSync(JSON.stringify({ records: foldRecords(entries) }), { level: 1 });
    if (block > 1) shipNs = Math.min(shipNs, (nowNs() - t0) / (20 * entries.length));
  }
  return { checkNs, shipNs };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const duration = opt('duration', 3);
  const rounds = opt('rounds', 6);
  const connections = opt('connections', 32);
  const pinned = pin(1, process.pid);
  progress(
    `middleware: ${rounds} rounds × ${duration}s, ${connections} connections, pinned=${pinned}`,
  );

  // The control plane stand-in that receives the decision logs the Ward server ships.
  let logged = 0;
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      logged++;
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

  const { checkNs, shipNs } = await ownCost();
  progress(
    `  Enforcer.check: ${round(checkNs, 0)} ns per call; shipping ${round(shipNs, 0)} ns per record`,
  );

  // Both servers stay up; only one is loaded at a time, alternating, so drifting background load
  // (other processes on this 2-core machine) hits both alike. The figure is the median of the
  // per-round ratios.
  const ward = await startChild('ward', sinkUrl);
  const peer = await startChild('peer');
  const ours: Load[] = [];
  const peers: Load[] = [];
  const overheads: number[] = [];
  const cpuOverheads: number[] = [];
  let oursLatency: { p50: number; p99: number };
  let peerLatency: { p50: number; p99: number };
  try {
    await load(peer, connections, 2); // warm-up: JIT, connection pools
    await load(ward, connections, 2);
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 ? 'ward' : 'peer';
      const a = await load(first === 'ward' ? ward : peer, connections, duration);
      const b = await load(first === 'ward' ? peer : ward, connections, duration);
      const [w, p] = first === 'ward' ? [a, b] : [b, a];
      ours.push(w);
      peers.push(p);
      overheads.push((1 - w.rps / p.rps) * 100);
      cpuOverheads.push((w.cpuUs / p.cpuUs - 1) * 100);
      progress(
        `  round ${r + 1}: ward ${Math.round(w.rps)} req/s ${round(w.cpuUs, 1)} cpu-us/req, peer ${Math.round(p.rps)} req/s ${round(p.cpuUs, 1)} cpu-us/req`,
      );
    }
    oursLatency = await latency(ward.url, 3000);
    peerLatency = await latency(peer.url, 3000);
  } finally {
    await stop(ward.child);
    await stop(peer.child);
  }

  const cerbos = await startCerbos();
  let central: Load;
  let centralLatency: { p50: number; p99: number };
  try {
    const c = await startChild('central', cerbos.url);
    try {
      await load(c, connections, 2);
      central = await load(c, connections, duration);
      progress(`  central: ${Math.round(central.rps)} req/s`);
      centralLatency = await latency(c.url, 3000);
    } finally {
      await stop(c.child);
    }
  } finally {
    cerbos.child.kill('SIGTERM');
    rmSync(cerbos.dir, { recursive: true, force: true });
  }
  sink.close();

  // Best of N: on a shared machine every disturbance only ever lowers throughput and raises CPU
  // time, so the best round of each side is the closest to its undisturbed cost. The medians of
  // the per-round pairs are reported beside it.
  const rps = Math.max(...ours.map((l) => l.rps));
  const peerRps = Math.max(...peers.map((l) => l.rps));
  const cpuUs = Math.min(...ours.map((l) => l.cpuUs));
  const peerCpuUs = Math.min(...peers.map((l) => l.cpuUs));
  const bad = [...ours, ...peers, central].reduce((s, l) => s + l.non2xx + l.errors, 0);
  return {
    rps: Math.round(rps),
    peer_rps: Math.round(peerRps),
    overhead_pct: round((1 - rps / peerRps) * 100, 2),
    cpu_overhead_pct: round((cpuUs / peerCpuUs - 1) * 100, 2),
    median_pair_overhead_pct: round(median(overheads), 2),
    median_pair_cpu_overhead_pct: round(median(cpuOverheads), 2),
    cpu_us_per_req: round(cpuUs, 2),
    peer_cpu_us_per_req: round(peerCpuUs, 2),
    central_cpu_us_per_req: round(central.cpuUs, 2),
    p50_ms: oursLatency.p50,
    p99_ms: oursLatency.p99,
    peer_p50_ms: peerLatency.p50,
    central_rps: Math.round(central.rps),
    central_p50_ms: centralLatency.p50,
    central_p99_ms: centralLatency.p99,
    central_vs_ours_rps: round(central.rps / rps, 3),
    check_ns: round(checkNs, 0),
    ship_ns_per_record: round(shipNs, 0),
    // What the middleware adds per request, measured in process, against the peer's CPU cost.
    own_overhead_pct: round(((checkNs + shipNs) / 1000 / peerCpuUs) * 100, 2),
    rounds_overhead_pct: overheads.map((o) => round(o, 1)),
    rounds_cpu_overhead_pct: cpuOverheads.map((o) => round(o, 1)),
    decision_log_batches: logged,
    failed_requests: bad,
    connections,
    duration_s: duration,
    pinned: pinned ? 'servers+cerbos core 0, load core 1' : 'not pinned (taskset unavailable)',
    target_overhead_pct: 5,
  };
}

if (process.argv[1] === SELF && process.argv[2] === '--serve') {
  await serve(process.argv[3]!, process.argv[4]);
}
