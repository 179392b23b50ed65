import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  GraphBuilder,
  GraphIngest,
  normalizeId,
  readOtlpJson,
  SPAN_KIND,
  TraceAccumulator,
} from '../src/index.ts';
import { otlp, sid, TRACE } from './_helpers.ts';

const src = { type: 'otlp-json', file: 't.json' } as const;

function ingestOtlp(request: unknown, options = {}) {
  const builder = new GraphBuilder();
  const acc = new TraceAccumulator(builder, options);
  readOtlpJson(request, acc, src);
  acc.flush();
  return { graph: builder.build(), stats: acc.stats };
}

describe('ids', () => {
  it('accepts hex and base64, pads short hex, rejects zero and junk', () => {
    expect(normalizeId('0AF7651916CD43DD8448EB211C80319C', 16)).toBe(TRACE);
    expect(normalizeId(Buffer.from(TRACE, 'hex').toString('base64'), 16)).toBe(TRACE);
    expect(normalizeId(Buffer.from('00f067aa0ba902b7', 'hex').toString('base64'), 8)).toBe(
      '00f067aa0ba902b7',
    );
    expect(normalizeId('f067aa0ba902b7', 8)).toBe('00f067aa0ba902b7');
    expect(normalizeId('00000000000000000000000000000000', 16)).toBeUndefined();
    expect(normalizeId('not-an-id!', 8)).toBeUndefined();
    expect(normalizeId(42, 8)).toBeUndefined();
  });
});

describe('OTLP/JSON pairing', () => {
  it('pairs client and server spans across services, in any order, with latency from the client', () => {
    const c = sid();
    const s = sid();
    const { graph, stats } = ingestOtlp(
      otlp([
        ['orders', [{ spanId: s, parent: c, kind: SPAN_KIND.SERVER, durationMs: 5 }]],
        ['checkout', [{ spanId: c, kind: SPAN_KIND.CLIENT, durationMs: 12, error: true }]],
      ]),
    );
    expect(stats.pairs).toBe(1);
    const edge = graph.edges.find((e) => e.from === 'checkout' && e.to === 'orders')!;
    expect(edge).toMatchObject({
      provenance: 'observed',
      kind: 'runtime',
      metrics: { calls: 1, errors: 1 },
    });
    expect(edge.metrics!.latencyMs!.max).toBe(12);
  });

  it('pairs producer and consumer spans', () => {
    const p = sid();
    const { graph } = ingestOtlp(
      otlp([
        ['shipper', [{ spanId: p, kind: SPAN_KIND.PRODUCER }]],
        ['billing', [{ spanId: sid(), parent: p, kind: SPAN_KIND.CONSUMER }]],
      ]),
    );
    expect(graph.edges.map((e) => `${e.from}>${e.to}`)).toEqual(['shipper>billing']);
  });

  it('drops self-loops from internal spans but counts them', () => {
    const root = sid();
    const { graph, stats } = ingestOtlp(
      otlp([
        [
          'a',
          [
            { spanId: root, kind: SPAN_KIND.SERVER },
            { spanId: sid(), parent: root, kind: SPAN_KIND.INTERNAL },
          ],
        ],
      ]),
    );
    expect(graph.edges).toEqual([]);
    expect(stats.selfLoopsDropped).toBe(1);
  });

  it('makes virtual nodes for databases, peer.service, messaging and hosts', () => {
    const { graph } = ingestOtlp(
      otlp([
        [
          'orders',
          [
            {
              spanId: sid(),
              kind: SPAN_KIND.CLIENT,
              attrs: { 'db.system': 'postgresql', 'db.namespace': 'orders' },
            },
            {
              spanId: sid(),
              kind: SPAN_KIND.CLIENT,
              attrs: { 'db.system': 'redis', 'server.address': 'cache.shop.svc.cluster.local' },
            },
            { spanId: sid(), kind: SPAN_KIND.CLIENT, attrs: { 'peer.service': 'legacy-billing' } },
            {
              spanId: sid(),
              kind: SPAN_KIND.PRODUCER,
              attrs: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' },
            },
            {
              spanId: sid(),
              kind: SPAN_KIND.CLIENT,
              attrs: { 'server.address': 'api.stripe.com' },
            },
            { spanId: sid(), kind: SPAN_KIND.CLIENT },
          ],
        ],
      ]),
    );
    const nodes = Object.fromEntries(graph.services.map((s) => [s.name, [s.type, s.virtual]]));
    expect(nodes).toMatchObject({
      'postgresql/orders': ['database', true],
      // cache.shop.svc.cluster.local: the key of Service cache in namespace shop.
      'shop/cache': ['database', true],
      'legacy-billing': ['service', true],
      'kafka/orders': ['messaging', true],
      'api.stripe.com': ['external', true],
      orders: ['service', false],
    });
  });

  it('prefers the instrumented server over the peer attribute', () => {
    const c = sid();
    const { graph } = ingestOtlp(
      otlp([
        [
          'checkout',
          [{ spanId: c, kind: SPAN_KIND.CLIENT, attrs: { 'peer.service': 'orders-alias' } }],
        ],
        ['orders', [{ spanId: sid(), parent: c, kind: SPAN_KIND.SERVER }]],
      ]),
    );
    expect(graph.edges.map((e) => e.to)).toEqual(['orders']);
  });

  it('keys services by the resource namespace; bare peers resolve in the caller namespace', () => {
    const nsOtlp = (
      resources: [attrs: Record<string, string>, spans: Parameters<typeof otlp>[0][0][1]][],
    ) => {
      const request = otlp(resources.map(([a, spans]) => [a['service.name']!, spans])) as {
        resourceSpans: { resource: { attributes: unknown[] } }[];
      };
      resources.forEach(([a], i) => {
        request.resourceSpans[i]!.resource.attributes = Object.entries(a).map(([key, v]) => ({
          key,
          value: { stringValue: v },
        }));
      });
      return request;
    };
    const c = sid();
    const { graph } = ingestOtlp(
      nsOtlp([
        [
          { 'service.name': 'checkout', 'k8s.namespace.name': 'team-b' },
          [
            { spanId: c, kind: SPAN_KIND.CLIENT },
            { spanId: sid(), kind: SPAN_KIND.CLIENT, attrs: { 'peer.service': 'billing' } },
            {
              spanId: sid(),
              kind: SPAN_KIND.CLIENT,
              attrs: { 'db.system': 'redis', 'server.address': 'cache' },
            },
            {
              spanId: sid(),
              kind: SPAN_KIND.CLIENT,
              attrs: { 'server.address': 'ledger.team-a.svc.cluster.local:8080' },
            },
          ],
        ],
        [
          { 'service.name': 'payments', 'k8s.namespace.name': 'team-a' },
          [{ spanId: sid(), parent: c, kind: SPAN_KIND.SERVER }],
        ],
        [
          { 'service.name': 'audit', 'k8s.namespace.name': 'default' },
          [{ spanId: sid(), kind: 1 }],
        ],
        [
          { 'service.name': 'legacy', 'service.namespace': 'Not A Label' },
          [{ spanId: sid(), kind: 1 }],
        ],
        [
          { 'service.name': 'team-c/worker', 'k8s.namespace.name': 'team-d' },
          [{ spanId: sid(), kind: 1 }],
        ],
      ]),
    );
    expect(graph.edges.map((e) => `${e.from}>${e.to}`)).toEqual([
      'team-b/checkout>team-a/ledger',
      'team-b/checkout>team-a/payments',
      'team-b/checkout>team-b/billing',
      'team-b/checkout>team-b/cache',
    ]);
    const names = graph.services.map((s) => s.name);
    // The default namespace is elided; an invalid namespace and a key already written stay.
    expect(names).toContain('audit');
    expect(names).toContain('legacy');
    expect(names).toContain('team-c/worker');
  });

  it('skips and counts malformed spans, naming where they are', () => {
    const request = otlp([['a', [{ spanId: sid(), kind: SPAN_KIND.SERVER }]]]) as {
      resourceSpans: { scopeSpans: { spans: unknown[] }[] }[];
    };
    request.resourceSpans[0]!.scopeSpans[0]!.spans.push({ traceId: 'xyz', spanId: 'abc' }, 'junk', {
      traceId: TRACE,
      spanId: sid(),
      kind: 9,
    });
    const { stats } = ingestOtlp(request);
    expect(stats.spans).toBe(1);
    expect(Object.values(stats.skipped).reduce((a, b) => a + b, 0)).toBe(3);
    expect(stats.skipSamples[0]).toMatch(
      /t\.json: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]: traceId/,
    );
  });

  it('rejects a document that is not a request with a coded error', () => {
    expect(() => ingestOtlp({ hello: 1 })).toThrow(
      expect.objectContaining({ code: 'GRAPH_INPUT_MALFORMED' }),
    );
    expect(() => ingestOtlp([1])).toThrow(/expected an ExportTraceServiceRequest/);
  });

  it('bounds pairing state and counts evictions', () => {
    const builder = new GraphBuilder();
    const acc = new TraceAccumulator(builder, { maxPendingSpans: 50 });
    let maxPending = 0;
    for (let t = 0; t < 200; t++) {
      const traceId = t.toString(16).padStart(32, 'a');
      const c = sid();
      readOtlpJson(
        otlp([
          ['a', [{ traceId, spanId: c, kind: SPAN_KIND.CLIENT }]],
          ['b', [{ traceId, spanId: sid(), parent: c, kind: SPAN_KIND.SERVER }]],
        ]),
        acc,
        src,
      );
      maxPending = Math.max(maxPending, acc.pendingSpans);
    }
    acc.flush();
    expect(maxPending).toBeLessThanOrEqual(50);
    expect(acc.stats.evictedTraces).toBeGreaterThan(0);
    expect(acc.pendingSpans).toBe(0);
    expect(builder.build().edges[0]!.metrics!.calls).toBe(200);
  });
});

describe('OTLP/JSON lines streaming', () => {
  it('reads file-exporter lines split at arbitrary chunk boundaries', () => {
    const c = sid();
    const text = `${JSON.stringify(otlp([['a', [{ spanId: c, kind: SPAN_KIND.CLIENT }]]]))}\n${JSON.stringify(
      otlp([['b', [{ spanId: sid(), parent: c, kind: SPAN_KIND.SERVER }]]]),
    )}\n`;
    const bytes = new TextEncoder().encode(text);
    for (const step of [1, 7, 64, bytes.length]) {
      const ingest = new GraphIngest();
      const sink = ingest.open('otlp-json', 'x.jsonl');
      for (let i = 0; i < bytes.length; i += step) sink.write(bytes.subarray(i, i + step));
      sink.end();
      const { graph, stats } = ingest.finish();
      expect(graph.edges.map((e) => `${e.from}>${e.to}`)).toEqual(['a>b']);
      expect(stats.inputs[0]!.lines).toBe(2);
    }
  });

  it('reads a pretty-printed single request too', () => {
    const c = sid();
    const text = JSON.stringify(
      otlp([
        ['a', [{ spanId: c, kind: SPAN_KIND.CLIENT }]],
        ['b', [{ spanId: sid(), parent: c, kind: SPAN_KIND.SERVER }]],
      ]),
      null,
      2,
    );
    const ingest = new GraphIngest();
    ingest.add('otlp-json', 'pretty.json', text);
    expect(ingest.finish().graph.edges).toHaveLength(1);
  });

  it('names file and line of a bad line, and tolerates a truncated last line', () => {
    const good = JSON.stringify(otlp([['a', [{ spanId: sid(), kind: SPAN_KIND.SERVER }]]]));
    const ingest = new GraphIngest();
    expect(() =>
      ingest.add('otlp-json', 'bad.jsonl', `${good}\n{"resourceSpans": [\n${good}\n`),
    ).toThrow(
      expect.objectContaining({ code: 'GRAPH_INPUT_MALFORMED', file: 'bad.jsonl', line: 2 }),
    );
    const ok = new GraphIngest();
    ok.add('otlp-json', 'cut.jsonl', `${good}\n{"resourceSpans": [{"reso`);
    expect(ok.finish().stats.skipped['line.truncated']).toBe(1);
  });
});

describe('OTLP/protobuf from the real OpenTelemetry exporter', () => {
  it('decodes what @opentelemetry/exporter-trace-otlp-proto sends', async () => {
    const bodies: Buffer[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
    try {
      const memory = new InMemorySpanExporter();
      const provider = (name: string) =>
        new BasicTracerProvider({
          resource: resourceFromAttributes({ 'service.name': name, 'k8s.namespace.name': 'shop' }),
          spanProcessors: [new SimpleSpanProcessor(memory)],
        });
      const checkout = provider('checkout').getTracer('t');
      const orders = provider('orders').getTracer('t');
      for (let i = 0; i < 3; i++) {
        const client = checkout.startSpan('POST /orders', { kind: SpanKind.CLIENT });
        const server = orders.startSpan(
          'POST /orders',
          { kind: SpanKind.SERVER },
          trace.setSpan(ROOT_CONTEXT, client),
        );
        const db = orders.startSpan(
          'INSERT',
          {
            kind: SpanKind.CLIENT,
            attributes: { 'db.system.name': 'postgresql', 'server.address': 'postgres' },
          },
          trace.setSpan(ROOT_CONTEXT, server),
        );
        db.end();
        server.end();
        client.end();
      }
      const exporter = new OTLPTraceExporter({ url });
      await new Promise<void>((resolve, reject) =>
        exporter.export(memory.getFinishedSpans(), (r) =>
          r.code === 0 ? resolve() : reject(r.error),
        ),
      );
      await exporter.shutdown();
    } finally {
      server.close();
    }
    expect(bodies.length).toBeGreaterThan(0);
    const ingest = new GraphIngest();
    for (const body of bodies) ingest.addOtlpProtobuf(new Uint8Array(body));
    const { graph, stats } = ingest.finish();
    expect(stats.spans).toBe(9);
    expect(graph.edges.map((e) => `${e.from}>${e.to}:${e.metrics!.calls}`)).toEqual([
      'shop/checkout>shop/orders:3',
      'shop/orders>shop/postgres:3',
    ]);
    // service.name in the resource's namespace is the key; a bare host is in the caller's.
    expect(graph.services.find((s) => s.name === 'shop/orders')!.namespace).toBe('shop');
    expect(graph.services.find((s) => s.name === 'shop/postgres')!.type).toBe('database');
  });

  it('rejects truncated protobuf with the byte offset', () => {
    const ingest = new GraphIngest();
    expect(() => ingest.addOtlpProtobuf(new Uint8Array([0x0a, 0x05, 0x0a]), 'body.pb')).toThrow(
      expect.objectContaining({
        code: 'GRAPH_INPUT_MALFORMED',
        message: expect.stringMatching(/body\.pb: invalid protobuf at byte \d+/),
      }),
    );
  });
});
