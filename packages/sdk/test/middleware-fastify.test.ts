import Fastify, { type FastifyInstance } from 'fastify';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DecisionLogEntry, toRecordV1, wardFastify } from '../src/index.ts';
import { call, tlsAgent } from './_http-client.ts';
import { fixtureDecider, passport } from './_policy-fixture.ts';
import { makeTlsFixture } from './_tls-fixture.ts';

describe('Fastify plugin', () => {
  let app: FastifyInstance;
  let url: string;
  const log: DecisionLogEntry[] = [];
  const agents: Record<string, Agent> = {};

  beforeAll(async () => {
    const tls = makeTlsFixture(['frontend', 'monitoring']);
    app = Fastify({
      https: { ...tls.server, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
    });
    await app.register(wardFastify, {
      decider: fixtureDecider(),
      service: 'orders',
      log: { record: (e) => log.push(e) },
    });
    // Registered in a child context: fastify-plugin semantics make the hook apply here too.
    await app.register(async (child) => {
      child.get('/orders/:id', async (request) => ({
        service: request.ward?.source.service,
        spiffeId: request.ward?.source.spiffeId,
        dryRunDenied: request.ward?.dryRunDenied,
      }));
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    agents.frontend = tlsAgent(tls.ca, tls.clients.frontend);
    agents.monitoring = tlsAgent(tls.ca, tls.clients.monitoring);
    agents.none = tlsAgent(tls.ca);
  });
  afterAll(async () => {
    await Promise.all(Object.values(agents).map((a) => a.close()));
    await app.close();
  });

  it('admits an allowed caller with its verified identity; logs the route pattern', async () => {
    const r = await call(`${url}/orders/9?q=secret`, { dispatcher: agents.frontend });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      service: 'frontend',
      spiffeId: 'spiffe://ward.test/ns/shop/sa/frontend',
      dryRunDenied: false,
    });
    expect(toRecordV1(log.at(-1)!)).toMatchObject({
      path: '/orders/:id',
      effect: 'allow',
      enforced: true,
    });
  });

  it('answers 403 with a problem body naming the rule', async () => {
    const r = await call(`${url}/orders/9`, { dispatcher: agents.monitoring });
    expect(r.status).toBe(403);
    expect(r.contentType).toMatch(/^application\/problem\+json(;|$)/);
    expect(r.body).toMatchObject({
      status: 403,
      code: 'MIDDLEWARE_DENIED',
      rule: 'orders-access#0',
    });
  });

  it('denies an anonymous caller by default, also on unknown routes', async () => {
    const r = await call(`${url}/nowhere/123`, { dispatcher: agents.none });
    expect(r.status).toBe(403);
    expect(r.body.rule).toBe('default');
    expect(toRecordV1(log.at(-1)!).path).toBe('/nowhere/{id}');
  });

  it('lets a dry-run denial through and marks it', async () => {
    const r = await call(`${url}/orders/export`, { dispatcher: agents.frontend });
    expect(r.status).toBe(200);
    expect(r.body.dryRunDenied).toBe(true);
    expect(toRecordV1(log.at(-1)!)).toMatchObject({
      effect: 'deny',
      enforced: false,
      rule: 'orders-export-freeze#0',
    });
  });

  it('refuses a malformed or tampered passport with 401 and the PASSPORT_* code', async () => {
    const r = await call(`${url}/orders/9`, {
      dispatcher: agents.frontend,
      headers: { 'x-ward-passport': 'x.y' },
    });
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ status: 401, code: 'PASSPORT_MALFORMED' });
    const token = passport({ sub: 'bob' });
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    const t = await call(`${url}/orders/9`, {
      dispatcher: agents.frontend,
      headers: { 'x-ward-passport': tampered },
    });
    expect(t.status).toBe(401);
    expect(t.body.code).toMatch(/^PASSPORT_/);
  });

  it('hands verified passport claims to the handler', async () => {
    const r = await call(`${url}/orders/9`, {
      dispatcher: agents.frontend,
      headers: { 'x-ward-passport': passport({ sub: 'bob' }) },
    });
    expect(r.status).toBe(200);
    expect(log.at(-1)).toMatchObject({ subject: 'bob', kid: 'k1' });
  });
});
