import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import express from 'express';
import type { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DecisionLogEntry, toRecordV1, wardExpress } from '../src/index.ts';
import { call, close, listen, tlsAgent } from './_http-client.ts';
import { fixtureDecider } from './_policy-fixture.ts';
import { makeTlsFixture } from './_tls-fixture.ts';

describe('Express middleware', () => {
  let server: Server;
  let url: string;
  const log: DecisionLogEntry[] = [];
  const agents: Record<string, Agent> = {};

  beforeAll(async () => {
    const tls = makeTlsFixture(['frontend', 'monitoring']);
    const ward = wardExpress({
      decider: fixtureDecider(),
      service: 'orders',
      log: { record: (e) => log.push(e) },
    });
    const app = express();
    // Route-level: the log gets the route pattern.
    app.get('/orders/:id', ward, (req, res) => {
      res.json({
        service: req.ward?.source.service,
        id: req.params.id,
        dryRunDenied: req.ward?.dryRunDenied,
      });
    });
    // App-wide under a router mount: the decision sees the full path, not the router-relative one.
    const router = express.Router();
    router.use(ward);
    router.post('/', (req, res) => res.status(201).json({ service: req.ward?.source.service }));
    app.use('/orders', router);
    server = createHttpsServer(
      { ...tls.server, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
      app,
    );
    url = await listen(server, 'https');
    agents.frontend = tlsAgent(tls.ca, tls.clients.frontend);
    agents.monitoring = tlsAgent(tls.ca, tls.clients.monitoring);
  });
  afterAll(async () => {
    await Promise.all(Object.values(agents).map((a) => a.close()));
    await close(server);
  });

  it('admits an allowed caller, records the route pattern', async () => {
    const r = await call(`${url}/orders/77?x=1`, { dispatcher: agents.frontend });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ service: 'frontend', id: '77', dryRunDenied: false });
    expect(toRecordV1(log.at(-1)!)).toMatchObject({ path: '/orders/:id', rule: 'orders-access#1' });
  });

  it('answers 403 with a problem body to a denied caller', async () => {
    const r = await call(`${url}/orders/77`, { dispatcher: agents.monitoring });
    expect(r.status).toBe(403);
    expect(r.contentType).toBe('application/problem+json');
    expect(r.body).toMatchObject({ code: 'MIDDLEWARE_DENIED', rule: 'orders-access#0' });
  });

  it('decides on the full path when mounted under a router', async () => {
    const r = await call(`${url}/orders`, { method: 'POST', dispatcher: agents.frontend });
    expect(r.status).toBe(201);
    expect(log.at(-1)!.path).toBe('/orders');
  });

  it('lets a dry-run denial through', async () => {
    const r = await call(`${url}/orders/export`, { dispatcher: agents.frontend });
    expect(r.status).toBe(200);
    expect(r.body.dryRunDenied).toBe(true);
  });
});
