/**
 * What the resilient client adds to a call besides resilience: the egress guard decides it first
 * (a denial never reaches the network), the passport travels in its header with its claims given
 * to the decision, and the W3C trace context is propagated (same trace id, a new span id). The
 * trace header parser takes untrusted input, so it has property tests; so does the retry budget.
 */
import type { PassportClaims } from '@ward/policy';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryBudget } from '../src/client/budget.ts';
import {
  type Client,
  childTrace,
  createClient,
  createEgressGuard,
  type Decider,
  EgressDeniedError,
  PASSPORT_HEADER,
  parseTraceParent,
} from '../src/index.ts';
import { fixturePolicySet, passport } from './_policy-fixture.ts';
import { type Upstream, upstream } from './_upstream.ts';

let orders: Upstream;
let connections = 0;
let client: Client;
const inputs: Parameters<Decider['decide']>[0][] = [];
const decisions: string[] = [];

beforeAll(async () => {
  orders = await upstream('ok');
  orders.server.on('connection', () => connections++);
  const policy = fixturePolicySet();
  // The real compiled policy; the wrapper only records what it was asked.
  const decider: Decider = {
    decide: (input) => {
      inputs.push(input);
      return policy.decide(input);
    },
  };
  client = createClient({
    self: 'frontend',
    guard: createEgressGuard({ decider, self: 'frontend' }),
    // Loopback: the passport test below sends one over plain http.
    destinations: { orders: { endpoints: [orders.url], insecure: true } },
    onDecision: (d, decision) => decisions.push(`${d}:${decision.effect}`),
  });
});

afterAll(async () => {
  await client?.close();
  await orders?.close();
});

describe('egress guard', () => {
  it('refuses a denied call without touching the network', async () => {
    const error = await client.request('orders', { method: 'DELETE', path: '/orders/1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EgressDeniedError);
    expect(error).toMatchObject({ code: 'EGRESS_DENIED', destination: 'orders' });
    expect([orders.hits, connections]).toEqual([0, 0]);
    expect(decisions).toEqual(['orders:deny']);
    expect(await client.registry.metrics()).toContain(
      'ward_client_requests_total{destination="orders",outcome="denied"} 1',
    );

    const res = await client.request('orders', { path: '/orders/1' });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(orders.hits).toBe(1);
    expect(decisions).toEqual(['orders:deny', 'orders:allow']);
  });

  it('forwards the passport and decides with its claims, not its token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = passport({ sub: 'alice', attrs: { role: 'admin' } });
    const claims: PassportClaims = {
      sub: 'alice',
      attrs: { role: 'admin' },
      iat: now,
      exp: now + 60,
      iss: 'frontend',
      kid: 'k1',
    };
    const res = await client.request('orders', {
      method: 'POST',
      path: '/orders',
      body: '{}',
      passport: { token, claims },
    });
    await res.body.dump();
    expect(orders.seen.at(-1)![PASSPORT_HEADER]).toBe(token);
    const input = inputs.at(-1)!;
    expect(input.passport).toBe(claims);
    expect(JSON.stringify(input.request)).not.toContain(token);
  });
});

describe('passports over plain http', () => {
  const now = Math.floor(Date.now() / 1000);
  const claims: PassportClaims = {
    sub: 'alice',
    attrs: {},
    iat: now,
    exp: now + 60,
    iss: 'frontend',
    kid: 'k1',
  };
  const token = passport({ sub: 'alice' });

  it('refuses a passport for an http:// destination unless it is marked insecure', async () => {
    const plain = createClient({
      self: 'frontend',
      destinations: {
        orders: { endpoints: [orders.url] },
        'shop/orders': { endpoints: [orders.url], insecure: true },
      },
    });
    const loose = createClient({
      self: 'frontend',
      defaults: { insecure: true },
      destinations: { orders: { endpoints: [orders.url] } },
    });
    try {
      const hits = orders.hits;
      await expect(
        plain.request('orders', { path: '/orders/1', passport: { token, claims } }),
      ).rejects.toThrow(TypeError);
      expect(orders.hits).toBe(hits);
      // Without a passport the destination is usable.
      const anonymous = await plain.request('orders', { path: '/orders/1' });
      await anonymous.body.dump();
      // Marked insecure on the destination, or in the defaults: sent.
      for (const [c, ref] of [
        [plain, 'shop/orders'],
        [loose, 'orders'],
      ] as const) {
        const res = await c.request(ref, { path: '/orders/1', passport: { token, claims } });
        await res.body.dump();
        expect(orders.seen.at(-1)![PASSPORT_HEADER]).toBe(token);
      }
      expect(orders.hits).toBe(hits + 3);
    } finally {
      await Promise.all([plain.close(), loose.close()]);
    }
  });

  it('rejects a non-boolean insecure with TypeError', () => {
    expect(() =>
      createClient({
        self: 'frontend',
        destinations: { orders: { endpoints: [orders.url], insecure: 'yes' as never } },
      }),
    ).toThrow(TypeError);
  });
});

describe('trace context', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

  it('keeps the trace id, makes a new span id, passes tracestate through', async () => {
    const parent = `00-${traceId}-00f067aa0ba902b7-01`;
    const res = await client.request('orders', {
      path: '/orders/1',
      traceparent: parent,
      tracestate: 'ward=1,other=x',
    });
    await res.body.dump();
    const seen = orders.seen.at(-1)!;
    const out = parseTraceParent(seen.traceparent)!;
    expect(out.traceId).toBe(traceId);
    expect(out.parentId).not.toBe('00f067aa0ba902b7');
    expect(out.flags).toBe('01');
    expect(seen.tracestate).toBe('ward=1,other=x');
  });

  it('starts a new trace when there is none or it is malformed', async () => {
    for (const traceparent of [undefined, 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]) {
      const res = await client.request('orders', {
        path: '/orders/1',
        ...(traceparent === undefined ? {} : { traceparent }),
        tracestate: 'dropped=1',
      });
      await res.body.dump();
      const seen = orders.seen.at(-1)!;
      expect(parseTraceParent(seen.traceparent)).toBeDefined();
      expect(seen.tracestate).toBeUndefined();
    }
  });

  it('parseTraceParent never throws and accepts exactly the valid headers', () => {
    const hex = (n: number) =>
      fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => !/^0+$/.test(s));
    fc.assert(
      fc.property(hex(32), hex(16), hex(2), (t, p, f) => {
        expect(parseTraceParent(`00-${t}-${p}-${f}`)).toEqual({
          traceId: t,
          parentId: p,
          flags: f,
        });
        // A later version may append fields; version 00 may not.
        expect(parseTraceParent(`01-${t}-${p}-${f}-extra`)).toEqual({
          traceId: t,
          parentId: p,
          flags: f,
        });
        expect(parseTraceParent(`00-${t}-${p}-${f}-extra`)).toBeUndefined();
        expect(parseTraceParent(`ff-${t}-${p}-${f}`)).toBeUndefined();
        expect(parseTraceParent(`00-${t.toUpperCase()}-${p}-${f}`)).toEqual(
          /[a-f]/.test(t) ? undefined : { traceId: t, parentId: p, flags: f },
        );
      }),
    );
    fc.assert(
      fc.property(fc.anything(), fc.string(), (value, text) => {
        parseTraceParent(value);
        const out = childTrace(text, text);
        // Whatever came in, what goes out is a valid version-00 header.
        expect(out.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
        expect(parseTraceParent(out.traceparent)).toBeDefined();
        if (out.tracestate !== undefined) expect(out.tracestate).toMatch(/^[\x20-\x7e]{1,512}$/);
      }),
    );
  });
});

describe('retry budget', () => {
  it('admits at most ratio × requests + the reserve per 10 s window', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.integer({ min: 0, max: 500 }),
        (ratio, minPerSec, requests) => {
          const budget = new RetryBudget(ratio, minPerSec);
          const t = 1_000_000_000;
          for (let i = 0; i < requests; i++) budget.deposit(t);
          let retries = 0;
          while (retries < 10_000 && budget.withdraw(t + 500)) retries++;
          // Within one of the bound (floating point at the edge).
          const bound = ratio * requests + minPerSec * 10;
          expect(retries).toBeLessThanOrEqual(bound + 1e-6);
          expect(retries).toBeGreaterThan(bound - 1 - 1e-6);
          // Ten seconds later the window has moved on: only the reserve is left.
          let later = 0;
          while (later < 10_000 && budget.withdraw(t + 10_000)) later++;
          expect(later).toBeLessThanOrEqual(minPerSec * 10 + 1e-6);
          expect(later).toBeGreaterThan(minPerSec * 10 - 1 - 1e-6);
        },
      ),
    );
  });
});
