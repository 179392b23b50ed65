import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  memoryRateLimiter,
  type RateLimitRule,
  type RateLimitVerdict,
  rateLimitHeaders,
} from '../src/index.ts';

const rule = (limit: number, windowSec: number): RateLimitRule => ({ by: 'ip', limit, windowSec });
/** A time `ms` into aligned window `index` of a `windowSec` rule. */
const at = (windowSec: number, index: number, ms: number): number =>
  1_700_000_000_000 - (1_700_000_000_000 % (windowSec * 1000)) + index * windowSec * 1000 + ms;

async function hits(n: number, limitRule: RateLimitRule, now: number, bucket = 'b') {
  const limiter = memoryRateLimiter();
  const verdicts: RateLimitVerdict[] = [];
  for (let i = 0; i < n; i++) verdicts.push(await limiter.hit(bucket, limitRule, now));
  return verdicts;
}

describe('memoryRateLimiter', () => {
  it('admits exactly limit of limit + k requests, counting remaining down to 0', async () => {
    const verdicts = await hits(13, rule(10, 60), at(60, 0, 1000));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(10);
    expect(verdicts.map((v) => v.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0]);
    expect(verdicts.slice(10).every((v) => !v.allowed && v.limit === 10)).toBe(true);
    // 59 s left in the window; the refused retry at its end (+1 ms, the weight's floor).
    expect(verdicts[0]!.resetSec).toBe(59);
    expect(verdicts[12]!.resetSec).toBe(60);
  });

  it('keeps buckets apart', async () => {
    const limiter = memoryRateLimiter();
    const now = at(60, 0, 0);
    expect((await limiter.hit('a', rule(1, 60), now)).allowed).toBe(true);
    expect((await limiter.hit('a', rule(1, 60), now)).allowed).toBe(false);
    expect((await limiter.hit('b', rule(1, 60), now)).allowed).toBe(true);
  });

  it('no second burst at the window boundary: the previous window fades out', async () => {
    const limiter = memoryRateLimiter();
    const r = rule(100, 1);
    let admitted = 0;
    for (let i = 0; i < 150; i++)
      if ((await limiter.hit('b', r, at(1, 0, 999))).allowed) admitted++;
    expect(admitted).toBe(100);
    // At the start of the next window the 100 still weigh fully: a fixed window would admit 100.
    expect((await limiter.hit('b', r, at(1, 1, 0))).allowed).toBe(false);
    // Half way through, half of them are forgotten.
    let half = 0;
    for (let i = 0; i < 100; i++) if ((await limiter.hit('b', r, at(1, 1, 500))).allowed) half++;
    expect(half).toBe(50);
    // Two windows on, the bucket is fresh.
    let fresh = 0;
    for (let i = 0; i < 150; i++) if ((await limiter.hit('b', r, at(1, 3, 0))).allowed) fresh++;
    expect(fresh).toBe(100);
  });

  it('under steady overload admits exactly limit per window', async () => {
    const limiter = memoryRateLimiter();
    const r = rule(100, 1);
    const perWindow = new Map<number, number>();
    // Four requests per millisecond for 8 windows: 40x the limit.
    for (let t = 0; t < 8000; t++)
      for (let k = 0; k < 4; k++)
        if ((await limiter.hit('b', r, at(1, 0, t))).allowed)
          perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
    expect([...perWindow.values()]).toEqual(Array(8).fill(100));
  });

  it('never admits more than limit in an aligned window, whatever the arrival times', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 300 }),
        async (limit, windowSec, gaps) => {
          const limiter = memoryRateLimiter();
          const r = rule(limit, windowSec);
          const counts = new Map<number, number>();
          let now = at(windowSec, 0, 0);
          for (const gap of gaps) {
            now += gap;
            const verdict = await limiter.hit('b', r, now);
            expect(verdict.remaining).toBeGreaterThanOrEqual(0);
            expect(verdict.remaining).toBeLessThan(limit);
            expect(verdict.resetSec).toBeGreaterThanOrEqual(1);
            if (verdict.allowed) {
              const index = Math.floor(now / (windowSec * 1000));
              counts.set(index, (counts.get(index) ?? 0) + 1);
            }
          }
          for (const count of counts.values()) expect(count).toBeLessThanOrEqual(limit);
        },
      ),
    );
  });

  it('a refusal says when to retry: a hit resetSec later is admitted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 120 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 100 }),
        async (limit, windowSec, gaps) => {
          const limiter = memoryRateLimiter();
          const r = rule(limit, windowSec);
          let now = at(windowSec, 0, 0);
          for (const gap of gaps) {
            now += gap;
            const verdict = await limiter.hit('b', r, now);
            if (!verdict.allowed) {
              const retry = await limiter.hit('b', r, now + verdict.resetSec * 1000);
              expect(retry.allowed).toBe(true);
              return;
            }
          }
        },
      ),
    );
  });

  it('bounds its buckets: the least recently used one is forgotten', async () => {
    const limiter = memoryRateLimiter({ maxBuckets: 2 });
    const r = rule(1, 60);
    const now = at(60, 0, 0);
    await limiter.hit('a', r, now);
    await limiter.hit('b', r, now);
    expect((await limiter.hit('a', r, now)).allowed).toBe(false); // a is now the most recent
    await limiter.hit('c', r, now); // evicts b
    expect((await limiter.hit('a', r, now)).allowed).toBe(false);
    expect((await limiter.hit('b', r, now)).allowed).toBe(true);
    await limiter.close();
  });

  it('refuses misuse with TypeError', async () => {
    const limiter = memoryRateLimiter();
    for (const bad of [
      { by: 'ip', limit: 0, windowSec: 1 },
      { by: 'ip', limit: 1.5, windowSec: 1 },
      { by: 'ip', limit: 1, windowSec: 86_401 },
      { by: 'cookie', limit: 1, windowSec: 1 },
    ])
      await expect(limiter.hit('b', bad as RateLimitRule)).rejects.toThrow(TypeError);
    await expect(limiter.hit('b', rule(1, 1), Number.NaN)).rejects.toThrow(TypeError);
    expect(() => memoryRateLimiter({ maxBuckets: 0 })).toThrow(TypeError);
  });
});

describe('rateLimitHeaders', () => {
  const v = (allowed: boolean, limit: number, remaining: number, resetSec: number) => ({
    allowed,
    limit,
    remaining,
    resetSec,
  });

  it('reports the policy and the service limit per the IETF draft', () => {
    expect(rateLimitHeaders([{ rule: rule(100, 60), verdict: v(true, 100, 42, 17) }])).toEqual({
      'ratelimit-policy': '"ip-60s";q=100;w=60',
      ratelimit: '"ip-60s";r=42;t=17',
    });
  });

  it('reports the most restrictive limit, and Retry-After when one refuses', () => {
    const perMinute = { rule: rule(100, 60), verdict: v(true, 100, 42, 17) };
    const perHour: { rule: RateLimitRule; verdict: RateLimitVerdict } = {
      rule: { by: 'user', limit: 1000, windowSec: 3600 },
      verdict: v(true, 1000, 3, 900),
    };
    expect(rateLimitHeaders([perMinute, perHour])).toEqual({
      'ratelimit-policy': '"user-3600s";q=1000;w=3600',
      ratelimit: '"user-3600s";r=3;t=900',
    });
    const refused = { rule: rule(10, 1), verdict: v(false, 10, 0, 2) };
    const longer = { rule: { ...rule(5, 60), by: 'route' as const }, verdict: v(false, 5, 0, 30) };
    expect(rateLimitHeaders([perHour, refused, longer])).toEqual({
      'ratelimit-policy': '"route-60s";q=5;w=60',
      ratelimit: '"route-60s";r=0;t=30',
      'retry-after': '30',
    });
  });

  it('leaves out what the store could not say, but keeps a refusal', () => {
    const down = { rule: rule(10, 60), verdict: { ...v(false, 10, 0, 1), unavailable: true } };
    expect(rateLimitHeaders([down])).toEqual({ 'retry-after': '1' });
    const open = { rule: rule(10, 60), verdict: { ...v(true, 10, 0, 1), unavailable: true } };
    expect(rateLimitHeaders([open])).toEqual({});
    expect(rateLimitHeaders([])).toEqual({});
  });

  it('matches what the limiter says', async () => {
    const limiter = memoryRateLimiter();
    const r = rule(3, 60);
    const now = at(60, 0, 45_000);
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push({ rule: r, verdict: await limiter.hit('b', r, now) });
    expect(rateLimitHeaders([outcomes[1]!])).toEqual({
      'ratelimit-policy': '"ip-60s";q=3;w=60',
      ratelimit: '"ip-60s";r=1;t=15',
    });
    expect(rateLimitHeaders([outcomes[3]!])).toEqual({
      'ratelimit-policy': '"ip-60s";q=3;w=60',
      ratelimit: '"ip-60s";r=0;t=16',
      'retry-after': '16',
    });
  });
});
