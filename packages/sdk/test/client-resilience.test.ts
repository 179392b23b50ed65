/**
 * The resilient client against misbehaving upstreams on loopback: one that hangs, one that
 * errors, one that resets connections, one that is down. The breaker opens and calls then fail
 * fast, and it closes again when the upstream heals; retries are for idempotent calls only and
 * the budget stops a storm (attempts counted at the server); the bulkhead bounds concurrency;
 * load spreads over endpoints; ejected and unhealthy endpoints leave the rotation and come back.
 *
 * Latencies are measured only against generous bounds (the configured timeout plus a margin):
 * they check that a hanging upstream cannot hold the caller, not how fast anything is.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, type ClientError, type ClientOptions, createClient } from '../src/index.ts';
import { until } from './_pdp-fixture.ts';
import { freePort, HEALTH_PATH, type Mode, timed, type Upstream, upstream } from './_upstream.ts';

const DEST = 'shop/orders';
/** Slack for a loaded CI machine; a hang would exceed it by far. */
const MARGIN_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const open: { clients: Client[]; upstreams: Upstream[] } = { clients: [], upstreams: [] };

afterEach(async () => {
  await Promise.all(open.clients.splice(0).map((c) => c.close()));
  await Promise.all(open.upstreams.splice(0).map((u) => u.close()));
});

async function start(mode: Mode = 'ok', port?: number): Promise<Upstream> {
  const u = await upstream(mode, port === undefined ? {} : { port });
  open.upstreams.push(u);
  return u;
}

function client(
  endpoints: string[],
  options: Partial<ClientOptions['destinations'][string]> = {},
): Client {
  const c = createClient({
    self: 'shop/frontend',
    destinations: { [DEST]: { endpoints, ...options } },
  });
  open.clients.push(c);
  return c;
}

async function metric(c: Client, name: string, labels = ''): Promise<number> {
  const text = await c.registry.metrics();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{destination="${DEST}"${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const code = (error: unknown) => (error as ClientError | undefined)?.code;

/** Calls GET / until the breaker fails one fast; returns the calls' results before it. */
async function untilOpen(c: Client, limit = 10) {
  const before: Awaited<ReturnType<typeof timed>>[] = [];
  for (let i = 0; i < limit; i++) {
    const r = await timed(() => c.request(DEST, { path: '/' }));
    if (code(r.error) === 'CLIENT_CIRCUIT_OPEN') return { before, open: r };
    await (r.value as { body?: { dump(): Promise<void> } } | undefined)?.body?.dump();
    before.push(r);
  }
  throw new Error('the breaker never opened');
}

const breakerOptions = {
  timeoutMs: 200,
  retry: { maxAttempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
  breaker: { consecutiveFailures: 4, halfOpenAfterMs: 300 },
};

describe('circuit breaker', () => {
  it('a hanging upstream costs at most the timeout, opens the breaker, and heals', async () => {
    const up = await start('hang');
    // A deadline that always leaves room for both attempts, however loaded the machine: each
    // call then fails twice (the default deadline, 2 × 200 + 20 ms, may cut the second attempt).
    const c = client([up.url], { ...breakerOptions, deadlineMs: 10_000 });
    const { before, open: failedFast } = await untilOpen(c);
    // Two calls of two timed-out attempts each make the four failures.
    expect(before.map((r) => code(r.error))).toEqual(['CLIENT_TIMEOUT', 'CLIENT_TIMEOUT']);
    for (const r of before) expect(r.ms).toBeLessThan(2 * 200 + 20 + MARGIN_MS);
    expect(failedFast.ms).toBeLessThan(MARGIN_MS);
    expect((failedFast.error as ClientError).attempts).toBe(0);
    expect(up.hits).toBe(4);
    // Timed-out attempts gave their connections back (the server saw them close).
    await until(() => up.abandoned === 4, 'timed-out requests to close');
    expect(await metric(c, 'ward_client_breaker_state')).toBe(2);
    expect(await metric(c, 'ward_client_requests_total', ',outcome="circuit_open"')).toBe(1);
    expect(await metric(c, 'ward_client_requests_total', ',outcome="timeout"')).toBe(2);

    up.mode = 'ok';
    await sleep(350);
    const res = await c.request(DEST, { path: '/healed' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ url: '/healed' });
    expect(await metric(c, 'ward_client_breaker_state')).toBe(0);
    expect((await c.request(DEST, { path: '/' })).statusCode).toBe(200);
  });

  it('a 500 opens it without retries; a 503 is retried for GET', async () => {
    const up = await start(500);
    const c = client([up.url], breakerOptions);
    const { before } = await untilOpen(c);
    expect(before.map((r) => (r.value as { statusCode: number }).statusCode)).toEqual([
      500, 500, 500, 500,
    ]);
    expect(up.hits).toBe(4);

    const up2 = await start(503);
    const c2 = client([up2.url], breakerOptions);
    const second = await untilOpen(c2);
    // Answers, not errors: the caller sees the 503 after the retries.
    expect(second.before.map((r) => (r.value as { attempts: number }).attempts)).toEqual([2, 2]);
    expect(up2.hits).toBe(4);
    expect(await metric(c2, 'ward_client_retries_total')).toBe(2);
  });

  it('connection resets and a closed port open it; the upstream coming up closes it', async () => {
    const up = await start('reset');
    const c = client([up.url], breakerOptions);
    const { before } = await untilOpen(c);
    expect(before.map((r) => code(r.error))).toEqual(['CLIENT_UNAVAILABLE', 'CLIENT_UNAVAILABLE']);
    expect(up.hits).toBe(4);

    const port = await freePort();
    const c2 = client([`http://127.0.0.1:${port}`], breakerOptions);
    const down = await untilOpen(c2);
    expect(down.before.map((r) => code(r.error))).toEqual([
      'CLIENT_UNAVAILABLE',
      'CLIENT_UNAVAILABLE',
    ]);
    expect((down.before[0]!.error as ClientError).attempts).toBe(2);
    for (const r of down.before) expect(r.ms).toBeLessThan(2 * 200 + 20 + MARGIN_MS);

    const revived = await start('ok', port);
    await sleep(350);
    expect((await c2.request(DEST, { path: '/' })).statusCode).toBe(200);
    expect(revived.hits).toBe(1);
  });
});

describe('retries', () => {
  const noBreaker = {
    timeoutMs: 1000,
    retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
    breaker: false,
  } as const;

  it('only for idempotent calls, never with a streamed body', async () => {
    const up = await start(503);
    const c = client([up.url], noBreaker);
    const post = await c.request(DEST, { method: 'POST', path: '/orders', body: '{}' });
    expect([post.statusCode, post.attempts, up.hits]).toEqual([503, 1, 1]);
    await post.body.dump();

    const forced = await c.request(DEST, {
      method: 'POST',
      path: '/orders',
      body: '{}',
      idempotent: true,
    });
    expect([forced.attempts, up.hits]).toEqual([3, 4]);
    await forced.body.dump();

    const get = await c.request(DEST, { path: '/orders/1' });
    expect([get.attempts, up.hits]).toEqual([3, 7]);
    await get.body.dump();

    const put = await c.request(DEST, {
      method: 'PUT',
      path: '/orders/1',
      body: Readable.from([Buffer.from('streamed')]),
    });
    expect([put.attempts, up.hits]).toEqual([1, 8]);
    await put.body.dump();

    const get404 = await start(404);
    const c404 = client([get404.url], noBreaker);
    const res = await c404.request(DEST, { path: '/missing' });
    expect([res.statusCode, res.attempts, get404.hits]).toEqual([404, 1, 1]);
    await res.body.dump();
  });

  it('a buffered body is sent again on each attempt', async () => {
    const first = await start('reset');
    const second = await start('reset');
    const c = client([first.url, second.url], { ...noBreaker, retry: { maxAttempts: 2 } });
    await expect(
      c.request(DEST, { method: 'PUT', path: '/o', body: Buffer.from('payload') }),
    ).rejects.toMatchObject({ code: 'CLIENT_UNAVAILABLE', attempts: 2 });
    // The retry went to the other endpoint.
    expect([first.hits, second.hits]).toEqual([1, 1]);
    second.mode = 'ok';
    first.mode = 'ok';
    const res = await c.request(DEST, { method: 'PUT', path: '/o', body: Buffer.from('payload') });
    expect(await res.body.json()).toMatchObject({ body: 'payload', method: 'PUT' });
  });

  it('honours Retry-After up to maxDelayMs, and returns the answer beyond it', async () => {
    const up = await start(503);
    const c = client([up.url], { ...noBreaker, retry: { maxAttempts: 3, maxDelayMs: 1500 } });
    up.headers['retry-after'] = '60';
    const later = await c.request(DEST, { path: '/' });
    expect([later.statusCode, later.attempts]).toEqual([503, 1]);
    await later.body.dump();
    up.headers['retry-after'] = '0';
    const now = await c.request(DEST, { path: '/' });
    expect(now.attempts).toBe(3);
    await now.body.dump();
  });

  it('the retry budget stops a retry storm', async () => {
    const up = await start(503);
    const c = client([up.url], {
      ...noBreaker,
      // At most 0.1 retries per call, plus 5 per 10 s: 50 calls may retry ~10 times, not 100.
      retry: {
        maxAttempts: 3,
        initialDelayMs: 1,
        maxDelayMs: 2,
        budget: { ratio: 0.1, minPerSec: 0.5 },
      },
    });
    for (let i = 0; i < 50; i++) await (await c.request(DEST, { path: '/' })).body.dump();
    expect(up.hits).toBeGreaterThanOrEqual(50);
    expect(up.hits).toBeLessThanOrEqual(50 + 10 + 1);
    expect(await metric(c, 'ward_client_retry_budget_exhausted_total')).toBeGreaterThan(0);
  });
});

describe('timeouts and cancellation', () => {
  it('the deadline bounds the whole call; the caller can abort', async () => {
    const up = await start('hang');
    const c = client([up.url], { timeoutMs: 5000, breaker: false });
    const r = await timed(() => c.request(DEST, { path: '/', deadlineMs: 150 }));
    expect(code(r.error)).toBe('CLIENT_TIMEOUT');
    expect(r.ms).toBeLessThan(150 + MARGIN_MS);

    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = c.request(DEST, { path: '/', signal: controller.signal });
    await until(() => up.hits === 2, 'the request to arrive');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await until(() => up.abandoned === 2, 'aborted requests to close');
    expect(await metric(c, 'ward_client_requests_total', ',outcome="aborted"')).toBe(1);
  });
});

describe('bulkhead', () => {
  it('rejects calls beyond maxConcurrent + maxQueue at once', async () => {
    const up = await start('hold');
    const c = client([up.url], { bulkhead: { maxConcurrent: 2, maxQueue: 1 }, breaker: false });
    const admitted = [1, 2, 3].map(() => c.request(DEST, { path: '/' }));
    const r = await timed(() => c.request(DEST, { path: '/' }));
    expect(code(r.error)).toBe('CLIENT_BULKHEAD_FULL');
    await until(() => up.hits === 2, 'two calls in progress');
    up.release();
    await until(() => up.hits === 3, 'the queued call');
    up.release();
    const answers = await Promise.all(admitted);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    await Promise.all(answers.map((a) => a.body.dump()));
    expect(await metric(c, 'ward_client_requests_total', ',outcome="bulkhead_full"')).toBe(1);
  });
});

describe('load balancing', () => {
  it('spreads calls over three endpoints', async () => {
    const ups = await Promise.all([start(), start(), start()]);
    const c = client(ups.map((u) => u.url));
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => (await c.request(DEST, { path: '/' })).body.dump()),
      );
    }
    expect(ups.reduce((n, u) => n + u.hits, 0)).toBe(300);
    for (const u of ups) expect(u.hits).toBeGreaterThan(40);
  });

  it('ejects an endpoint that refuses connections, and takes it back later', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const port = await freePort();
    const c = client([a.url, b.url, `http://127.0.0.1:${port}`], {
      breaker: false,
      ejection: { consecutiveFailures: 1, baseMs: 1500, maxMs: 1500 },
    });
    let failedAttempts = 0;
    for (let i = 0; i < 30; i++) {
      const res = await c.request(DEST, { path: '/' });
      expect(res.statusCode).toBe(200);
      failedAttempts += res.attempts - 1;
      await res.body.dump();
    }
    // Every call succeeded (a failed attempt moved to another endpoint), and once ejected the
    // closed port was left alone: one failed attempt, not one in three.
    expect(a.hits + b.hits).toBe(30);
    expect(failedAttempts).toBe(await metric(c, 'ward_client_endpoint_ejections_total'));
    expect(failedAttempts).toBeGreaterThanOrEqual(1);
    expect(failedAttempts).toBeLessThanOrEqual(2);

    const revived = await start('ok', port);
    await sleep(1600);
    for (let i = 0; i < 60; i++) await (await c.request(DEST, { path: '/' })).body.dump();
    expect(revived.hits).toBeGreaterThan(0);
  });

  it('tries ejected endpoints anyway when all are out (panic mode)', async () => {
    const ports = await Promise.all([freePort(), freePort()]);
    const c = client(
      ports.map((p) => `http://127.0.0.1:${p}`),
      { breaker: false, retry: false, ejection: { consecutiveFailures: 1, baseMs: 60_000 } },
    );
    for (let i = 0; i < 4; i++) {
      // Each call still reaches the network (attempts: 1), rather than failing for want of an
      // endpoint.
      await expect(c.request(DEST, { path: '/' })).rejects.toMatchObject({
        code: 'CLIENT_UNAVAILABLE',
        attempts: 1,
      });
    }
    // Both are still ejected for a minute, yet the one that comes back gets calls at once.
    const revived = await start('ok', ports[0]);
    for (let i = 0; i < 40 && revived.hits === 0; i++) {
      await c.request(DEST, { path: '/' }).then(
        (res) => res.body.dump(),
        () => undefined,
      );
    }
    expect(revived.hits).toBeGreaterThan(0);
  });

  it('leaves out endpoints failing their health check until they pass', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    b.health = 503;
    const c = client([a.url, b.url], { healthCheck: { path: HEALTH_PATH, intervalMs: 50 } });
    await until(() => b.checks >= 2, 'health checks of b');
    for (let i = 0; i < 20; i++) await (await c.request(DEST, { path: '/' })).body.dump();
    expect([a.hits, b.hits]).toEqual([20, 0]);
    b.health = 200;
    const seen = b.checks;
    await until(() => b.checks >= seen + 2, 'b to pass its check');
    for (let i = 0; i < 40; i++) await (await c.request(DEST, { path: '/' })).body.dump();
    expect(b.hits).toBeGreaterThan(0);
  });
});

describe('misuse', () => {
  it('throws TypeError for bad options and requests', async () => {
    expect(() =>
      createClient({ self: 'shop/frontend', destinations: { x: { endpoints: [] } } }),
    ).toThrow(TypeError);
    expect(() =>
      createClient({ self: 'shop/frontend', destinations: { x: { endpoints: ['ftp://a'] } } }),
    ).toThrow(TypeError);
    expect(() =>
      createClient({ self: 'shop/frontend', destinations: { x: { endpoints: ['https://a'] } } }),
    ).toThrow(/identity/);
    const c = client(['http://127.0.0.1:9']);
    await expect(c.request('shop/unknown', { path: '/' })).rejects.toThrow(TypeError);
    await expect(c.request(DEST, { path: 'no-slash' })).rejects.toThrow(TypeError);
    await expect(
      c.request(DEST, { path: '/', headers: { 'X-Ward-Passport': 'forged' } }),
    ).rejects.toThrow(TypeError);
    await c.close();
    await expect(c.request(DEST, { path: '/' })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});
