/**
 * `GET /v1/graph/view` against a real server on loopback, on SQLite and PostgreSQL: every edge
 * state (declared, observed, approved, dry-run-denied, denied) from the data that defines it,
 * edge details from decision logs, cycles and waves from the analysis, the caps, and the same
 * audience as `GET /v1/graph` (a team token sees the same map; a PDP token none).
 */

import type { GraphViewV1 as GraphView } from '@ward/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, intention, svc } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  startIngestServer,
} from './ingest-fixture.ts';

const list = await ingestSuite('graph-view.test.ts');

const DOCS = [
  svc('frontend', { owner: 'team-web', dependencies: [{ service: 'orders', kind: 'runtime' }] }),
  svc('orders', {
    owner: 'team-checkout',
    dependencies: [{ service: 'mailer', kind: 'startup' }],
  }),
  svc('mailer', { dependencies: [{ service: 'orders', kind: 'startup' }] }),
  svc('payments'),
  intention('orders-allow', 'orders', ['frontend']),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'payments-tighten' },
    spec: {
      destination: 'payments',
      mode: 'dry-run',
      rules: [{ sources: ['frontend'], action: 'deny' }],
    },
  },
];

describe.each(list)('GET /v1/graph/view on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, DOCS);
    const ordersPdp = await s.pdp('orders');
    const paymentsPdp = await s.pdp('payments');
    const t0 = '2026-11-30T08:00:00.000Z';
    const now = new Date().toISOString();
    expect(
      (
        await postBatch(s.url, ordersPdp, {
          records: [
            rec({ time: t0, count: 3 }),
            rec({ time: now, count: 2 }),
            rec({ source: 'payments', effect: 'deny', rule: 'default', count: 4 }),
          ],
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await postBatch(s.url, paymentsPdp, {
          records: [
            rec({
              source: 'spiffe://ward.local/ns/default/sa/frontend',
              destination: 'payments',
              effect: 'deny',
              enforced: false,
              rule: 'payments-tighten#0',
              count: 5,
            }),
          ],
        })
      ).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await s?.close();
  });

  const view = async (token?: string, query = '') => {
    const r = await http(s.url, 'GET', `/v1/graph/view?since=30d${query}`, token ? { token } : {});
    expect(r.status, r.text).toBe(200);
    return r.body;
  };
  const edge = (v: GraphView, from: string, to: string) => {
    const e = v.edges.find((x) => x.from === from && x.to === to);
    if (!e) throw new Error(`no edge ${from} → ${to}`);
    return e;
  };

  it('gives each edge its states and details', async () => {
    const v = await view();
    const fo = edge(v, 'frontend', 'orders');
    expect(fo.states).toEqual(['declared', 'observed', 'approved']);
    expect(fo).toMatchObject({ calls: 5, denied: 0, rule: 'orders-allow#0', protocol: 'http' });
    expect(fo.mtls).toBe(false);
    expect(fo.firstSeen).toBe('2026-11-30T08:00:00.000Z');
    expect(Date.parse(fo.lastSeen!)).toBeGreaterThan(Date.parse(fo.firstSeen!));
    const po = edge(v, 'payments', 'orders');
    expect(po.states).toEqual(['observed', 'denied']);
    expect(po).toMatchObject({ denied: 4, rule: 'default' });
    // The caller named by SPIFFE ID is merged into its service, and counts as an mTLS peer.
    const fp = edge(v, 'frontend', 'payments');
    expect(fp.states).toEqual(['observed', 'dry-run-denied']);
    expect(fp).toMatchObject({ dryRunDenied: 5, denied: 0, mtls: true });
    // Declared only: no counts, no times.
    const om = edge(v, 'orders', 'mailer');
    expect(om).toMatchObject({ states: ['declared'], startup: true, calls: 0, firstSeen: null });
  });

  it('marks cycles and boot waves on the nodes', async () => {
    const v = await view();
    const node = (id: string) => (v as GraphView).nodes.find((n) => n.id === id);
    expect(node('orders')).toMatchObject({ inCycle: true, wave: null, team: 'team-checkout' });
    expect(node('mailer')).toMatchObject({ inCycle: true, wave: null, team: null });
    expect(node('payments')).toMatchObject({ inCycle: false, wave: 0, namespace: 'default' });
    expect(v.cycles).toContainEqual(expect.arrayContaining(['orders', 'mailer']));
    expect(v.components).toEqual([['mailer', 'orders']]);
    expect(v.truncated).toBe(false);
  });

  it('cuts at the caps and says so', async () => {
    const v = await view(undefined, '&maxServices=2&maxEdges=0');
    expect(v.nodes).toHaveLength(2);
    expect(v.edges).toHaveLength(0);
    expect(v.truncated).toBe(true);
    expect(v.totals.services).toBeGreaterThan(2);
    const bad = await http(s.url, 'GET', '/v1/graph/view?maxServices=999999');
    expect(bad.status).toBe(400);
  });

  it('shows a team token the same map as GET /v1/graph, and a PDP token nothing', async () => {
    const team = await s.token('web', 'team', ['frontend']);
    const asTeam = await view(team);
    const asAdmin = await view();
    expect(asTeam).toEqual(asAdmin);
    const report = await http(s.url, 'GET', '/v1/graph?since=30d', { token: team });
    expect(asTeam.edges.length).toBe(report.body.graph.edges.length);
    const pdp = await http(s.url, 'GET', '/v1/graph/view', { token: s.pdpToken });
    expect(pdp.status).toBe(403);
    const none = await http(s.url, 'GET', '/v1/graph/view', { token: 'ward_nope' });
    expect(none.status).toBe(401);
  });
});
