/**
 * `npm run bench -- ratelimit [seconds] [buckets] [lanes]`: the shared (Redis) rate limiter under
 * load from 2 processes, and whether it holds its limit exactly.
 *
 * A private redis-server (random port, no persistence) is started for the run. Two worker
 * processes (bench/_ratelimit-worker.ts) each run `lanes` concurrent loops calling
 * `redisRateLimiter().hit` as fast as they can, round-robin over `buckets` buckets shared by both
 * (limit 1000 per 1 s window), for `seconds`, starting on a window boundary. Reported:
 * - decisions/s of both together, with ioredis auto-pipelining and without;
 * - admissions per bucket per full window against the limit, counted by the store (each
 *   bucket's hash sampled mid-window: `p` is the final count of the window before; `c` after the
 *   run) and seen from the clients (admissions sent and answered inside the window: a lower
 *   bound; plus those straddling its edges: an upper bound that widens with the latency); the
 *   overshoot is taken from the larger of the store's count and the clients' lower bound;
 * - decision latency (p50/p99, whole ms) with `lanes` requests in flight per process; the
 *   limiter's timeout is raised to 1 s here so the figures are Redis's answers, not the gateway's
 *   50 ms failure mode (`unavailable` counts the ones that still timed out);
 * - what bounds it: the CPU of the workers and of redis-server over the run, and the host's load
 *   average (other work on a small host skews every figure).
 * Peers from the same run: the memory limiter in this one process under the same load;
 * redis-benchmark sending INCR and the limiter's own script (EVALSHA), pipelined, from 50
 * connections (the server's ceiling, without any Node client).
 * The bench talks to Redis itself through redis-cli, which comes with redis-server.
 */
import { execFile, fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { memoryRateLimiter, type RateLimitRule } from '../packages/gateway/src/index.ts';
import { RATE_LIMIT_SCRIPT } from '../packages/gateway/src/ratelimit/redis.ts';
import { freePort, PrivateRedis } from '../packages/gateway/test/_redis.ts';
import type { WorkerJob, WorkerResult } from './_ratelimit-worker.ts';
import { progress, round } from './_stats.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const LIMIT = 1000;
const WINDOW_SEC = 1;
const WINDOW_MS = WINDOW_SEC * 1000;

interface Options {
  seconds: number;
  buckets: number;
  lanes: number;
}

function runWorker(job: WorkerJob): Promise<WorkerResult> {
  const child = fork(join(here, '_ratelimit-worker.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { type: string; result?: WorkerResult; message?: string }) => {
      if (m.type === 'done') resolve(m.result!);
      else reject(new Error(`worker failed: ${m.message}`));
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited ${code}`));
    });
    child.send(job);
  });
}

const exec = promisify(execFile);

/** One command through redis-cli; its reply's lines. */
async function cli(port: number, ...args: string[]): Promise<string[]> {
  const { stdout } = await exec('redis-cli', ['-p', String(port), ...args]);
  return stdout.replace(/\n$/, '').split('\n');
}

async function redisCpuSec(port: number): Promise<number> {
  const info = (await cli(port, 'INFO', 'cpu')).join('\n');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** The p-th percentile of a histogram of whole milliseconds. */
function histogramPercentile(histogram: number[], p: number): number {
  const total = histogram.reduce((s, n) => s + n, 0);
  let seen = 0;
  for (let ms = 0; ms < histogram.length; ms++) {
    seen += histogram[ms]!;
    if (seen >= (p / 100) * total) return ms;
  }
  return histogram.length - 1;
}

/**
 * Admissions per (bucket, full window), seen from the clients (certain, and an upper bound that
 * widens with the latency) and counted by the store itself (`stored`, exact).
 */
function perWindow(
  results: WorkerResult[],
  stored: Map<string, number>,
  startAt: number,
  endAt: number,
  buckets: number,
) {
  const first = Math.floor(startAt / WINDOW_MS);
  const last = Math.floor(endAt / WINDOW_MS) - 1;
  let maxUpper = 0;
  let maxCertain = 0;
  let minCertain = Number.POSITIVE_INFINITY;
  let maxStored = 0;
  let missing = 0;
  let sum = 0;
  let n = 0;
  for (let b = 0; b < buckets; b++)
    for (let w = first; w <= last; w++) {
      const count = stored.get(`${b}:${w}`);
      if (count === undefined) missing++;
      else maxStored = Math.max(maxStored, count);
      let certain = 0;
      let straddled = 0;
      for (const r of results) {
        certain += r.certain[`${b}:${w}`] ?? 0;
        straddled += r.straddled[`${b}:${w}`] ?? 0;
      }
      maxUpper = Math.max(maxUpper, certain + straddled);
      maxCertain = Math.max(maxCertain, certain);
      minCertain = Math.min(minCertain, certain);
      // A straddling admission is counted in both windows it touched: half each for the mean.
      sum += certain + straddled / 2;
      n++;
    }
  return {
    windows: n,
    windows_not_sampled: missing,
    admitted_per_window_mean: round(sum / n, 1),
    admitted_per_window_max_stored: maxStored,
    admitted_per_window_min_client_certain: minCertain,
    admitted_per_window_max_client_certain: maxCertain,
    admitted_per_window_max_client_upper_bound: maxUpper,
    max_overshoot_pct: round(
      Math.max(0, ((Math.max(maxStored, maxCertain) - LIMIT) / LIMIT) * 100),
      2,
    ),
  };
}

/** Reads each bucket's hash: `p` is the count of window w − 1, `c` the count of window w. */
async function sampleCounts(
  port: number,
  job: WorkerJob,
  stored: Map<string, number>,
  field: 'p' | 'c',
): Promise<void> {
  const buckets = Array.from({ length: job.buckets }, (_, b) => b);
  const replies = await Promise.all(
    buckets.map((b) => cli(port, 'HMGET', `${job.prefix}b${b}`, 'w', field)),
  );
  for (const b of buckets) {
    const [w, count] = replies[b]!;
    if (!w || !count) continue;
    stored.set(`${b}:${Number(w) - (field === 'p' ? 1 : 0)}`, Number(count));
  }
}

async function twoProcesses(
  redis: PrivateRedis,
  o: Options,
  autoPipelining: boolean,
): Promise<Record<string, unknown>> {
  // Start on a window boundary, after the workers had time to connect.
  const startAt = Math.ceil((Date.now() + 1500) / WINDOW_MS) * WINDOW_MS;
  const endAt = startAt + o.seconds * 1000;
  const job: WorkerJob = {
    url: redis.url,
    prefix: `bench:${autoPipelining ? 'auto' : 'plain'}:`,
    buckets: o.buckets,
    limit: LIMIT,
    windowSec: WINDOW_SEC,
    lanes: o.lanes,
    autoPipelining,
    timeoutMs: 1000,
    startAt,
    endAt,
  };
  const pending = [runWorker(job), runWorker(job)];
  await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
  const cpu0 = await redisCpuSec(redis.port);
  const stored = new Map<string, number>();
  // Mid-window samples of the buckets' hashes: `p` is the final count of the window before.
  for (let at = startAt + WINDOW_MS / 2; at < endAt; at += WINDOW_MS) {
    await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
    await sampleCounts(redis.port, job, stored, 'p');
  }
  await new Promise((resolve) => setTimeout(resolve, endAt - Date.now()));
  const redisCpu = (await redisCpuSec(redis.port)) - cpu0;
  const results = await Promise.all(pending);
  // After the run, `c` is the final count of the last window.
  await sampleCounts(redis.port, job, stored, 'c');
  const decisions = results.reduce((s, r) => s + r.decisions, 0);
  const seconds = (endAt - startAt) / 1000;
  const latency = results[0]!.latencyMs.map((n, i) => n + results[1]!.latencyMs[i]!);
  const figures: Record<string, unknown> = {
    decisions_per_sec: Math.round(decisions / seconds),
    // Above 1 the buckets were overloaded, so the limit, not the load, decided each window.
    offered_per_limit: round(decisions / seconds / o.buckets / (LIMIT / WINDOW_SEC), 2),
    latency_ms_p50: histogramPercentile(latency, 50),
    latency_ms_p99: histogramPercentile(latency, 99),
    per_process: results.map((r) => Math.round(r.decisions / seconds)),
    worker_cpu_pct: results.map((r) => round((r.cpuMs / (endAt - startAt)) * 100, 0)),
    redis_cpu_pct: round((redisCpu / seconds) * 100, 0),
  };
  figures.admitted = results.reduce((s, r) => s + r.admitted, 0);
  figures.unavailable = results.reduce((s, r) => s + r.unavailable, 0);
  Object.assign(figures, perWindow(results, stored, startAt, endAt, o.buckets));
  progress(
    `redis limiter (${autoPipelining ? 'auto-pipelining' : 'no pipelining'}): ${JSON.stringify(figures)}`,
  );
  return figures;
}

/** The memory limiter in this process, same lanes and buckets. */
async function memoryPeer(o: Options): Promise<Record<string, unknown>> {
  const limiter = memoryRateLimiter();
  const rule: RateLimitRule = { by: 'route', limit: LIMIT, windowSec: WINDOW_SEC };
  const counts = new Map<string, number>();
  const startAt = Math.ceil((Date.now() + 100) / WINDOW_MS) * WINDOW_MS;
  const endAt = startAt + o.seconds * 1000;
  await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
  let decisions = 0;
  let next = 0;
  const cpu0 = process.cpuUsage();
  const lane = async (): Promise<void> => {
    for (let now = Date.now(); now < endAt; now = Date.now()) {
      const bucket = next++ % o.buckets;
      const verdict = await limiter.hit(`b${bucket}`, rule, now);
      decisions++;
      if (verdict.allowed) {
        const key = `${bucket}:${Math.floor(now / WINDOW_MS)}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: o.lanes }, lane));
  const cpu = process.cpuUsage(cpu0);
  const first = Math.floor(startAt / WINDOW_MS);
  const last = Math.floor(endAt / WINDOW_MS) - 1;
  let max = 0;
  let sum = 0;
  let n = 0;
  for (let b = 0; b < o.buckets; b++)
    for (let w = first; w <= last; w++) {
      const c = counts.get(`${b}:${w}`) ?? 0;
      max = Math.max(max, c);
      sum += c;
      n++;
    }
  const figures = {
    decisions_per_sec: Math.round(decisions / o.seconds),
    cpu_pct: round(((cpu.user + cpu.system) / 1000 / (endAt - startAt)) * 100, 0),
    admitted_per_window_mean: round(sum / n, 1),
    admitted_per_window_max: max,
    max_overshoot_pct: round(Math.max(0, ((max - LIMIT) / LIMIT) * 100), 2),
  };
  progress(`memory limiter: ${JSON.stringify(figures)}`);
  return figures;
}

/** redis-benchmark's requests/s for one command (50 connections, pipelines of 32). */
async function redisBenchmark(port: number, command: string[]): Promise<number> {
  const { stdout } = await exec('redis-benchmark', [
    ...['-h', '127.0.0.1', '-p', String(port), '-n', '1000000', '-c', '50', '-P', '32', '--csv'],
    ...command,
  ]);
  const row = stdout.trim().split('\n').at(-1)!.split(',');
  return Math.round(Number(JSON.parse(row[1]!)));
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o: Options = {
    seconds: Number(args[0] ?? 6),
    buckets: Number(args[1] ?? 2),
    lanes: Number(args[2] ?? 128),
  };
  progress(
    `ratelimit: 2 processes x ${o.lanes} lanes, ${o.buckets} buckets of ${LIMIT}/${WINDOW_SEC}s, ${o.seconds}s per run`,
  );
  // Other work on the host skews every figure here: the load average says how busy it was.
  const loadBefore = round(loadavg()[0]!, 2);
  const redis = new PrivateRedis(await freePort());
  await redis.start();
  try {
    const auto = await twoProcesses(redis, o, true);
    const plain = await twoProcesses(redis, o, false);
    const memory = await memoryPeer(o);
    const [sha] = await cli(redis.port, 'SCRIPT', 'LOAD', RATE_LIMIT_SCRIPT);
    const rbIncr = await redisBenchmark(redis.port, ['INCR', 'bench:rb:incr']);
    const rbScript = await redisBenchmark(redis.port, [
      'EVALSHA',
      sha!,
      '1',
      'bench:rb:script',
      String(LIMIT),
      String(WINDOW_MS),
    ]);
    progress(`redis-benchmark: INCR ${rbIncr}/s, limiter script ${rbScript}/s`);
    return {
      processes: 2,
      lanes_per_process: o.lanes,
      buckets: o.buckets,
      limit: LIMIT,
      window_sec: WINDOW_SEC,
      seconds: o.seconds,
      cpus: availableParallelism(),
      loadavg_1m_before: loadBefore,
      loadavg_1m_after: round(loadavg()[0]!, 2),
      redis_limiter: auto,
      redis_limiter_no_pipelining: plain,
      peer_memory_limiter_1_process: memory,
      peer_redis_benchmark_incr_per_sec: rbIncr,
      peer_redis_benchmark_script_per_sec: rbScript,
    };
  } finally {
    await redis.dispose();
  }
}
