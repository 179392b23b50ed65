import { createServer, type Server } from 'node:http';
import { compile, type PolicySet } from '@ward/policy';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEgressGuard,
  type Decider,
  EgressDeniedError,
  EnforcementError,
  egressInterceptor,
  guardedFetch,
  type Pdp,
} from '../src/index.ts';

import { close, listen } from './_http-client.ts';
import { DOCUMENTS, fixturePolicySet } from './_policy-fixture.ts';

// Compile-time check: a running PDP and a bare compiled PolicySet are both Deciders.
const _pdpIsDecider = (pdp: Pdp): Decider => pdp;
const _policySetIsDecider = (policy: PolicySet): Decider => policy;
void _pdpIsDecider;
void _policySetIsDecider;

describe('egress guard', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('ok');
    });
    url = await listen(server);
  });
  afterAll(() => close(server));

  it('decides the caller side of the destination policy', () => {
    const decisions: string[] = [];
    const guard = createEgressGuard({
      decider: fixturePolicySet(),
      self: 'frontend',
      onDecision: (d, decision) => decisions.push(`${d}:${decision.effect}:${decision.enforced}`),
    });
    expect(guard.check('orders', { method: 'get', path: '/orders/1?x=1' }).allowed).toBe(true);
    // Dry-run denial: proceeds, and the callback sees the would-deny.
    expect(guard.check('orders', { path: '/orders/export' }).effect).toBe('deny');
    expect(decisions).toEqual(['orders:allow:true', 'orders:deny:false']);
    let error: unknown;
    try {
      guard.check('orders', { method: 'DELETE', path: '/orders/1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EgressDeniedError);
    expect(error).toMatchObject({ code: 'EGRESS_DENIED', destination: 'orders' });
    expect((error as EgressDeniedError).decision.rule).toBeNull();
    expect((error as Error).message).toContain('default');
  });

  it('refuses as another service would be refused', () => {
    const guard = createEgressGuard({
      decider: fixturePolicySet(),
      self: { service: 'monitoring' },
    });
    expect(() => guard.check('orders')).toThrow(/orders-access#0/);
  });

  it('guardedFetch sends allowed requests and never sends denied ones', async () => {
    const guard = createEgressGuard({ decider: fixturePolicySet(), self: 'frontend' });
    const fetch = guardedFetch(guard, { destinations: { [url]: 'orders' } });
    const ok = await fetch(`${url}/orders/5`);
    expect(await ok.text()).toBe('ok');
    await expect(fetch(`${url}/orders/5`, { method: 'DELETE' })).rejects.toMatchObject({
      code: 'EGRESS_DENIED',
    });
    await expect(fetch(new Request(`${url}/admin`, { method: 'POST' }))).rejects.toBeInstanceOf(
      EgressDeniedError,
    );
    await expect(fetch('http://127.0.0.1:1/orders')).rejects.toMatchObject({
      code: 'EGRESS_UNKNOWN_DESTINATION',
    });
    expect(seen.filter((s) => s.startsWith('DELETE') || s.startsWith('POST'))).toEqual([]);
    expect(seen).toContain('GET /orders/5');
  });

  it('an undici interceptor guards every request made through the dispatcher', async () => {
    const guard = createEgressGuard({ decider: fixturePolicySet(), self: 'frontend' });
    const host = new URL(url).host;
    const agent = new Agent().compose(
      egressInterceptor(guard, { destinations: { [host]: 'orders' } }),
    );
    const ok = await request(`${url}/orders/6`, { dispatcher: agent });
    expect(await ok.body.text()).toBe('ok');
    const before = seen.length;
    const denied = await request(`${url}/orders/6`, { method: 'DELETE', dispatcher: agent }).catch(
      (e) => e,
    );
    expect(denied).toBeInstanceOf(EnforcementError);
    expect(denied.code).toBe('EGRESS_DENIED');
    expect(seen.length).toBe(before);
    await agent.close();
  });

  it('decides on the outgoing headers, whatever form undici gets them in', async () => {
    const policy = compile(
      [
        ...DOCUMENTS.filter((d) => d.kind === 'Service'),
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'orders-tenants' },
          spec: {
            destination: 'orders',
            rules: [
              {
                sources: ['frontend'],
                action: 'allow',
                permissions: [{ http: { headers: [{ name: 'x-tenant', exact: 'acme' }] } }],
              },
            ],
          },
        },
      ],
      { trustDomain: 'ward.test' },
    );
    const guard = createEgressGuard({ decider: policy, self: 'frontend' });
    const fetch = guardedFetch(guard, { destinations: { [url]: 'orders' } });
    expect((await fetch(`${url}/x`, { headers: { 'X-Tenant': 'acme' } })).status).toBe(200);
    await expect(fetch(`${url}/x`, { headers: { 'x-tenant': 'evil' } })).rejects.toMatchObject({
      code: 'EGRESS_DENIED',
    });
    const host = new URL(url).host;
    const agent = new Agent().compose(
      egressInterceptor(guard, { destinations: { [host]: 'orders' } }),
    );
    for (const headers of [
      { 'X-Tenant': 'acme' },
      ['x-tenant', 'acme'],
      new Map([['x-tenant', 'acme']]),
    ]) {
      const res = await request(`${url}/x`, { dispatcher: agent, headers: headers as never });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
    await expect(request(`${url}/x`, { dispatcher: agent })).rejects.toMatchObject({
      code: 'EGRESS_DENIED',
    });
    await agent.close();
  });

  it('rejects misuse with TypeError', () => {
    expect(() => createEgressGuard({ decider: fixturePolicySet(), self: '' })).toThrow(TypeError);
    const guard = createEgressGuard({ decider: fixturePolicySet(), self: 'frontend' });
    expect(() => guard.check('')).toThrow(TypeError);
  });
});
