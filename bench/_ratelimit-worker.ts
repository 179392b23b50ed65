/**
 * One client process of the `ratelimit` benchmark: `lanes` concurrent loops, each deciding as
 * fast as it can with redisRateLimiter.hit, round-robin over the shared buckets, until `endAt`.
 *
 * Every admission is attributed to the aligned window its request was in: certainly window k
 * when sent and answered within k (`certain`), or possibly k when it straddled a boundary
 * (`straddled`, counted for both windows it touched): the true count of window k lies between
 * certain[k] and certain[k] + straddled[k].
 */
import { type RateLimitRule, redisRateLimiter } from '../packages/gateway/src/index.ts';

export interface WorkerJob {
  url: string;
  prefix: string;
  buckets: number;
  limit: number;
  windowSec: number;
  lanes: number;
  autoPipelining: boolean;
  /** The limiter's timeoutMs: above the latency under load, so that the figures are Redis's. */
  timeoutMs: number;
  startAt: number;
  endAt: number;
}

export interface WorkerResult {
  decisions: number;
  admitted: number;
  unavailable: number;
  /** `${bucket}:${window}` -> admissions certainly in that window. */
  certain: Record<string, number>;
  /** `${bucket}:${window}` -> admissions that may belong to that window. */
  straddled: Record<string, number>;
  /** Decision latency histogram: latencyMs[i] requests took i ms (the last slot: more). */
  latencyMs: number[];
  cpuMs: number;
  elapsedMs: number;
}

/** CPU time at the start of the measured run (after connecting and waiting for startAt). */
let cpuStart: NodeJS.CpuUsage | undefined;

const bump = (map: Record<string, number>, key: string): void => {
  map[key] = (map[key] ?? 0) + 1;
};

async function runLimiter(job: WorkerJob, result: WorkerResult): Promise<void> {
  const limiter = redisRateLimiter({
    url: job.url,
    prefix: job.prefix,
    autoPipelining: job.autoPipelining,
    timeoutMs: job.timeoutMs,
  });
  if (!(await limiter.ready())) throw new Error('redis not ready');
  const rule: RateLimitRule = { by: 'route', limit: job.limit, windowSec: job.windowSec };
  const windowMs = job.windowSec * 1000;
  let next = 0;
  await waitUntil(job.startAt);
  cpuStart = process.cpuUsage();
  const lane = async (): Promise<void> => {
    while (Date.now() < job.endAt) {
      const bucket = next++ % job.buckets;
      const sent = Date.now();
      const verdict = await limiter.hit(`b${bucket}`, rule);
      const answered = Date.now();
      result.decisions++;
      result.latencyMs[Math.min(answered - sent, result.latencyMs.length - 1)]!++;
      if (verdict.unavailable) result.unavailable++;
      if (!verdict.allowed) continue;
      result.admitted++;
      const from = Math.floor(sent / windowMs);
      const to = Math.floor(answered / windowMs);
      if (from === to) bump(result.certain, `${bucket}:${from}`);
      else for (let w = from; w <= to; w++) bump(result.straddled, `${bucket}:${w}`);
    }
  };
  await Promise.all(Array.from({ length: job.lanes }, lane));
  await limiter.close();
}

async function waitUntil(at: number): Promise<void> {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

process.once('message', async (job: WorkerJob) => {
  const result: WorkerResult = {
    decisions: 0,
    admitted: 0,
    unavailable: 0,
    certain: {},
    straddled: {},
    latencyMs: Array(1001).fill(0),
    cpuMs: 0,
    elapsedMs: 0,
  };
  try {
    await runLimiter(job, result);
    const cpu = process.cpuUsage(cpuStart);
    result.cpuMs = (cpu.user + cpu.system) / 1000;
    result.elapsedMs = job.endAt - job.startAt;
    process.send?.({ type: 'done', result }, () => process.exit(0));
  } catch (error) {
    process.send?.({ type: 'error', message: String(error) }, () => process.exit(1));
  }
});
