/**
 * OTLP trace ingest and `GET /v1/graph` against a real server on loopback: a STOCK OpenTelemetry
 * SDK exporter (`@opentelemetry/exporter-trace-otlp-proto`) for two services, plus hand-made
 * OTLP/JSON and malformed bodies. SQLite and (when it answers) PostgreSQL.
 */
import { context, SpanKind, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, svc } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  startIngestServer,
} from './ingest-fixture.ts';

const list = await ingestSuite('ingest-traces.test.ts');

function provider(url: string, token: string, service: string, gzip: boolean): BasicTracerProvider {
  const exporter = new OTLPTraceExporter({
    url: `${url}/v1/traces`,
    headers: { authorization: `Bearer ${token}` },
    ...(gzip ? { compression: CompressionAlgorithm.GZIP } : {}),
  });
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
}

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');

function otlpJson(spans: object[], service: string) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ spans }],
      },
    ],
  };
}

describe.each(list)('OTLP traces and GET /v1/graph on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, [
      svc('frontend', {
        dependencies: [
          { service: 'orders', kind: 'runtime' },
          { service: 'catalog', kind: 'startup' },
        ],
      }),
      svc('orders'),
      svc('catalog', { dependencies: [{ service: 'frontend', kind: 'startup' }] }),
    ]);
  });
  afterAll(async () => s?.close());

  it('a stock OTel SDK exporter for two services produces the edge in the graph', async () => {
    // Each service exports with its own PDP token (a token reports its own service's spans).
    const front = provider(s.url, await s.pdp('frontend'), 'frontend', false);
    const orders = provider(s.url, s.pdpToken, 'orders', true);
    const client = front.getTracer('test').startSpan('GET /orders', { kind: SpanKind.CLIENT });
    const ctx = trace.setSpan(context.active(), client);
    const server = orders
      .getTracer('test')
      .startSpan('GET /orders', { kind: SpanKind.SERVER }, ctx);
    const db = orders.getTracer('test').startSpan(
      'SELECT orders',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system': 'postgresql', 'db.namespace': 'shop' },
      },
      trace.setSpan(ctx, server),
    );
    db.end();
    server.end();
    client.end();
    await orders.forceFlush();
    await front.forceFlush();
    await Promise.all([front.shutdown(), orders.shutdown()]);

    const res = await http(s.url, 'GET', '/v1/graph');
    expect(res.status).toBe(200);
    expect(res.body.version).toBe('ward.dev/graph/v1');
    const edge = res.body.graph.edges.find((e: any) => e.from === 'frontend' && e.to === 'orders');
    expect(edge).toBeDefined();
    expect(edge.provenance).toBe('both');
    expect(edge.metrics.calls).toBe(1);
    const toDb = res.body.graph.edges.find((e: any) => e.from === 'orders' && e.to !== 'frontend');
    expect(toDb).toBeDefined();
    expect(res.body.graph.services.find((n: any) => n.name === toDb.to).type).toBe('database');
    // Declared startup cycle frontend ⇄ catalog: the analyses see it.
    expect(res.body.analysis.components).toContainEqual(['catalog', 'frontend']);
    expect(res.body.analysis.declaredVsObserved).toBeDefined();

    const dot = await fetch(`${s.url}/v1/graph?format=dot`, {
      headers: { authorization: 'Bearer test-admin-token-0123456789abcdef' },
    });
    expect(dot.status).toBe(200);
    expect(await dot.text()).toContain('digraph');
  });

  it('accepts OTLP/JSON with partial success for malformed spans, and joins decision logs', async () => {
    const traceId = hex(0xabc, 32);
    const good = otlpJson(
      [
        {
          traceId,
          spanId: hex(1, 16),
          name: 'call',
          kind: 3,
          startTimeUnixNano: '1',
          endTimeUnixNano: '5000001',
        },
      ],
      'billing',
    );
    const r1 = await http(s.url, 'POST', '/v1/traces', {
      token: await s.pdp('billing'),
      body: good,
    });
    expect(r1.status).toBe(200);
    expect(r1.body).toEqual({});
    const withBad = otlpJson(
      [
        {
          traceId,
          spanId: hex(2, 16),
          parentSpanId: hex(1, 16),
          name: 'serve',
          kind: 2,
          startTimeUnixNano: '1',
          endTimeUnixNano: '2',
        },
        { traceId: 'not-hex', spanId: 'zz', name: 'broken', kind: 2 },
      ],
      'ledger',
    );
    const r2 = await http(s.url, 'POST', '/v1/traces', {
      token: await s.pdp('ledger'),
      body: withBad,
    });
    expect(r2.status).toBe(200);
    expect(r2.body.partialSuccess.rejectedSpans).toBe('1');
    expect(r2.body.partialSuccess.errorMessage).toMatch(/rejected/);

    await postBatch(s.url, s.pdpToken, {
      records: [rec({ source: 'ledger', destination: 'orders', effect: 'deny', rule: 'default' })],
    });
    const g = (await http(s.url, 'GET', '/v1/graph?since=1h')).body;
    const pairs = g.graph.edges.map((e: any) => `${e.from}->${e.to}`);
    expect(pairs).toContain('billing->ledger');
    const denied = g.graph.edges.find((e: any) => e.from === 'ledger' && e.to === 'orders');
    expect(denied.metrics.denied).toBe(1);

    const unapproved = await http(s.url, 'GET', '/v1/reports/unapproved');
    const u = unapproved.body.items.map(
      (i: any) => `${i.source}->${i.destination}:${i.seenIn.join('+')}`,
    );
    expect(u).toContain('frontend->orders:traces');
    expect(u).toContain('billing->ledger:traces');
  });

  it('answers bad bodies per OTLP/HTTP: 400 (Status protobuf or problem JSON), 415, 401', async () => {
    const garbage = await fetch(`${s.url}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': 'application/x-protobuf' },
      body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
    });
    expect(garbage.status).toBe(400);
    expect(garbage.headers.get('content-type')).toContain('application/x-protobuf');
    const status = Buffer.from(await garbage.arrayBuffer());
    expect(status[0]).toBe(0x08); // field 1 (code), varint
    expect(status[1]).toBe(3); // INVALID_ARGUMENT
    expect(status.toString('utf8')).toContain('API_MALFORMED_BODY');

    const notOtlp = await http(s.url, 'POST', '/v1/traces', {
      token: s.pdpToken,
      body: { hello: 'world' },
    });
    expect(notOtlp.status).toBe(400);
    expect(notOtlp.body.code).toBe('API_MALFORMED_BODY');

    const xml = await http(s.url, 'POST', '/v1/traces', {
      token: s.pdpToken,
      raw: '<x/>',
      contentType: 'application/xml',
    });
    expect(xml.status).toBe(415);
    const anon = await fetch(`${s.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.alloc(0),
    });
    expect(anon.status).toBe(401);
    const empty = await fetch(`${s.url}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.pdpToken}`, 'content-type': 'application/x-protobuf' },
      body: Buffer.alloc(0),
    });
    expect(empty.status).toBe(200);
  });
});
