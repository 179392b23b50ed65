import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type RateLimitRule,
  type RateLimitVerdict,
  type RedisRateLimiter,
  redisRateLimiter,
} from '../src/index.ts';
import { freePort, PrivateRedis } from './_redis.ts';

// Redis failing: a closed port from the start, and a private redis-server (no persistence, its
// own temp dir, killed at the end) that dies, hangs and comes back mid-run.
const rule: RateLimitRule = { by: 'ip', limit: 1000, windowSec: 60 };
// Generous: the command timeout is 50 ms; a verdict must come long before this, never hang.
const BOUND_MS = 2000;
const limiters: RedisRateLimiter[] = [];

function limiter(url: string, failureMode: 'open' | 'closed', onUnavailable?: () => void) {
  const created = redisRateLimiter({ url, failureMode, timeoutMs: 50, onUnavailable });
  limiters.push(created);
  return created;
}

async function timedHit(rl: RedisRateLimiter): Promise<RateLimitVerdict> {
  const started = performance.now();
  const verdict = await rl.hit('b', rule);
  expect(performance.now() - started).toBeLessThan(BOUND_MS);
  return verdict;
}

/** Hits until `done` holds for a verdict (at most `tries`, 100 ms apart); returns that verdict. */
async function until(
  rl: RedisRateLimiter,
  done: (v: RateLimitVerdict) => boolean,
  tries = 150,
): Promise<RateLimitVerdict> {
  for (let i = 0; i < tries; i++) {
    const verdict = await timedHit(rl);
    if (done(verdict)) return verdict;
    await sleep(100);
  }
  throw new Error('the verdicts never changed');
}

afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()));
});

describe('redisRateLimiter when Redis is unreachable from the start', () => {
  it('fails open: allowed and unavailable, at once', async () => {
    const rl = limiter(`redis://127.0.0.1:${await freePort()}`, 'open');
    for (let i = 0; i < 5; i++)
      expect(await timedHit(rl)).toEqual({
        allowed: true,
        limit: 1000,
        remaining: 0,
        resetSec: 1,
        unavailable: true,
      });
    expect(rl.available).toBe(false);
    expect(await rl.ready(200)).toBe(false);
  });

  it('fails closed: refused and unavailable, and says so once', async () => {
    let told = 0;
    const rl = limiter(`redis://127.0.0.1:${await freePort()}`, 'closed', () => told++);
    for (let i = 0; i < 5; i++) {
      const verdict = await timedHit(rl);
      expect(verdict.allowed).toBe(false);
      expect(verdict.unavailable).toBe(true);
    }
    expect(told).toBe(1);
  });
});

describe('redisRateLimiter when Redis dies and returns', () => {
  let redis: PrivateRedis;

  beforeAll(async () => {
    redis = new PrivateRedis(await freePort());
    await redis.start();
  });
  afterAll(async () => {
    await redis.dispose();
  });

  it('switches to the failure mode when killed and recovers when restarted', async () => {
    let told = 0;
    const closed = limiter(redis.url, 'closed', () => told++);
    const open = limiter(redis.url, 'open');
    expect((await closed.ready()) && (await open.ready())).toBe(true);
    // A busy host may let a first command miss the 50 ms: wait for a counted one.
    expect((await until(closed, (v) => v.unavailable === undefined)).allowed).toBe(true);
    expect((await until(open, (v) => v.unavailable === undefined)).allowed).toBe(true);
    const toldBefore = told;

    await redis.kill();
    const refused = await until(closed, (v) => v.unavailable === true);
    expect(refused.allowed).toBe(false);
    const admitted = await until(open, (v) => v.unavailable === true);
    expect(admitted.allowed).toBe(true);
    // Every hit while it is down answers within the bound, from the failure mode.
    for (let i = 0; i < 10; i++)
      expect(await timedHit(closed)).toMatchObject({ unavailable: true });
    expect(told).toBe(toldBefore + 1);

    await redis.start();
    // Reconnects in the background (capped backoff): counting resumes on a fresh server.
    const back = await until(closed, (v) => v.unavailable === undefined);
    expect(back.allowed).toBe(true);
    expect(back.remaining).toBeLessThan(1000);
    expect(closed.available).toBe(true);
    expect((await until(open, (v) => v.unavailable === undefined)).allowed).toBe(true);
  });

  it('treats a Redis that stops answering as down, within the timeout', async () => {
    const closed = limiter(redis.url, 'closed');
    expect(await closed.ready()).toBe(true);
    expect((await until(closed, (v) => v.unavailable === undefined)).allowed).toBe(true);
    redis.signal('SIGSTOP');
    try {
      // The connection stays up; the command timeout (50 ms) answers for it.
      const verdict = await timedHit(closed);
      expect(verdict).toMatchObject({ allowed: false, unavailable: true });
    } finally {
      redis.signal('SIGCONT');
    }
    const back = await until(closed, (v) => v.unavailable === undefined);
    expect(back.allowed).toBe(true);
  });
});
