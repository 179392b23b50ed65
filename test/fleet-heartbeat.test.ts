/**
 * Issue 13, fleet status: a real PDP (SDK, token) and a real node agent report their status to a
 * real control plane (CA and fleet plugins, SQLite), and `GET /v1/fleet` and `/v1/identity`
 * show them: the PDP SYNCED at its revision, the agent with the workload SVID it holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningAgent, startAgent } from '@ward/agent';
import { generateSealKey } from '@ward/ca';
import { createPdp, type Pdp } from '@ward/sdk';
import { caPlugin, fleetPlugin, type RunningServer, startServer } from '@ward/server';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN = 'fleet-heartbeat-admin-token-0123456789';
const TD = 'fleet.test';
const silent = { warn() {}, error() {} };

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('status heartbeats', () => {
  let dir: string;
  let server: RunningServer;
  const pdps: Pdp[] = [];
  let agent: RunningAgent | undefined;
  const call = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  /** A PDP for `orders` on `cp` that reports to the fleet every `statusIntervalMs` (0: never). */
  const orderPdp = (
    cp: { url: string; publicKey: string },
    token: string,
    statusIntervalMs: number,
    logger: Parameters<typeof createPdp>[0]['logger'] = silent,
  ) => {
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: cp.url,
      publicKey: cp.publicKey,
      token,
      revisionFloor: false,
      logger,
      statusIntervalMs,
    });
    pdps.push(pdp);
    return pdp;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-fleet-heartbeat-'));
    server = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      heartbeatMs: 3000,
      plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() } }), fleetPlugin()],
    });
    const docs = ['orders', 'payments'].map((name) => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      // In the default namespace (keys `orders`, `payments`, which the PDPs are configured
      // with), with the shop identities their workloads hold.
      metadata: { name },
      spec: { spiffeId: `spiffe://${TD}/ns/shop/sa/${name}` },
    }));
    const content = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    expect((await call('POST', '/v1/apply', { files: [{ name: 'p.yaml', content }] })).status).toBe(
      200,
    );
  });

  afterAll(async () => {
    for (const p of pdps) await p.close();
    await agent?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a PDP reports itself with no extra config beyond the interval, and shows SYNCED', async () => {
    const token = (
      await call('POST', '/v1/tokens', { name: 'p', scope: 'pdp', services: ['orders'] })
    ).body.token as string;
    const pdp = orderPdp(server, token, 200);
    await pdp.waitReady({ timeoutMs: 10_000 });
    const instance = pdp.status().instance;
    expect(instance).toMatch(/^[A-Za-z0-9_-]{12}$/);
    pdp.decide({ source: { service: 'payments' }, request: { method: 'GET', path: '/' } });
    await waitFor('the PDP in the fleet', async () => {
      const item = (await call('GET', '/v1/fleet')).body.items.find(
        (i: { instance: string }) => i.instance === instance,
      );
      return item?.state === 'SYNCED' && item.revision === pdp.revision() && item.connected;
    });
    const item = (await call('GET', '/v1/fleet')).body.items.find(
      (i: { instance: string }) => i.instance === instance,
    );
    expect(item).toMatchObject({
      kind: 'pdp',
      service: 'orders',
      desiredRevision: pdp.revision(),
      version: '0.1.0',
    });
    expect(item.label).toContain(`/${process.pid}`);
    // Off with 0: no instance, nothing sent.
    const quiet = orderPdp(server, token, 0);
    expect(quiet.status().instance).toBeNull();
  });

  it('a control plane without the fleet plugin: reports fail quietly (debug), decisions go on', async () => {
    const bare = await startServer({
      dataDir: join(dir, 'bare'),
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      heartbeatMs: 3000,
    });
    try {
      const token = (
        await fetch(`${bare.url}/v1/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'p', scope: 'pdp', services: ['orders'] }),
        }).then((r) => r.json() as Promise<{ token: string }>)
      ).token;
      const lines: { level: string; message: string; fields: object }[] = [];
      const logger = {
        debug: (fields: object, message: string) => lines.push({ level: 'debug', message, fields }),
        warn: (fields: object, message: string) => lines.push({ level: 'warn', message, fields }),
        error: (fields: object, message: string) => lines.push({ level: 'error', message, fields }),
      };
      const pdp = orderPdp(bare, token, 100, logger);
      // No report before the first bundle: applied after the PDP started.
      await fetch(`${bare.url}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          files: [
            {
              name: 'a.yaml',
              content: JSON.stringify({
                apiVersion: 'ward.dev/v1',
                kind: 'Service',
                metadata: { name: 'orders' },
                spec: {},
              }),
            },
          ],
        }),
      });
      await pdp.waitReady({ timeoutMs: 10_000 });
      await waitFor(
        'two refused reports',
        async () => lines.filter((l) => l.message === 'status report refused').length >= 2,
      );
      const refused = lines.filter((l) => l.message === 'status report refused');
      expect(new Set(refused.map((l) => l.level))).toEqual(new Set(['debug']));
      expect(refused[0]!.fields).toMatchObject({ status: 404 });
      const d = pdp.decide({ source: { service: 'x' }, request: { method: 'GET', path: '/' } });
      expect(d.reason).not.toMatch(/no policy bundle/);
      await pdp.close();
    } finally {
      await bare.close();
    }
  });

  it('a node agent reports its node, the SVIDs it holds and its bundle revisions', async () => {
    expect(
      (
        await call('POST', '/v1/ca/entries', {
          spiffeId: `spiffe://${TD}/ns/shop/sa/orders`,
          node: 'worker-1',
          selectors: [`unix:uid:${process.getuid!()}`],
        })
      ).status,
    ).toBe(201);
    const jt = await call('POST', '/v1/ca/join-tokens', { node: 'worker-1' });
    agent = await startAgent({
      controlPlane: server.url,
      joinToken: jt.body.token,
      socketPath: join(dir, 'agent.sock'),
      logger: pino({ level: 'silent' }),
      statusIntervalMs: 200,
    });
    await waitFor('the agent in the fleet, holding the orders bundle', async () => {
      const a = (await call('GET', '/v1/fleet')).body.items.find(
        (i: { kind: string }) => i.kind === 'agent',
      );
      return a !== undefined && a.revision > 0 && a.state === 'SYNCED';
    });
    const id = (await call('GET', '/v1/identity')).body;
    const w = id.workloads.find((x: { node: string }) => x.node === 'worker-1');
    expect(w).toMatchObject({ spiffeId: `spiffe://${TD}/ns/shop/sa/orders`, service: 'orders' });
    expect(w.serial).toMatch(/^[0-9A-F]+$/i);
    expect(w.expiresInMs).toBeGreaterThan(0);
  });
});
