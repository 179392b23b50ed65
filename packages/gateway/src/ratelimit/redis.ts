/**
 * The rate limiter replicas share: the sliding-window counter (sliding-window.ts) in Redis, one
 * Lua script per decision so that read, decide and count are one atomic step whatever the number
 * of gateways. The script reads the clock with Redis `TIME`, not the gateway's: replicas with
 * skewed clocks still agree on which window a request falls in.
 *
 * Key layout: `<prefix><bucket>` (prefix default `ward:rl:`; bucket as bucketKey composes it, or
 * its SHA-256 when longer than MAX_BUCKET_LENGTH), a hash with fields `w` (aligned window index),
 * `c` (admissions in it), `p` (admissions in the window before) and `m` (window length in ms). It
 * expires by itself (PEXPIRE) when the window after the current one ends: past that its counts
 * weigh nothing. Refused requests write nothing.
 *
 * Failure: Redis down, slow or refusing never makes `hit` throw or wait past `timeoutMs`: the
 * verdict says `unavailable: true` and admits per `failureMode`. The own client has no offline
 * queue (a command while disconnected fails at once, nothing piles up to be replayed later),
 * a command timeout, no per-command retries and no resending after a reconnect (a hit already
 * answered "unavailable" must not be counted twice); it reconnects in the background with a
 * capped backoff, and the next hit after it is back is counted again. A command that timed out
 * may still have run: that request is counted though its verdict said unavailable.
 */
import { Redis } from 'ioredis';
import type { RateLimiter, RateLimitRule, RateLimitVerdict } from '../contracts.ts';
import { boundedBucket } from './bucket.ts';
import { checkRule, unavailableVerdict, windowVerdict } from './sliding-window.ts';

/** KEYS[1] the bucket; ARGV limit, window ms. Returns {allowed 0|1, current, previous, elapsed ms}. */
export const RATE_LIMIT_SCRIPT = `
-- Redis < 5 must be told to replicate effects to write after TIME; later ones always do.
if redis.replicate_commands then redis.replicate_commands() end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = math.floor(now / window)
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p', 'm')
local w = tonumber(s[1])
local c = tonumber(s[2]) or 0
local p = tonumber(s[3]) or 0
if w == nil or tonumber(s[4]) ~= window then w = idx; c = 0; p = 0 end
if w > idx then idx = w end
if w ~= idx then
  if w == idx - 1 then p = c else p = 0 end
  c = 0
end
local elapsed = now - idx * window
if elapsed < 0 then elapsed = 0 end
local allowed = 0
if c + math.floor(p * (window - elapsed) / window) < limit then
  allowed = 1
  c = c + 1
  redis.call('HSET', KEYS[1], 'w', idx, 'c', c, 'p', p, 'm', window)
  redis.call('PEXPIRE', KEYS[1], 2 * window - elapsed)
end
return {allowed, c, p, elapsed}
`;
const COMMAND = 'wardRateLimit';

interface WithScript {
  [COMMAND](key: string, limit: number, windowMs: number): Promise<unknown>;
}

export interface RedisRateLimiterOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`); exactly one of url and client. */
  url?: string;
  /**
   * A client the caller owns and configures (close() leaves it open). Its own timeouts and queue
   * apply; hit() still gives up after `timeoutMs`.
   */
  client?: Redis;
  /** Key prefix; default `ward:rl:`. */
  prefix?: string;
  /**
   * What a hit answers when Redis cannot: admit (`open`) or refuse (`closed`, the default). For
   * callers of the limiter itself: the gateway ignores it and applies its Gateway document's
   * `spec.rateLimit.failureMode` to `unavailable` verdicts (that one is hot-reloaded).
   */
  failureMode?: 'open' | 'closed';
  /** How long a decision may wait for Redis; default 50 ms. */
  timeoutMs?: number;
  /** Batch the commands of one event-loop turn into one write (ioredis auto-pipelining); default true. */
  autoPipelining?: boolean;
  /** Told when the store becomes unavailable (once per outage, not per request). */
  onUnavailable?: (error: Error) => void;
}

export interface RedisRateLimiter extends RateLimiter {
  /** Whether the last decision reached Redis. */
  readonly available: boolean;
  /** Resolves true once connected (at once when already), false after `timeoutMs` (default 5 s). */
  ready(timeoutMs?: number): Promise<boolean>;
}

export const DEFAULT_PREFIX = 'ward:rl:';
const MAX_PREFIX_LENGTH = 128;
/** Reconnect backoff: 100 ms doubling to a 2 s cap, with jitter so replicas do not reconnect in step. */
const retryDelay = (times: number): number =>
  Math.min(100 * 2 ** Math.min(times - 1, 5), 2000) + Math.floor(Math.random() * 100);

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rate-limit store timed out')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function checkOptions(options: RedisRateLimiterOptions): void {
  if ((options.url === undefined) === (options.client === undefined))
    throw new TypeError('redisRateLimiter: give exactly one of url and client');
  const { prefix, failureMode, timeoutMs } = options;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > MAX_PREFIX_LENGTH))
    throw new TypeError(
      `redisRateLimiter: prefix must be a string of at most ${MAX_PREFIX_LENGTH}`,
    );
  if (failureMode !== undefined && failureMode !== 'open' && failureMode !== 'closed')
    throw new TypeError('redisRateLimiter: failureMode must be open or closed');
  if (
    timeoutMs !== undefined &&
    (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000)
  )
    throw new TypeError('redisRateLimiter: timeoutMs must be an integer 1..60000');
}

export function redisRateLimiter(options: RedisRateLimiterOptions): RedisRateLimiter {
  checkOptions(options);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const open = options.failureMode === 'open';
  const timeoutMs = options.timeoutMs ?? 50;
  const owned = options.client === undefined;
  const client =
    options.client ??
    new Redis(options.url!, {
      commandTimeout: timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(1000, timeoutMs * 10),
      retryStrategy: retryDelay,
      enableAutoPipelining: options.autoPipelining ?? true,
      connectionName: 'ward-gateway-ratelimit',
    });
  // ioredis reports every failed reconnect as an `error` event, and prints the ones nobody
  // listens to: the outage is reported once, through onUnavailable, from hit().
  const quiet = (): void => {};
  if (owned) client.on('error', quiet);
  client.defineCommand(COMMAND, { numberOfKeys: 1, lua: RATE_LIMIT_SCRIPT });
  const run = (client as unknown as WithScript)[COMMAND].bind(client);
  let available = true;
  let closed = false;

  function down(rule: RateLimitRule, error: unknown): RateLimitVerdict {
    if (available) {
      available = false;
      options.onUnavailable?.(error instanceof Error ? error : new Error(String(error)));
    }
    return unavailableVerdict(rule, open);
  }

  return {
    get available() {
      return available;
    },
    async hit(bucket, rule) {
      checkRule(rule);
      if (closed) return unavailableVerdict(rule, open);
      const windowMs = rule.windowSec * 1000;
      let reply: unknown;
      try {
        const pending = run(`${prefix}${boundedBucket(bucket)}`, rule.limit, windowMs);
        reply = await (owned ? pending : withDeadline(pending, timeoutMs));
      } catch (error) {
        return down(rule, error);
      }
      if (!Array.isArray(reply) || reply.length !== 4 || !reply.every(isCount))
        return down(rule, new Error('rate-limit script answered an unexpected reply'));
      available = true;
      const [allowed, current, previous, elapsed] = reply as number[];
      const counts = { current: current!, previous: previous! };
      return windowVerdict(allowed === 1, counts, elapsed!, windowMs, rule.limit);
    },
    ready(waitMs = 5000) {
      if (client.status === 'ready') return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (value: boolean): void => {
          clearTimeout(timer);
          client.off('ready', onReady);
          resolve(value);
        };
        const onReady = (): void => done(true);
        const timer = setTimeout(() => done(false), waitMs);
        client.on('ready', onReady);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!owned) return;
      try {
        await withDeadline(client.quit(), 1000);
      } catch {
        // Already disconnected or not answering: drop the socket below.
      }
      client.disconnect();
    },
  };
}
