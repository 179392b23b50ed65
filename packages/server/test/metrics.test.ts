import type { WireBatchV1 } from '@ward/api-types';
import { createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, ingestPlugin, type RunningServer } from '../src/index.ts';
import { parseProm, type Sample, sumOf } from './_prom-text.ts';
import {
  cleanupDirs,
  FILE,
  http,
  intention,
  SseClient,
  startTestServer,
  svc,
  waitFor,
  yamlOf,
} from './helpers.ts';
import { postBatch, rec } from './ingest-fixture.ts';

afterAll(() => cleanupDirs());

async function scrape(url: string, token?: string | null): Promise<Sample[]> {
  const r = await http(url, 'GET', '/metrics', token === undefined ? {} : { token });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseProm(r.text).samples;
}

const TD = 'metrics.test';
const CHECKOUT = `spiffe://${TD}/ns/shop/sa/checkout`;
const PAYMENTS = `spiffe://${TD}/ns/shop/sa/payments`;

describe('GET /metrics', () => {
  let server: RunningServer;
  let url: string;
  const token = async (name: string, scope: string, services?: string[]) => {
    const r = await http(url, 'POST', '/v1/tokens', {
      body: { name, scope, ...(services ? { services } : {}) },
    });
    expect(r.status).toBe(201);
    return r.body.token as string;
  };

  beforeAll(async () => {
    server = await startTestServer({
      trustDomain: TD,
      plugins: [ingestPlugin(), caPlugin()],
      metricsListen: { port: 0 },
    });
    url = server.url;
  });
  afterAll(async () => server?.close());

  it('answers valid Prometheus text with build info and process metrics', async () => {
    const r = await http(url, 'GET', '/metrics');
    expect(r.status).toBe(200);
    const { samples, types } = parseProm(r.text);
    expect(sumOf(samples, 'ward_server_build_info')).toBe(1);
    expect(samples.find((s) => s.name === 'ward_server_build_info')?.labels).toMatchObject({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      node_version: process.version,
    });
    expect(types.get('ward_server_process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('ward_http_request_duration_seconds')).toBe('histogram');
    for (const name of [
      'ward_watch_streams',
      'ward_agent_watch_streams',
      'ward_revision',
      'ward_revision_follower_healthy',
    ])
      expect(types.get(name), name).toBe('gauge');
    expect(sumOf(samples, 'ward_revision_follower_healthy')).toBe(1);
  });

  it('counts requests by route pattern and status class', async () => {
    const before = await scrape(url);
    const labels = { method: 'GET', route: '/v1/bundles/:service', status_class: '4xx' };
    for (const name of ['nope-a', 'nope-b', 'nope-c'])
      expect((await http(url, 'GET', `/v1/bundles/${name}`)).status).toBe(404);
    const after = await scrape(url);
    expect(
      sumOf(after, 'ward_http_requests_total', labels) -
        sumOf(before, 'ward_http_requests_total', labels),
    ).toBe(3);
    expect(
      sumOf(after, 'ward_http_request_duration_seconds_count', labels) -
        sumOf(before, 'ward_http_request_duration_seconds_count', labels),
    ).toBe(3);
  });

  it('times applies by outcome and bundle builds, and counts the revision', async () => {
    const before = await scrape(url);
    const docs = yamlOf([svc('orders'), svc('web'), intention('web-orders', 'orders', ['web'])]);
    expect(
      (await http(url, 'POST', '/v1/apply', { body: { ...FILE(docs).body, dryRun: true } })).status,
    ).toBe(200);
    expect((await http(url, 'POST', '/v1/apply', FILE(docs))).status).toBe(200);
    expect((await http(url, 'POST', '/v1/apply', FILE(docs))).status).toBe(200);
    expect((await http(url, 'POST', '/v1/apply', FILE('kind: Nonsense'))).status).toBe(422);
    expect((await http(url, 'GET', '/v1/bundles/orders')).status).toBe(200);
    expect((await http(url, 'GET', '/v1/bundles/orders')).status).toBe(200);
    const after = await scrape(url);
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    const apply = 'ward_apply_duration_seconds_count';
    expect(delta(apply, { operation: 'apply', outcome: 'dry_run' })).toBe(1);
    expect(delta(apply, { operation: 'apply', outcome: 'changed' })).toBe(1);
    expect(delta(apply, { operation: 'apply', outcome: 'unchanged' })).toBe(1);
    expect(delta(apply, { operation: 'apply', outcome: 'refused' })).toBe(1);
    // The second GET is served from the cache: one build.
    expect(delta('ward_bundle_build_duration_seconds_count', { outcome: 'built' })).toBe(1);
    expect(sumOf(after, 'ward_revision')).toBeGreaterThan(sumOf(before, 'ward_revision'));
  });

  it('gauges open watch streams', async () => {
    const watch = await SseClient.open(`${url}/v1/watch?service=orders`);
    try {
      expect(watch.status).toBe(200);
      expect(sumOf(await scrape(url), 'ward_watch_streams')).toBe(1);
    } finally {
      watch.close();
    }
    await waitFor(async () => sumOf(await scrape(url), 'ward_watch_streams') === 0);
  });

  it('counts ingest accepted, rejected and dropped per kind', async () => {
    const pdp = await token('pdp-orders', 'pdp', ['orders']);
    const before = await scrape(url);
    const decisions = await postBatch(url, pdp, {
      records: [
        rec({ source: 'web', rule: 'web-orders#0' }),
        rec({ source: 'web', rule: 'web-orders#0' }),
        rec({ destination: 'billing' }),
      ],
      dropped: 5,
    });
    expect(decisions.status).toBe(200);
    expect(decisions.body).toMatchObject({ accepted: 2, rejected: 1 });
    const spans = await http(url, 'POST', '/v1/traces', {
      token: pdp,
      body: {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'orders' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
                    spanId: '00f067aa0ba902b7',
                    name: 'GET /orders',
                    kind: 2,
                    startTimeUnixNano: '1',
                    endTimeUnixNano: '2',
                  },
                  { traceId: 'not-hex', spanId: 'zz', name: 'broken', kind: 2 },
                ],
              },
            ],
          },
        ],
      },
    });
    expect(spans.status).toBe(200);
    const after = await scrape(url);
    const delta = (labels: Record<string, string>) =>
      sumOf(after, 'ward_ingest_items_total', labels) -
      sumOf(before, 'ward_ingest_items_total', labels);
    expect(delta({ kind: 'decision_logs', outcome: 'accepted' })).toBe(2);
    expect(delta({ kind: 'decision_logs', outcome: 'rejected' })).toBe(1);
    expect(delta({ kind: 'decision_logs', outcome: 'dropped' })).toBe(5);
    expect(delta({ kind: 'traces', outcome: 'accepted' })).toBe(1);
    expect(delta({ kind: 'traces', outcome: 'rejected' })).toBe(1);
  });

  it('counts CA issuance by kind and outcome, and wire edges', async () => {
    for (const [spiffeId, node] of [
      [CHECKOUT, 'node-a'],
      [PAYMENTS, 'node-a'],
    ]) {
      const r = await http(url, 'POST', '/v1/ca/entries', {
        body: { spiffeId, node, selectors: ['unix:uid:1000'] },
      });
      expect(r.status).toBe(201);
    }
    const before = await scrape(url);
    const { body } = await http(url, 'POST', '/v1/ca/join-tokens', { body: { node: 'node-a' } });
    const keys = await generateKeyPair();
    const csr = await createCsr(keys);
    const attested = await http(url, 'POST', '/v1/agent/attest', {
      token: null,
      body: { joinToken: body.token, csr },
    });
    expect(attested.status).toBe(200);
    // The join token is single-use: a second attest is refused.
    const again = await http(url, 'POST', '/v1/agent/attest', {
      token: null,
      body: { joinToken: body.token, csr },
    });
    expect(again.status).toBeGreaterThanOrEqual(400);
    const path = '/v1/ingest/connections';
    const now = new Date().toISOString();
    const batch: WireBatchV1 = {
      edges: [
        {
          source: CHECKOUT,
          destination: PAYMENTS,
          port: 8080,
          samples: 1,
          connections: 1,
          firstSeen: now,
          lastSeen: now,
        },
      ],
      dropped: 2,
      unresolved: {
        inbound: 0,
        noProcess: 0,
        unattested: 0,
        unknownRemote: 0,
        self: 0,
        overCap: 0,
      },
    };
    const proof = await signAgentProof({
      privateKey: keys.privateKey,
      chainPem: attested.body.chain,
      spiffeId: attested.body.spiffeId,
      method: 'POST',
      path,
    });
    const wire = await http(url, 'POST', path, {
      token: null,
      headers: { 'x-ward-agent-proof': proof },
      body: batch,
    });
    expect(wire.status).toBe(200);
    // An SVID request without a valid agent proof is refused before the handler.
    const noProof = await http(url, 'POST', '/v1/agent/svids', {
      token: null,
      headers: { 'x-ward-agent-proof': 'forged' },
      body: {},
    });
    expect(noProof.status).toBe(401);
    const after = await scrape(url);
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta('ward_ca_issuance_total', { kind: 'agent_attest', outcome: 'issued' })).toBe(1);
    expect(delta('ward_ca_issuance_total', { kind: 'agent_attest', outcome: 'refused' })).toBe(1);
    expect(delta('ward_ca_issuance_total', { kind: 'x509_svid', outcome: 'refused' })).toBe(1);
    expect(delta('ward_ingest_items_total', { kind: 'wire', outcome: 'accepted' })).toBe(1);
    expect(delta('ward_ingest_items_total', { kind: 'wire', outcome: 'dropped' })).toBe(2);
  });

  it('lets metrics and admin tokens scrape; a metrics token reads nothing else', async () => {
    const metrics = await token('prometheus', 'metrics');
    const pdp = await token('pdp-web', 'pdp', ['web']);
    const team = await token('team-web', 'team', ['web']);
    const collector = await token('otel', 'collector');
    expect((await http(url, 'GET', '/metrics', { token: metrics })).status).toBe(200);
    for (const t of [pdp, team, collector]) {
      const r = await http(url, 'GET', '/metrics', { token: t });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('API_FORBIDDEN');
    }
    expect((await http(url, 'GET', '/metrics', { token: null })).status).toBe(401);
    for (const [method, path] of [
      ['GET', '/v1/services'],
      ['GET', '/v1/intentions'],
      ['GET', '/v1/bundles/orders'],
      ['GET', '/v1/watch?service=orders'],
      ['GET', '/v1/whoami'],
      ['GET', '/v1/tokens'],
      ['GET', '/v1/history'],
      ['GET', '/v1/reports/dry-run?since=1h'],
      ['GET', '/v1/graph?since=1h'],
      ['POST', '/v1/apply'],
      ['POST', '/v1/decision-logs'],
      ['POST', '/v1/traces'],
      ['GET', '/v1/ca/entries'],
    ] as const) {
      const r = await http(url, method, path, {
        token: metrics,
        ...(method === 'POST' ? { body: {} } : {}),
      });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    // Revoked, it scrapes no more.
    const listed = (await http(url, 'GET', '/v1/tokens')).body.items as {
      id: string;
      name: string;
    }[];
    const id = listed.find((t) => t.name === 'prometheus')!.id;
    expect((await http(url, 'DELETE', `/v1/tokens/${id}`)).status).toBe(200);
    expect((await http(url, 'GET', '/metrics', { token: metrics })).status).toBe(401);
    // A metrics token owns no services.
    const bad = await http(url, 'POST', '/v1/tokens', {
      body: { name: 'm2', scope: 'metrics', services: ['web'] },
    });
    expect(bad.status).toBe(400);
  });

  it('labels by route pattern only: 1,000 random paths add a bounded number of series', async () => {
    const series = (samples: Sample[]) =>
      samples.filter((s) => s.name === 'ward_http_requests_total');
    const before = series(await scrape(url)).length;
    const paths = fc.sample(
      fc
        .array(fc.stringMatching(/^[A-Za-z0-9._~%-]{1,12}$/), { minLength: 1, maxLength: 4 })
        .map((parts) => `/${parts.join('/')}`),
      { numRuns: 1000, seed: 13 },
    );
    const methods = ['GET', 'POST', 'DELETE', 'PUT'];
    for (let i = 0; i < paths.length; i += 50)
      await Promise.all(
        paths.slice(i, i + 50).map((p, j) =>
          fetch(`${url}${p}`, { method: methods[(i + j) % methods.length] })
            .then((r) => r.arrayBuffer())
            .catch(() => undefined),
        ),
      );
    const after = series(await scrape(url));
    // Unmatched requests share one route label; at most one new series per method and class.
    expect(after.length - before).toBeLessThanOrEqual(methods.length * 5);
    const routes = new Set(after.map((s) => s.labels.route));
    const known = new Set([
      ...server.routes.map((r) => r.url),
      'unmatched',
      '/openapi.json',
      '/',
      '/assets/:file',
    ]);
    for (const r of routes) expect(known.has(r!), r).toBe(true);
  });

  it('serves an unauthenticated scrape on --metrics-listen, and nothing else there', async () => {
    expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const r = await fetch(server.metricsUrl!);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parseProm(await r.text()).samples.length).toBeGreaterThan(10);
    const base = server.metricsUrl!.replace(/\/metrics$/, '');
    for (const p of ['/', '/v1/services', '/metrics/../v1/tokens', '/openapi.json']) {
      const other = await fetch(`${base}${p}`);
      await other.arrayBuffer();
      expect(other.status, p).toBe(404);
    }
    const post = await fetch(server.metricsUrl!, { method: 'POST' });
    await post.arrayBuffer();
    expect(post.status).toBe(404);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await http(url, 'GET', '/openapi.json')).body;
    expect(doc.paths['/metrics'].get.security).toEqual([{ bearerAuth: [] }]);
    expect(server.routes).toContainEqual({ method: 'GET', url: '/metrics' });
  });
});

describe('two servers in one process', () => {
  it('do not share counters', async () => {
    const a = await startTestServer();
    const b = await startTestServer();
    try {
      for (let i = 0; i < 5; i++) await http(a.url, 'GET', '/v1/revision');
      const labels = { method: 'GET', route: '/v1/revision', status_class: '2xx' };
      expect(sumOf(await scrape(a.url), 'ward_http_requests_total', labels)).toBe(5);
      expect(sumOf(await scrape(b.url), 'ward_http_requests_total', labels)).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
