/**
 * `npm run bench -- metrics-overhead [--duration S] [--rounds N] [--connections C]`
 *
 * What the control plane's request metrics (`ward_http_requests_total` and the duration
 * histogram, recorded in an onResponse hook) cost on a cheap route, `GET /healthz`: two real
 * control planes (SQLite, temp data dirs), one with the hook and one without
 * (`startServer({ requestMetrics: false })`), each in its own child process pinned to core 0,
 * loaded by autocannon from this process on core 1, in alternating rounds so machine noise hits
 * both alike. A scrape of the instrumented server afterwards checks the hook really counted.
 *
 * Figures: `rps` (with metrics) and `peer_rps` (without), each the best round; `overhead_pct`
 * from those; `median_pair_overhead_pct`, the median of the per-round ratios; `cpu_us_per_req`
 * and `peer_cpu_us_per_req` from the server processes' own CPU time (least disturbed by other
 * load on a shared machine), and `cpu_overhead_pct` from those; `record_ns`, the hook's own cost
 * per request measured in process (fastest of several blocks of 1,000,000 recordings), and
 * `own_overhead_pct`, that cost against the peer's CPU per request: the figure least disturbed
 * by other load on a shared machine.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ServerMetrics } from '@ward/server';
import autocannon from 'autocannon';
import { nowNs, progress, round } from './_stats.ts';

const SELF = fileURLToPath(import.meta.url);
const PATH = '/healthz';
const ADMIN = 'bench-admin-token-0123456789abcdef';

// ---------------------------------------------------------------------------------------------
// Child: one control plane per process.

async function serve(mode: string): Promise<void> {
  const { generateSealKey, parseSealKey } = await import('@ward/ca');
  const { startServer } = await import('@ward/server');
  const dataDir = mkdtempSync(join(tmpdir(), `ward-bench-metrics-${mode}-`));
  const server = await startServer({
    dataDir,
    port: 0,
    adminToken: ADMIN,
    sealKey: parseSealKey(generateSealKey()),
    env: {},
    requestMetrics: mode === 'on',
  });
  const stop = async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // CPU time of this process, on a side port.
  const stats = createServer((_req, res) => {
    const { user, system } = process.cpuUsage();
    res.end(String(user + system));
  });
  await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
  const statsUrl = `http://127.0.0.1:${(stats.address() as AddressInfo).port}`;
  process.stdout.write(`${JSON.stringify({ url: server.url, statsUrl })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent: servers, load, figures.

function pin(core: number, pid: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Child {
  url: string;
  statsUrl: string;
  child: ChildProcess;
}

async function startChild(mode: 'on' | 'off', pinned: boolean): Promise<Child> {
  const args = ['--no-warnings', SELF, '--serve', mode];
  const child = pinned
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const started = await new Promise<{ url: string; statsUrl: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
    lines.once('line', (line) => resolve(JSON.parse(line) as { url: string; statsUrl: string }));
  });
  return { ...started, child };
}

async function stopChild(c: Child): Promise<void> {
  if (c.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => c.child.once('exit', () => resolve()));
  c.child.kill('SIGTERM');
  await exited;
}

async function cpuOf(c: Child): Promise<number> {
  return Number(await (await fetch(c.statsUrl)).text());
}

interface Load {
  rps: number;
  cpuUs: number;
  non2xx: number;
  errors: number;
}

async function load(c: Child, connections: number, duration: number): Promise<Load> {
  const cpu0 = await cpuOf(c);
  const r = await autocannon({ url: `${c.url}${PATH}`, connections, duration });
  const cpu = (await cpuOf(c)) - cpu0;
  return {
    rps: r.requests.average,
    cpuUs: cpu / Math.max(1, r.requests.total),
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

/** What recording one request costs, in ns: the fastest of `blocks` blocks of 1,000,000. */
function recordNs(blocks = 5): number {
  const metrics = new ServerMetrics({ defaultMetrics: false });
  const routes = ['/healthz', '/v1/revision', '/v1/bundles/:service', undefined];
  let best = Number.POSITIVE_INFINITY;
  for (let b = 0; b < blocks; b++) {
    const n = 1_000_000;
    const t = nowNs();
    for (let i = 0; i < n; i++) metrics.request('GET', routes[i & 3], 200, 0.0002 * (i & 7));
    best = Math.min(best, (nowNs() - t) / n);
  }
  return best;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const duration = flag(args, '--duration', 5);
  const rounds = flag(args, '--rounds', 4);
  const connections = flag(args, '--connections', 10);
  const pinned = pin(1, process.pid);
  const on = await startChild('on', pinned);
  const off = await startChild('off', pinned);
  try {
    // Warm both (JIT, connection pools) before measuring.
    await load(on, connections, 1);
    await load(off, connections, 1);
    const withMetrics: Load[] = [];
    const without: Load[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so a drift in background load hits both alike.
      const order = i % 2 === 0 ? ([on, off] as const) : ([off, on] as const);
      for (const c of order) {
        const r = await load(c, connections, duration);
        (c === on ? withMetrics : without).push(r);
        progress(
          `round ${i + 1}/${rounds} ${c === on ? 'metrics' : 'no metrics'}: ${Math.round(r.rps)} req/s, ${round(r.cpuUs, 1)} µs CPU/req`,
        );
      }
    }
    const bad = [...withMetrics, ...without].reduce((n, r) => n + r.non2xx + r.errors, 0);
    // The instrumented server counted what it served; the other registered no request series.
    const scrape = async (c: Child) =>
      (await fetch(`${c.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const counted = /ward_http_requests_total\{[^}]*route="\/healthz"[^}]*\} (\d+)/.exec(
      await scrape(on),
    );
    const offCounted = /ward_http_requests_total\{[^}]*route="\/healthz"/.test(await scrape(off));
    const best = (xs: Load[]) => Math.max(...xs.map((x) => x.rps));
    const cpu = (xs: Load[]) => median(xs.map((x) => x.cpuUs));
    const ownNs = recordNs();
    const rps = best(withMetrics);
    const peerRps = best(without);
    return {
      route: `GET ${PATH}`,
      rps: Math.round(rps),
      peer_rps: Math.round(peerRps),
      overhead_pct: round((1 - rps / peerRps) * 100, 2),
      median_pair_overhead_pct: round(
        median(withMetrics.map((w, i) => (1 - w.rps / without[i]!.rps) * 100)),
        2,
      ),
      cpu_us_per_req: round(cpu(withMetrics), 2),
      peer_cpu_us_per_req: round(cpu(without), 2),
      cpu_overhead_pct: round((cpu(withMetrics) / cpu(without) - 1) * 100, 2),
      record_ns: round(ownNs, 1),
      own_overhead_pct: round((ownNs / 1000 / cpu(without)) * 100, 3),
      healthz_counted: counted ? Number(counted[1]) : 0,
      peer_has_request_series: offCounted,
      failed_requests: bad,
      rounds,
      duration_s: duration,
      connections,
      pinned: pinned ? 'servers core 0, load core 1' : 'not pinned (taskset unavailable)',
    };
  } finally {
    await stopChild(on);
    await stopChild(off);
  }
}

if (process.argv[1] === SELF && process.argv[2] === '--serve') {
  await serve(process.argv[3]!);
}
