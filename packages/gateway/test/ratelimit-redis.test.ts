import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  bucketKey,
  MAX_BUCKET_LENGTH,
  type RateLimitRule,
  type RedisRateLimiter,
  rateLimitHeaders,
  redisRateLimiter,
} from '../src/index.ts';
import { deletePrefix, elapsedInWindow, nextWindow, SHARED_REDIS, testPrefix } from './_redis.ts';

// The shared Redis; every test counts under a prefix of its own, deleted afterwards.
let admin: Redis;
let prefix: string;
const limiters: RedisRateLimiter[] = [];

function limiter(extra: { autoPipelining?: boolean } = {}): RedisRateLimiter {
  const created = redisRateLimiter({ url: SHARED_REDIS, prefix, timeoutMs: 2000, ...extra });
  limiters.push(created);
  return created;
}

/** Ensures the next `spanMs` stay inside one aligned window, by Redis's clock. */
async function roomInWindow(windowMs: number, spanMs: number): Promise<void> {
  if ((await elapsedInWindow(admin, windowMs)) > windowMs - spanMs)
    await nextWindow(admin, windowMs);
}

beforeAll(() => {
  admin = new Redis(SHARED_REDIS);
});
afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()));
  await deletePrefix(admin, prefix);
});
afterAll(async () => {
  await admin.quit();
});

describe('redisRateLimiter', () => {
  it('admits exactly limit of limit + k concurrent requests', async () => {
    prefix = testPrefix();
    const rl = limiter();
    expect(await rl.ready()).toBe(true);
    const rule: RateLimitRule = { by: 'ip', limit: 50, windowSec: 3600 };
    await roomInWindow(3_600_000, 5_000);
    const verdicts = await Promise.all(Array.from({ length: 80 }, () => rl.hit('b', rule)));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(50);
    expect(verdicts.every((v) => v.unavailable === undefined)).toBe(true);
    // Each admission saw its own count: remaining runs 49..0 exactly once each.
    const remaining = verdicts.filter((v) => v.allowed).map((v) => v.remaining);
    expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(verdicts.filter((v) => !v.allowed).every((v) => v.remaining === 0)).toBe(true);
  });

  it('two limiters on one Redis share the count', async () => {
    prefix = testPrefix();
    const a = limiter();
    const b = limiter({ autoPipelining: false });
    expect((await a.ready()) && (await b.ready())).toBe(true);
    const rule: RateLimitRule = { by: 'user', limit: 30, windowSec: 3600 };
    await roomInWindow(3_600_000, 5_000);
    const verdicts = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).hit('shared', rule)),
    );
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(30);
    // Both were refused once the shared quota was spent.
    expect((await a.hit('shared', rule)).allowed).toBe(false);
    expect((await b.hit('shared', rule)).allowed).toBe(false);
  });

  it('resets with the window: the previous count fades, two windows on it is gone', async () => {
    prefix = testPrefix();
    const rl = limiter();
    expect(await rl.ready()).toBe(true);
    const rule: RateLimitRule = { by: 'ip', limit: 5, windowSec: 1 };
    await nextWindow(admin, 1000);
    let first = 0;
    for (let i = 0; i < 8; i++) if ((await rl.hit('w', rule)).allowed) first++;
    expect(first).toBe(5);
    // Two windows on, the previous window is empty: a full quota again.
    await nextWindow(admin, 1000);
    await nextWindow(admin, 1000);
    let again = 0;
    for (let i = 0; i < 8; i++) if ((await rl.hit('w', rule)).allowed) again++;
    expect(again).toBe(5);
  });

  it('answers RateLimit header values and keys that expire on their own', async () => {
    prefix = testPrefix();
    const rl = limiter();
    expect(await rl.ready()).toBe(true);
    const rule: RateLimitRule = { by: 'ip', limit: 3, windowSec: 60 };
    const bucket = bucketKey('shop/products', rule, { ip: '203.0.113.9' });
    await roomInWindow(60_000, 5_000);
    const elapsed = await elapsedInWindow(admin, 60_000);
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(await rl.hit(bucket, rule));
    expect(verdicts.map((v) => v.remaining)).toEqual([2, 1, 0, 0]);
    const t = verdicts[1]!.resetSec;
    // Seconds to the end of this window (the next hits may be a second on: a generous bound).
    expect(Math.abs(t - Math.ceil((60_000 - elapsed) / 1000))).toBeLessThanOrEqual(2);
    expect(rateLimitHeaders([{ rule, verdict: verdicts[1]! }])).toEqual({
      'ratelimit-policy': '"ip-60s";q=3;w=60',
      ratelimit: `"ip-60s";r=1;t=${t}`,
    });
    const refused = rateLimitHeaders([{ rule, verdict: verdicts[3]! }]);
    expect(refused['retry-after']).toBe(String(verdicts[3]!.resetSec));
    expect(verdicts[3]!.resetSec).toBeGreaterThanOrEqual(t);
    // Key layout: <prefix><bucket>, a hash that expires when the next window ends.
    const key = `${prefix}${bucket}`;
    expect(await admin.hgetall(key)).toMatchObject({ c: '3', p: '0', m: '60000' });
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('bounds keys made from hostile bucket names', async () => {
    prefix = testPrefix();
    const rl = limiter();
    expect(await rl.ready()).toBe(true);
    const rule: RateLimitRule = { by: 'ip', limit: 1, windowSec: 60 };
    await rl.hit('x'.repeat(100_000), rule);
    expect((await rl.hit('x'.repeat(100_000), rule)).allowed).toBe(false);
    const keys = await admin.keys(`${prefix}*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.length).toBeLessThanOrEqual(prefix.length + MAX_BUCKET_LENGTH);
  });

  it('uses a client the caller owns and leaves it open', async () => {
    prefix = testPrefix();
    const client = new Redis(SHARED_REDIS);
    try {
      const rl = redisRateLimiter({ client, prefix });
      expect(await rl.ready()).toBe(true);
      const rule: RateLimitRule = { by: 'route', limit: 2, windowSec: 3600 };
      await roomInWindow(3_600_000, 5_000);
      const verdicts = [await rl.hit('c', rule), await rl.hit('c', rule), await rl.hit('c', rule)];
      expect(verdicts.map((v) => v.allowed)).toEqual([true, true, false]);
      await rl.close();
      expect(await client.ping()).toBe('PONG');
      // After close, hits answer without the store.
      expect((await rl.hit('c', rule)).unavailable).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it('refuses misuse with TypeError', async () => {
    prefix = testPrefix();
    expect(() => redisRateLimiter({})).toThrow(TypeError);
    expect(() => redisRateLimiter({ url: SHARED_REDIS, timeoutMs: 0 })).toThrow(TypeError);
    expect(() => redisRateLimiter({ url: SHARED_REDIS, failureMode: 'maybe' as 'open' })).toThrow(
      TypeError,
    );
    const rl = limiter();
    await expect(rl.hit('b', { by: 'ip', limit: 0, windowSec: 1 })).rejects.toThrow(TypeError);
  });
});
