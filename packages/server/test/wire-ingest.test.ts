/**
 * `POST /v1/ingest/connections` on SQLite and PostgreSQL: node agents (attested through the CA
 * routes, proving possession with `x-ward-agent-proof` as the real agent does) ship edges they
 * sampled on the wire. Checks the node scope (a source must be a workload of the agent's node),
 * per-edge screening, the hourly upsert, the unresolved counts, and that no body gets a 5xx.
 */
import type { WireBatchV1, WireEdgeV1 } from '@ward/api-types';
import { createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, ingestPlugin, type RunningServer } from '../src/index.ts';
import { http, type Res, startTestServer } from './helpers.ts';
import { ingestSuite } from './ingest-fixture.ts';

const TD = 'wire.test';
const CHECKOUT = `spiffe://${TD}/ns/shop/sa/checkout`;
const PAYMENTS = `spiffe://${TD}/ns/shop/sa/payments`;
const LEDGER = `spiffe://${TD}/ns/shop/sa/ledger`;
const PATH = '/v1/ingest/connections';
const NONE = { inbound: 0, noProcess: 0, unattested: 0, unknownRemote: 0, self: 0, overCap: 0 };

const list = await ingestSuite('wire-ingest.test.ts');

interface Agent {
  send(body: unknown, raw?: string): Promise<Res>;
}

async function attest(url: string, node: string): Promise<Agent> {
  const { body } = await http(url, 'POST', '/v1/ca/join-tokens', { body: { node } });
  const keys = await generateKeyPair();
  const reply = await http(url, 'POST', '/v1/agent/attest', {
    token: null,
    body: { joinToken: body.token, csr: await createCsr(keys) },
  });
  expect(reply.status).toBe(200);
  return {
    async send(payload, raw) {
      const proof = await signAgentProof({
        privateKey: keys.privateKey,
        chainPem: reply.body.chain,
        spiffeId: reply.body.spiffeId,
        method: 'POST',
        path: PATH,
      });
      return http(url, 'POST', PATH, {
        token: null,
        headers: { 'x-ward-agent-proof': proof },
        ...(raw === undefined ? { body: payload } : { raw }),
      });
    },
  };
}

const edge = (over: Partial<WireEdgeV1> = {}): WireEdgeV1 => {
  const now = new Date().toISOString();
  return {
    source: CHECKOUT,
    destination: PAYMENTS,
    port: 8080,
    samples: 1,
    connections: 1,
    firstSeen: now,
    lastSeen: now,
    ...over,
  };
};
const batch = (edges: WireEdgeV1[], over: Partial<WireBatchV1> = {}): WireBatchV1 => ({
  edges,
  dropped: 0,
  unresolved: NONE,
  ...over,
});

describe.each(list)('wire ingest ($name)', (backend) => {
  let server: RunningServer;
  let drop: () => Promise<void>;
  let a: Agent;
  let b: Agent;

  beforeAll(async () => {
    const db = await backend.database();
    drop = db.drop;
    server = await startTestServer({
      trustDomain: TD,
      ...(db.url ? { database: db.url } : {}),
      plugins: [ingestPlugin(), caPlugin()],
    });
    for (const [spiffeId, node] of [
      [CHECKOUT, 'node-a'],
      [PAYMENTS, 'node-a'],
      [LEDGER, 'node-b'],
    ]) {
      const r = await http(server.url, 'POST', '/v1/ca/entries', {
        body: { spiffeId, node, selectors: ['unix:uid:1000'] },
      });
      expect(r.status).toBe(201);
    }
    a = await attest(server.url, 'node-a');
    b = await attest(server.url, 'node-b');
  });
  afterAll(async () => {
    await server?.close();
    await drop?.();
  });

  it('merges reports of one edge: samples add up, first and last seen widen', async () => {
    const t = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const e = { source: CHECKOUT, destination: 'orders-db', port: 5432 };
    let r = await a.send(
      batch([
        edge({
          ...e,
          samples: 3,
          connections: 5,
          firstSeen: iso(t - 60_000),
          lastSeen: iso(t - 30_000),
        }),
      ]),
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ accepted: 1, rejected: 0 });
    r = await a.send(
      batch([
        edge({
          ...e,
          samples: 4,
          connections: 4,
          firstSeen: iso(t - 90_000),
          lastSeen: iso(t - 40_000),
        }),
      ]),
    );
    expect(r.status).toBe(200);
    const report = await http(server.url, 'GET', '/v1/reports/unapproved?since=1h');
    const item = report.body.items.find(
      (i: { source: string; destination: string }) =>
        i.source === CHECKOUT && i.destination === 'orders-db',
    );
    expect(item).toMatchObject({
      wireSamples: 7,
      seenIn: ['wire'],
      firstSeen: iso(t - 90_000),
      lastSeen: iso(t - 30_000),
    });
    const graph = await http(server.url, 'GET', '/v1/graph?since=1h');
    const g = graph.body.graph.edges.find(
      (x: { from: string; to: string }) => x.from === CHECKOUT && x.to === 'orders-db',
    );
    expect(g).toMatchObject({ provenance: 'observed', ports: [5432] });
    expect(g.sources).toEqual([{ type: 'wire', file: `POST ${PATH}` }]);
  });

  it("scopes sources to the agent's node: 403 for a batch of others' edges, per edge otherwise", async () => {
    const forged = await b.send(batch([edge()]));
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('API_FORBIDDEN');
    expect(forged.body.errors[0]).toMatchObject({
      field: '/edges/0/source',
      code: 'API_NOT_OWNER',
    });
    const mixed = await b.send(batch([edge({ source: LEDGER }), edge()]));
    expect(mixed.status).toBe(200);
    expect(mixed.body).toMatchObject({ accepted: 1, rejected: 1 });
    const graph = await http(server.url, 'GET', '/v1/graph?since=1h');
    // node-b's forged edges are nowhere: checkout → payments was never reported by node-a here.
    expect(
      graph.body.graph.edges.some(
        (x: { from: string; to: string }) => x.from === CHECKOUT && x.to === PAYMENTS,
      ),
    ).toBe(false);
    expect(
      graph.body.graph.edges.some(
        (x: { from: string; to: string }) => x.from === LEDGER && x.to === PAYMENTS,
      ),
    ).toBe(true);
  });

  it('refuses bad edges one by one with the field and why', async () => {
    const now = Date.now();
    const r = await a.send(
      batch([
        edge({ destination: 'pay\u0000ments' }),
        edge({ lastSeen: new Date(now + 3_600_000).toISOString() }),
        edge({
          firstSeen: new Date(now).toISOString(),
          lastSeen: new Date(now - 1000).toISOString(),
        }),
        edge({ lastSeen: 'yesterday' }),
        edge({
          lastSeen: new Date(now - 800 * 3_600_000).toISOString(),
          firstSeen: new Date(0).toISOString(),
        }),
        edge({ destination: 'ok-dest' }),
      ]),
    );
    expect(r.status).toBe(200);
    expect(r.body.accepted).toBe(1);
    expect(r.body.rejections.map((x: { field: string }) => x.field)).toEqual([
      '/edges/0/destination',
      '/edges/1/lastSeen',
      '/edges/2/firstSeen',
      '/edges/3/lastSeen',
      '/edges/4/lastSeen',
    ]);
  });

  it('refuses an unknown field, a bad port and a missing proof with a problem body', async () => {
    const unknown = await a.send({ ...batch([edge()]), extra: 1 });
    expect(unknown.status).toBe(400);
    const port = await a.send(batch([edge({ port: 0 })]));
    expect(port.status).toBe(400);
    expect(port.text).toContain('port');
    const anon = await http(server.url, 'POST', PATH, { token: null, body: batch([edge()]) });
    expect(anon.status).toBe(401);
    expect(anon.body.code).toBe('API_UNAUTHENTICATED');
    // An admin token is not an agent: wire reports come from attested agents only.
    const admin = await http(server.url, 'POST', PATH, { body: batch([edge()]) });
    expect(admin.status).toBe(401);
  });

  it("keeps each node's unresolved counts, readable by admins", async () => {
    await b.send(
      batch([edge({ source: LEDGER, destination: 'x' })], {
        dropped: 2,
        unresolved: { ...NONE, unknownRemote: 5, unattested: 3, noProcess: 1, overCap: 1 },
      }),
    );
    const r = await http(server.url, 'GET', `${PATH}/nodes?since=1h`);
    expect(r.status, r.text).toBe(200);
    const nodeB = r.body.items.find((i: { node: string }) => i.node === 'node-b');
    expect(nodeB).toMatchObject({ unknownRemote: 5, unattested: 3, noProcess: 1, dropped: 3 });
  });

  it('answers any body with 2xx or 4xx, never 5xx, and keeps serving', async () => {
    const anyEdge = fc.record(
      {
        source: fc.oneof(fc.constantFrom(CHECKOUT, LEDGER), fc.string()),
        destination: fc.oneof(fc.constant('payments'), fc.string()),
        port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), fc.anything()),
        samples: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.anything()),
        connections: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.double()),
        firstSeen: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string(),
        ),
        lastSeen: fc.oneof(fc.constant(new Date().toISOString()), fc.string()),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            edges: fc.array(anyEdge, { maxLength: 5 }),
            dropped: fc.nat(),
            unresolved: fc.constant(NONE),
          }),
          fc.anything(),
        ),
        async (body) => {
          const r = await a.send(body);
          expect(r.status).toBeGreaterThanOrEqual(200);
          expect(r.status).toBeLessThan(500);
        },
      ),
      { numRuns: 60 },
    );
    const garbage = await a.send(undefined, '{"edges": [');
    expect(garbage.status).toBe(400);
    expect((await a.send(batch([edge({ destination: 'still-up' })]))).status).toBe(200);
  });
});
