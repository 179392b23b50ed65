/**
 * `GET /v1/propose`: dry-run Intention documents from the ingest tables, against a real server on
 * loopback, on SQLite and (when it answers) PostgreSQL.
 */

import type { ProposeResult } from '@ward/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { http, intention, svc } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  startIngestServer,
} from './ingest-fixture.ts';

const list = await ingestSuite('propose.test.ts');

const DOCS = [
  svc('frontend'),
  svc('orders', { owner: 'team-checkout' }),
  svc('payments', { owner: 'team-payments' }),
  svc('monitoring'),
  svc('batch'),
  svc('ledger', { owner: 'team-ledger' }),
  intention('orders-allow', 'orders', ['frontend']),
  intention('payments-deny', 'payments', ['batch'], 'deny'),
];

const deny = (source: string, destination: string, method: string, path: string, count = 1) =>
  rec({ source, destination, method, path, effect: 'deny', rule: 'default', count });

describe.each(list)('propose on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, DOCS);
    const orders = await postBatch(s.url, s.pdpToken, {
      records: [
        rec(), // frontend → orders: approved, never proposed
        deny('monitoring', 'orders', 'GET', '/metrics', 3),
        deny('batch', 'orders', 'GET', '/orders/{id}', 2),
        deny('batch', 'orders', 'HEAD', '/orders/17'),
        deny('batch', 'orders', 'POST', '/orders'),
      ],
    });
    expect(orders.body.rejected).toBe(0);
    const payments = await postBatch(s.url, await s.pdp('payments'), {
      records: [
        deny('orders', 'payments', 'POST', '/charges', 4),
        rec({
          source: 'batch',
          destination: 'payments',
          effect: 'deny',
          rule: 'payments-deny#0',
          path: '/charges',
        }),
      ],
    });
    expect(payments.body.rejected).toBe(0);
  });
  afterAll(async () => s?.close());

  it('proposes one dry-run document per destination with methods, templates and owners', async () => {
    const r = await http<ProposeResult>(s.url, 'GET', '/v1/propose?since=1h');
    expect(r.status).toBe(200);
    expect(r.body.proposals.map((p) => [p.destination, p.owner])).toEqual([
      ['orders', 'team-checkout'],
      ['payments', 'team-payments'],
    ]);
    const orders = r.body.proposals[0]!.document;
    expect(orders).toMatchObject({
      kind: 'Intention',
      metadata: { name: 'orders-proposed', labels: { owner: 'team-checkout' } },
      spec: { destination: 'orders', mode: 'dry-run' },
    });
    expect(orders.spec.rules.map((x) => [x.sources, x.permissions])).toEqual([
      [
        ['batch'],
        [
          { http: { methods: ['GET'], paths: [{ glob: '/orders/*' }] } },
          { http: { methods: ['POST'], paths: [{ exact: '/orders' }] } },
        ],
      ],
      [['monitoring'], [{ http: { methods: ['GET'], paths: [{ exact: '/metrics' }] } }]],
    ]);
    expect(r.body.proposals[0]!.rules[0]!.evidence[0]).toMatchObject({
      source: 'batch',
      calls: 4,
      seenIn: ['decision-logs'],
    });
    expect(r.body.proposals[1]!.document.spec.rules).toMatchObject([
      { sources: ['orders'], permissions: [{ http: { methods: ['POST'] } }] },
    ]);
    // batch → payments is named by a deny rule: a decision someone made, never proposed.
    expect(r.body.proposals[1]!.document.spec.rules[0]!.sources).toEqual(['orders']);
  });

  it('writes YAML that applies, after which nothing is left to propose', async () => {
    const r = await http(s.url, 'GET', '/v1/propose?format=yaml&destination=orders');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/yaml/);
    const docs = parseAllDocuments(r.text).map((d) => d.toJS());
    expect(docs.map((d) => d.metadata.name)).toEqual(['orders-proposed']);
    expect(r.text).toContain('# batch: 4 calls');
    const applied = await http(s.url, 'POST', '/v1/apply', {
      body: { files: [{ name: 'proposed.yaml', content: r.text }] },
    });
    expect(applied.status).toBe(200);
    const again = await http<ProposeResult>(s.url, 'GET', '/v1/propose?since=1h');
    expect(again.body.proposals.map((p) => p.destination)).toEqual(['payments']);

    // The next round: a call the proposal under review does not allow is proposed beside it.
    const more = await postBatch(s.url, s.pdpToken, {
      records: [
        rec({
          source: 'batch',
          destination: 'orders',
          method: 'DELETE',
          path: '/orders/{id}',
          effect: 'deny',
          enforced: false,
          rule: 'default',
        }),
      ],
    });
    expect(more.body.rejected).toBe(0);
    const next = await http<ProposeResult>(s.url, 'GET', '/v1/propose?destination=orders');
    expect(next.body.proposals.map((p) => p.document.metadata.name)).toEqual(['orders-proposed-2']);
    expect(next.body.proposals[0]!.document.spec.rules).toMatchObject([
      {
        sources: ['batch'],
        permissions: [{ http: { methods: ['DELETE'], paths: [{ glob: '/orders/*' }] } }],
      },
    ]);
  });

  it('shows a team token only the destinations it owns', async () => {
    const team = await s.token('team-payments', 'team', ['payments']);
    const mine = await http<ProposeResult>(s.url, 'GET', '/v1/propose', { token: team });
    expect(mine.status).toBe(200);
    expect(mine.body.proposals.map((p) => p.destination)).toEqual(['payments']);
    expect(mine.body.skipped.every((x) => x.destination === 'payments')).toBe(true);
    const other = await http(s.url, 'GET', '/v1/propose?destination=orders', { token: team });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('API_FORBIDDEN');
    expect(other.body.errors[0]).toMatchObject({
      field: 'query.destination',
      code: 'API_NOT_OWNER',
    });
    const none = await s.token('team-none', 'team', ['frontend']);
    const empty = await http<ProposeResult>(s.url, 'GET', '/v1/propose', { token: none });
    expect(empty.body.proposals).toEqual([]);
    expect(empty.body.skipped).toEqual([]);
    expect((await http(s.url, 'GET', '/v1/propose', { token: s.pdpToken })).status).toBe(403);
    expect((await http(s.url, 'GET', '/v1/propose', { token: null })).status).toBe(401);
  });

  it('proposes the whole edge for an edge seen only in traces (no method or path)', async () => {
    const traceId = 'ab'.repeat(16);
    const otlp = (service: string, span: object) => ({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [
            { spans: [{ traceId, startTimeUnixNano: '1', endTimeUnixNano: '5', ...span }] },
          ],
        },
      ],
    });
    const client = await http(s.url, 'POST', '/v1/traces', {
      token: await s.pdp('billing'),
      body: otlp('billing', { spanId: '01'.repeat(8), name: 'call', kind: 3 }),
    });
    expect(client.status).toBe(200);
    const server = await http(s.url, 'POST', '/v1/traces', {
      token: await s.pdp('ledger'),
      body: otlp('ledger', {
        spanId: '02'.repeat(8),
        parentSpanId: '01'.repeat(8),
        name: 'serve',
        kind: 2,
      }),
    });
    expect(server.status).toBe(200);
    const r = await http<ProposeResult>(s.url, 'GET', '/v1/propose?destination=ledger');
    expect(r.status).toBe(200);
    expect(r.body.proposals).toHaveLength(1);
    const [p] = r.body.proposals;
    expect(p!.owner).toBe('team-ledger');
    expect(p!.document.spec.rules).toEqual([
      { sources: ['billing'], action: 'allow', description: expect.stringMatching(/\(traces\)$/) },
    ]);
    expect(p!.rules[0]).toMatchObject({ wholeEdge: true, evidence: [{ seenIn: ['traces'] }] });
  });

  it('refuses a window it cannot read', async () => {
    const r = await http(s.url, 'GET', '/v1/propose?since=yesterday');
    expect(r.status).toBe(400);
    expect(r.body.errors[0].field).toBe('query.since');
  });
});
