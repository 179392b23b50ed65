/**
 * `npm run bench -- propagation [--watchers N] [--workers W] [--poll-ms X] [--no-poll]`
 *
 * N watchers (default 10,000) on ONE control plane (a real `ward server` process on SQLite),
 * spread over W client processes (default: one per core, 2 to 8). Each watcher is a full PDP:
 * its own SSE watch stream, its own bundle fetch, Ed25519 verification and compilation. One
 * intention change is applied; the figure is the time from just before the change request until
 * each watcher holds the new verified bundle (`p50_ms`, `p99_ms`, `max_ms`, over all N). Also:
 * `apply_ms` (the change request), `event_p50_ms`/`event_p99_ms` (when the streams delivered the
 * event), and the CPU the server and the clients spent from the change to the last arrival: on
 * one machine the whole simulated fleet shares the cores, so read the latencies with those.
 *
 * Peer, in the same run: the same N watchers long-polling the bundle every X ms (default 1,000)
 * with If-None-Match, verifying and compiling it when it changes. At 10,000 watchers a 1 s poll is
 * 10,000 requests a second, which saturates a small machine by itself; pass `--poll-ms 5000`.
 *
 * File descriptors: the server holds N sockets and each client process N/W plus a few; the bench
 * raises nothing itself (a process cannot raise its own hard limit). With `ulimit -n` below
 * about N + 1,000 the streams fail to open; run `ulimit -n 65536` first if so.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { percentile, progress, round } from './_stats.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');
const SERVICE = 'orders';
const ADMIN_TOKEN = 'ward-bench-admin-token-0123456789abcdef';

interface Options {
  watchers: number;
  workers: number;
  pollMs: number;
  poll: boolean;
}

function parseArgs(args: string[]): Options {
  // One client process per core (at least 2, at most 8): the work is CPU-bound, so more processes
  // than cores only add context switches.
  const workers = Math.min(8, Math.max(2, availableParallelism()));
  const o: Options = { watchers: 10_000, workers, pollMs: 1000, poll: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = () => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--watchers') o.watchers = next();
    else if (a === '--workers') o.workers = next();
    else if (a === '--poll-ms') o.pollMs = next();
    else if (a === '--no-poll') o.poll = false;
    else throw new TypeError(`unknown argument ${a}`);
  }
  return o;
}

interface Server {
  url: string;
  publicKey: string;
  child: ChildProcess;
}

async function startControlPlane(dir: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'packages/cli/src/bin.ts'),
      'server',
      '--db',
      join(dir, 'ward.db'),
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--trust-domain',
      'bench.local',
      '-o',
      'json',
    ],
    {
      env: { ...process.env, WARD_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Never leave the control plane behind, even when the bench itself crashes.
  process.once('exit', () => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ward server exited with ${code}`)));
  });
  lines.on('line', () => {}); // keep draining
  const info = JSON.parse(first) as { url: string; publicKey: string };
  return { url: info.url, publicKey: info.publicKey, child };
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

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
      metadata: { name: 'orders-callers' },
      spec: { destination: 'orders', rules: [{ sources: allowed, action: 'allow' }] },
    },
  ];
}

const applyDocuments = (url: string, allowed: string[]) =>
  api(url, 'POST', '/v1/apply', {
    files: [
      {
        name: 'policy.yaml',
        content: documents(allowed)
          .map((d) => JSON.stringify(d))
          .join('\n---\n'),
      },
    ],
  });

/** User + system CPU time of a process, from /proc (Linux); NaN elsewhere. */
function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat(5); counted here from field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Worker {
  child: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
}

function startWorker(): Worker {
  const child = fork(join(here, '_propagation-worker.ts'), [], {
    execArgv: process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    child,
    async next(type) {
      const m =
        queue.shift() ?? (await new Promise<Record<string, unknown>>((r) => waiters.push(r)));
      if (m.type === 'error') throw new Error(`worker failed: ${m.message}`);
      if (m.type !== type) throw new Error(`worker sent ${m.type}, expected ${type}`);
      return m;
    },
  };
}

/** Runs one round: N watchers in `mode`, one change, and the arrival time of each. */
async function measure(
  server: Server,
  o: Options,
  mode: 'watch' | 'poll',
  change: string[],
): Promise<Record<string, number>> {
  const workers = Array.from({ length: Math.min(o.workers, o.watchers) }, startWorker);
  const base = Math.floor(o.watchers / workers.length);
  const extra = o.watchers % workers.length;
  try {
    const started = Date.now();
    workers.forEach((w, i) => {
      w.child.send({
        type: 'start',
        mode,
        url: server.url,
        publicKey: server.publicKey,
        token: ADMIN_TOKEN,
        service: SERVICE,
        count: base + (i < extra ? 1 : 0),
        pollMs: o.pollMs,
      });
    });
    await Promise.all(workers.map((w) => w.next('ready')));
    progress(
      `${mode}: ${o.watchers} watchers connected and holding a bundle in ${Date.now() - started} ms`,
    );
    // Pollers start at random phases; after one full interval they are in their steady state,
    // spread uniformly relative to the change, as a fleet's would be.
    if (mode === 'poll') await sleep(o.pollMs);
    for (const w of workers) w.child.send({ type: 'arm' });
    await Promise.all(workers.map((w) => w.next('armed')));
    const done = Promise.all(workers.map((w) => w.next('done')));
    const serverCpu0 = cpuMsOf(server.child.pid);
    const t0 = performance.timeOrigin + performance.now();
    await applyDocuments(server.url, change);
    const applyMs = performance.timeOrigin + performance.now() - t0;
    const results = await done;
    const serverCpuMs = cpuMsOf(server.child.pid) - serverCpu0;
    const latencies = new Float64Array(o.watchers);
    const events = new Float64Array(o.watchers);
    let k = 0;
    let e = 0;
    for (const r of results) {
      for (const t of r.times as number[]) latencies[k++] = t - t0;
      for (const t of r.eventTimes as number[]) if (t > 0) events[e++] = t - t0;
    }
    const eventFigures: Record<string, number> =
      mode === 'watch'
        ? {
            // When the stream delivered the event: the fan-out alone, before fetch and verify.
            event_p50_ms: round(percentile(events.subarray(0, e), 50)),
            event_p99_ms: round(percentile(events.subarray(0, e), 99)),
          }
        : {};
    const figures = {
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
    progress(`${mode}: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    for (const w of workers) if (w.child.connected) w.child.send({ type: 'stop' });
    await Promise.all(
      workers.map(
        (w) => new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once('exit', r))),
      ),
    );
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parseArgs(args);
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-propagation-'));
  const server = await startControlPlane(dir);
  try {
    progress(`control plane at ${server.url}; ${o.watchers} watchers over ${o.workers} processes`);
    await applyDocuments(server.url, ['checkout']);
    const watch = await measure(server, o, 'watch', ['checkout', 'billing']);
    const poll = o.poll
      ? await measure(server, o, 'poll', ['checkout', 'billing', 'shipping'])
      : undefined;
    return {
      watchers: o.watchers,
      workers: o.workers,
      ...watch,
      peer: poll ? { name: `long-poll every ${o.pollMs} ms`, ...poll } : 'skipped (--no-poll)',
    };
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}
