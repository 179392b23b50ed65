/**
 * The control-plane side of the fleet benchmarks (`propagation`, `secrets-propagation`): one real
 * `ward server` process (SQLite; `ward server` registers the CA and secrets plugins), the admin
 * API, registered nodes with join tokens, and the client processes ("workers") that run the
 * simulated agents or PDPs (bench/_agent-fleet-client.ts is their side).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { inspectorUrlOf, RemoteProfiler } from './_inspector-profile.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');
export const ADMIN_TOKEN = 'ward-bench-admin-token-0123456789abcdef';
export const TRUST_DOMAIN = 'bench.local';

/** One client process per core (at least 2, at most 8): the work is CPU-bound. */
export function defaultWorkers(): number {
  return Math.min(8, Math.max(2, availableParallelism()));
}

export interface Server {
  url: string;
  publicKey: string;
  child: ChildProcess;
  /** PROF=1: the server's CPU profiler, run over each measured change only. */
  profiler?: RemoteProfiler;
}

/** Starts `ward server` on SQLite in `dir`, with watch limits a fleet on one address needs. */
export async function startControlPlane(dir: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.PROF ? ['--inspect=127.0.0.1:0'] : []),
      join(root, 'packages/cli/src/bin.ts'),
      'server',
      '--db',
      join(dir, 'ward.db'),
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--trust-domain',
      TRUST_DOMAIN,
      '-o',
      'json',
      // Every simulated agent and PDP connects from 127.0.0.1.
      '--watch-max-per-address',
      '1000000',
      '--watch-max-total',
      '1000000',
      '--watch-max-per-credential',
      '1000000',
    ],
    {
      env: { ...process.env, WARD_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'pipe', process.env.PROF ? 'pipe' : 'inherit'],
    },
  );
  const inspector = process.env.PROF
    ? new Promise<string>((resolve) => {
        createInterface({ input: child.stderr! }).on('line', (line) => {
          const url = inspectorUrlOf(line);
          if (url) resolve(url);
          else process.stderr.write(`${line}\n`);
        });
      })
    : undefined;
  // Never leave the control plane behind, even when the bench itself crashes or is killed.
  process.once('exit', () => child.kill('SIGKILL'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(130));
  }
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ward server exited with ${code}`)));
  });
  lines.on('line', () => {}); // keep draining
  const info = JSON.parse(first) as { url: string; publicKey: string };
  const profiler = inspector ? await RemoteProfiler.connect(await inspector) : undefined;
  return { url: info.url, publicKey: info.publicKey, child, ...(profiler ? { profiler } : {}) };
}

/** Stops the control plane (SIGTERM) and waits for it to exit. */
export async function stopControlPlane(server: Server): Promise<void> {
  server.profiler?.close();
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
}

/** One admin API call; JSON in and out, any non-2xx answer thrown. */
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

/** `POST /v1/apply` of policy documents (one file, YAML documents as JSON). */
export const applyPolicy = (url: string, docs: unknown[]) =>
  api(url, 'POST', '/v1/apply', {
    files: [{ name: 'policy.yaml', content: docs.map((d) => JSON.stringify(d)).join('\n---\n') }],
  });

/** User + system CPU time of a process, from /proc (Linux); NaN elsewhere. */
export function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat(5); counted here from field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits (at most `maxMs`) until the server is idle: under 5% of a core over a 500 ms window, so a
 * measured change does not queue behind set-up work still running (connect snapshots' audit
 * writes, stream set-up). Returns how long it waited.
 */
export async function settle(server: Server, maxMs = 30_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const before = cpuMsOf(server.child.pid);
    await new Promise((r) => setTimeout(r, 500));
    if (!(cpuMsOf(server.child.pid) - before > 25)) break;
  }
  return Date.now() - t0;
}

/** Epoch milliseconds at sub-millisecond resolution, comparable across processes. */
/**
 * Reads a fleet benchmark's flags: `int` flags take a positive integer, others set a fixed value
 * (`--no-small` → `small: 0`, `--full` → `full: true`); anything else is refused.
 */
export function parseFlags<O extends object>(
  args: readonly string[],
  defaults: O,
  flags: Readonly<Record<string, readonly [keyof O, 'int' | number | boolean]>>,
): O {
  const o = { ...defaults };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const flag = flags[a];
    if (!flag) throw new TypeError(`unknown argument ${a}`);
    const [key, value] = flag;
    if (value !== 'int') {
      (o as Record<keyof O, unknown>)[key] = value;
      continue;
    }
    const v = Number(args[++i]);
    if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${a} needs a positive integer`);
    (o as Record<keyof O, unknown>)[key] = v;
  }
  return o;
}

export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface Worker {
  child: ChildProcess;
  /** The next message, which must be of `type` (a worker's `error` message is thrown). */
  next(type: string): Promise<Record<string, unknown>>;
}

/** Forks `bench/<file>` with an IPC channel; `cpuProf` runs it under `--cpu-prof`. */
export function startWorker(file: string, options: { cpuProf?: boolean } = {}): Worker {
  const child = fork(join(here, file), [], {
    execArgv: options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [],
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

/** Sends `stop` to every worker still connected and waits for all of them to exit. */
export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  for (const w of workers) if (w.child.connected) w.child.send({ type: 'stop' });
  await Promise.all(
    workers.map(
      (w) => new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once('exit', r))),
    ),
  );
}

/** Sends `type` to every worker and waits for each one's `reply`. */
export async function broadcast(
  workers: readonly Worker[],
  type: string,
  reply: string,
): Promise<Record<string, unknown>[]> {
  for (const w of workers) w.child.send({ type });
  return Promise.all(workers.map((w) => w.next(reply)));
}

/** The share of `total` items that part `i` of `parts` takes (the first ones take the rest). */
export function shareOf(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

/**
 * `count` nodes named `<prefix>-<i>`, each with a registration entry for `spiffeId` (the
 * benchmark's uid as selector) and one join token; returns the tokens.
 */
export async function prepareNodes(
  server: Server,
  prefix: string,
  count: number,
  spiffeId: string,
): Promise<string[]> {
  const tokens: string[] = new Array(count);
  let next = 0;
  const one = async () => {
    for (let i = next++; i < count; i = next++) {
      const node = `${prefix}-${i}`;
      await api(server.url, 'POST', '/v1/ca/entries', {
        spiffeId,
        node,
        selectors: [`unix:uid:${process.getuid?.() ?? 0}`],
      });
      const { token } = (await api(server.url, 'POST', '/v1/ca/join-tokens', { node })) as {
        token: string;
      };
      tokens[i] = token;
    }
  };
  await Promise.all(Array.from({ length: 32 }, one));
  return tokens;
}

/**
 * Starts one worker per part and sends each its `start` message (`message(i, workers)`);
 * resolves with the workers and their `ready` replies. Stops them all if one fails.
 */
export async function startWorkers(
  file: string,
  count: number,
  message: (i: number, workers: number) => Record<string, unknown>,
  options: { cpuProf?: boolean } = {},
): Promise<{ workers: Worker[]; ready: Record<string, unknown>[] }> {
  const workers = Array.from({ length: count }, () => startWorker(file, options));
  try {
    workers.forEach((w, i) => {
      w.child.send({ type: 'start', ...message(i, count) });
    });
    return { workers, ready: await Promise.all(workers.map((w) => w.next('ready'))) };
  } catch (error) {
    await stopWorkers(workers);
    throw error;
  }
}
