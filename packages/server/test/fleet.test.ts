/**
 * Fleet status: PDP and agent reports, GET /v1/fleet and /v1/identity, the alert sources, on a
 * real server (SQLite, and PostgreSQL when it answers) with the CA and fleet plugins. The fleet
 * plugin's clock is the test's (`now`), so STALE, LOST and expiry are reached without waiting.
 */
import { AGENT_PROOF_HEADER, createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pdpStaleSource, svidExpiringSource } from '../src/fleet/alert-sources.ts';
import { caPlugin, fleetPlugin, type RunningServer } from '../src/index.ts';
import { cleanupDirs, FILE, http, startTestServer, svc, yamlOf } from './helpers.ts';
import { backends } from './ingest-fixture.ts';

afterAll(() => cleanupDirs());
const list = await backends('fleet.test.ts');
const TD = 'ward.local';
const INTERVAL = 30_000;

const report = (over: Record<string, unknown> = {}) => ({
  instance: 'i-1',
  service: 'orders',
  revision: 1,
  bundleAt: new Date().toISOString(),
  connected: true,
  version: '0.0.0-test',
  startedAt: new Date().toISOString(),
  label: 'host-a/123',
  decisions: { allowed: 3, denied: 1, dryRunDenied: 0 },
  ...over,
});

describe.each(list)('fleet on $name', (backend) => {
  let server: RunningServer;
  let url: string;
  let drop: () => Promise<void>;
  let offset = 0;
  const now = () => Date.now() + offset;
  let ordersPdp: string;
  let teamOrders: string;
  let teamOther: string;
  const token = async (name: string, scope: string, services: string[]) => {
    const r = await http(url, 'POST', '/v1/tokens', { body: { name, scope, services } });
    expect(r.status).toBe(201);
    return r.body.token as string;
  };

  beforeAll(async () => {
    const db = await backend.database();
    drop = db.drop;
    server = await startTestServer({
      ...(db.url ? { database: db.url } : {}),
      plugins: [
        caPlugin(),
        fleetPlugin({ now, limits: { maxPerService: 3, staleGraceMs: 60_000 } }),
      ],
    });
    url = server.url;
    const docs = [
      svc('orders', { spiffeId: `spiffe://${TD}/ns/shop/sa/orders` }),
      svc('payments', { spiffeId: `spiffe://${TD}/ns/shop/sa/payments` }),
    ];
    expect((await http(url, 'POST', '/v1/apply', FILE(yamlOf(docs)))).status).toBe(200);
    ordersPdp = await token('pdp-orders', 'pdp', ['orders']);
    teamOrders = await token('team-orders', 'team', ['orders']);
    teamOther = await token('team-other', 'team', ['billing']);
  });
  afterAll(async () => {
    await server?.close();
    await drop?.();
  });

  const fleet = async (tok?: string) => (await http(url, 'GET', '/v1/fleet', { token: tok })).body;
  const desired = async (service: string): Promise<number> =>
    JSON.parse((await http(url, 'GET', `/v1/bundles/${service}`)).body.payload).revision;

  it('takes a PDP report for its own service only, screened and bounded', async () => {
    const rev = await desired('orders');
    const ok = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ revision: rev }),
    });
    expect(ok.status).toBe(204);
    const other = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ service: 'payments', instance: 'i-x' }),
    });
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({
      code: 'API_FORBIDDEN',
      errors: [{ field: 'body.service' }],
    });
    // A PDP credential cannot take over (or hide) another service's instance by reusing its id.
    const paymentsPdp = await token('pdp-payments', 'pdp', ['payments']);
    const hijack = await http(url, 'POST', '/v1/status/pdp', {
      token: paymentsPdp,
      body: report({ service: 'payments', label: 'hijack' }),
    });
    expect(hijack.status).toBe(409);
    expect(hijack.body).toMatchObject({
      code: 'API_CONFLICT',
      errors: [{ field: 'body.instance' }],
    });
    const row = (await fleet()).items.find((m: { instance: string }) => m.instance === 'i-1');
    expect(row).toMatchObject({ service: 'orders', label: 'host-a/123' });
    // Only PDP credentials report; an admin token is not a PDP.
    expect((await http(url, 'POST', '/v1/status/pdp', { body: report() })).status).toBe(403);
    expect(
      (await http(url, 'POST', '/v1/status/pdp', { token: null, body: report() })).status,
    ).toBe(401);
    const ansi = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ label: 'x\u001b[31mred' }),
    });
    expect(ansi.status).toBe(400);
    expect(ansi.body.errors[0].field).toBe('body.label');
    const big = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      raw: JSON.stringify(report({ label: 'x'.repeat(20_000) })),
    });
    expect(big.status).toBe(413);
    // A revoked PDP token reports no more.
    const spare = await token('pdp-spare', 'pdp', ['orders']);
    const list = await http(url, 'GET', '/v1/tokens');
    const id = list.body.items.find((t: { name: string }) => t.name === 'pdp-spare').id;
    expect((await http(url, 'DELETE', `/v1/tokens/${id}`)).status).toBeLessThan(300);
    const revoked = await http(url, 'POST', '/v1/status/pdp', {
      token: spare,
      body: report({ instance: 'i-spare' }),
    });
    expect(revoked.status).toBe(401);
  });

  it('lists the fleet: admin sees all, a team its services only and no agents', async () => {
    const rev = await desired('orders');
    const all = await fleet();
    expect(all.items).toEqual([
      expect.objectContaining({
        kind: 'pdp',
        instance: 'i-1',
        service: 'orders',
        node: null,
        revision: rev,
        desiredRevision: rev,
        state: 'SYNCED',
        connected: true,
        label: 'host-a/123',
      }),
    ]);
    expect((await fleet(teamOrders)).items.map((i: { instance: string }) => i.instance)).toEqual([
      'i-1',
    ]);
    expect((await fleet(teamOther)).items).toEqual([]);
    expect((await http(url, 'GET', '/v1/fleet', { token: ordersPdp })).status).toBe(403);
  });

  it('marks a PDP STALE past the grace, LOST after 3 intervals, and forgets it later', async () => {
    const before = await desired('orders');
    const docs = [svc('orders', { spiffeId: `spiffe://${TD}/ns/shop/sa/orders`, owner: 'x' })];
    const applied = await http(url, 'POST', '/v1/apply', FILE(yamlOf(docs)));
    expect(applied.status).toBe(200);
    const after = await desired('orders');
    expect(after).toBeGreaterThan(before);
    expect((await fleet()).items[0]).toMatchObject({ desiredRevision: after, state: 'SYNCED' });
    offset = 61_000;
    expect(
      (
        await http(url, 'POST', '/v1/status/pdp', {
          token: ordersPdp,
          body: report({ revision: before }),
        })
      ).status,
    ).toBe(204);
    expect((await fleet()).items[0]).toMatchObject({ revision: before, state: 'STALE' });
    const stale = await pdpStaleSource({ db: server.app.ward.db }).evaluate(now());
    expect(stale).toEqual([
      expect.objectContaining({
        name: 'WardPdpStale',
        key: 'pdp/i-1',
        severity: 'warning',
        labels: { service: 'orders', instance: 'i-1', state: 'STALE' },
      }),
    ]);
    offset += 3 * INTERVAL + 1000;
    expect((await fleet()).items[0]).toMatchObject({ state: 'LOST' });
    const lost = await pdpStaleSource({ db: server.app.ward.db }).evaluate(now());
    expect(lost[0]).toMatchObject({ key: 'pdp/i-1', severity: 'critical' });
    // Caught up: the alert resolves (absent from the answer).
    await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ revision: after }),
    });
    expect(await pdpStaleSource({ db: server.app.ward.db }).evaluate(now())).toEqual([]);
    offset += 21 * INTERVAL;
    expect((await fleet()).items).toEqual([]);
  });

  it('caps the instances of a service: a new one beyond the cap gets 429, known ones go on', async () => {
    for (const i of ['a', 'b', 'c']) {
      const r = await http(url, 'POST', '/v1/status/pdp', {
        token: ordersPdp,
        body: report({ instance: `cap-${i}` }),
      });
      expect(r.status).toBe(204);
    }
    const over = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ instance: 'cap-d' }),
    });
    expect(over.status).toBe(429);
    expect(over.body.code).toBe('API_RATE_LIMITED');
    expect(over.headers.get('retry-after')).toBe('30');
    const again = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ instance: 'cap-a' }),
    });
    expect(again.status).toBe(204);
    // Once the others expire, room is made.
    offset += 21 * INTERVAL;
    const later = await http(url, 'POST', '/v1/status/pdp', {
      token: ordersPdp,
      body: report({ instance: 'cap-d' }),
    });
    expect(later.status).toBe(204);
  });

  it('takes agent reports for its own node and workloads only; shows them in the identity view', async () => {
    const entry = async (name: string, node: string) =>
      http(url, 'POST', '/v1/ca/entries', {
        body: { spiffeId: `spiffe://${TD}/ns/shop/sa/${name}`, node, selectors: ['unix:uid:1000'] },
      });
    expect((await entry('orders', 'n1')).status).toBe(201);
    expect((await entry('payments', 'n2')).status).toBe(201);
    const jt = await http(url, 'POST', '/v1/ca/join-tokens', { body: { node: 'n1' } });
    const keys = await generateKeyPair();
    const att = await http(url, 'POST', '/v1/agent/attest', {
      token: null,
      body: { joinToken: jt.body.token, csr: await createCsr(keys) },
    });
    expect(att.status).toBe(200);
    const send = async (body: unknown, proof = true) =>
      http(url, 'POST', '/v1/status/agent', {
        token: null,
        body,
        headers: proof
          ? {
              [AGENT_PROOF_HEADER]: await signAgentProof({
                privateKey: keys.privateKey,
                chainPem: att.body.chain,
                spiffeId: att.body.spiffeId,
                method: 'POST',
                path: '/v1/status/agent',
              }),
            }
          : {},
      });
    const notAfter = new Date(now() + 3_600_000).toISOString();
    const good = {
      node: 'n1',
      version: '0.0.0-test',
      workloads: [{ spiffeId: `spiffe://${TD}/ns/shop/sa/orders`, serial: 'abc123', notAfter }],
      bundles: [{ service: 'orders', revision: await desired('orders') }],
    };
    expect((await send(good, false)).status).toBe(401);
    expect((await send({ ...good, node: 'n2' })).status).toBe(403);
    const foreign = await send({
      ...good,
      workloads: [{ spiffeId: `spiffe://${TD}/ns/shop/sa/payments`, serial: '01', notAfter }],
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body.errors[0].field).toBe('body.workloads[0].spiffeId');
    // A bundle of a service not on the node is dropped (a feed keeps what it once held).
    const bundle = await send({ ...good, bundles: [{ service: 'payments', revision: 1 }] });
    expect(bundle.status).toBe(204);
    expect((await fleet()).items.find((i: { kind: string }) => i.kind === 'agent')).toMatchObject({
      revision: 0,
      desiredRevision: null,
    });
    expect((await send(good)).status).toBe(204);

    const agents = (await fleet()).items.filter((i: { kind: string }) => i.kind === 'agent');
    expect(agents).toEqual([
      expect.objectContaining({ instance: att.body.spiffeId, node: 'n1', state: 'SYNCED' }),
    ]);
    const id = await http(url, 'GET', '/v1/identity');
    expect(id.status).toBe(200);
    expect(id.body.trustDomain).toBe(TD);
    expect(id.body.trustBundle.roots).toEqual([expect.objectContaining({ state: 'active' })]);
    expect(id.body.trustBundle.rotation).toMatchObject({ state: 'idle', next: null });
    expect(id.body.workloads).toEqual([
      expect.objectContaining({
        spiffeId: `spiffe://${TD}/ns/shop/sa/orders`,
        service: 'orders',
        node: 'n1',
        serial: 'abc123',
        notAfter,
      }),
      expect.objectContaining({ service: 'payments', node: 'n2', serial: null, expiresInMs: null }),
    ]);
    const team = await http(url, 'GET', '/v1/identity', { token: teamOrders });
    expect(team.body.workloads.map((w: { service: string }) => w.service)).toEqual(['orders']);
    expect((await http(url, 'POST', '/v1/ca/root/prepare')).status).toBe(200);
    const rotating = (await http(url, 'GET', '/v1/identity')).body.trustBundle;
    expect(rotating.rotation).toMatchObject({ state: 'prepared', next: 'activate' });
    expect(rotating.roots.map((r: { state: string }) => r.state)).toEqual(['prepared', 'active']);

    // The SVID alert: an hour-long SVID (default TTL) with 1/3 of it left fires, not before.
    const svids = svidExpiringSource({ db: server.app.ward.db });
    expect(await svids.evaluate(now())).toEqual([]);
    const late = await svids.evaluate(Date.parse(notAfter) - 1_000_000);
    expect(late).toEqual([
      expect.objectContaining({
        name: 'WardSvidExpiring',
        key: `svid/n1/spiffe://${TD}/ns/shop/sa/orders`,
        severity: 'warning',
      }),
    ]);
    const gone = await svids.evaluate(Date.parse(notAfter) + 1);
    expect(gone[0]).toMatchObject({ severity: 'critical' });

    // A revoked agent reports no more: its next proof is refused and its row is left as it was.
    expect((await http(url, 'DELETE', '/v1/ca/agents/n1')).status).toBe(204);
    const revoked = await send(good);
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('API_UNAUTHENTICATED');
  });

  it('is in the OpenAPI document', async () => {
    const doc = await http(url, 'GET', '/openapi.json', { token: null });
    for (const p of ['/v1/fleet', '/v1/identity', '/v1/status/pdp', '/v1/status/agent']) {
      expect(Object.keys(doc.body.paths)).toContain(p);
    }
  });
});
