import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type DependencyGraph,
  detectInputType,
  GraphIngest,
  type InputType,
  parseInputArg,
} from '../src/index.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'graph');

function read(
  type: InputType,
  content: string | Uint8Array,
  file = `input.${type}`,
): ReturnType<GraphIngest['finish']> {
  const ingest = new GraphIngest();
  ingest.add(type, file, content);
  return ingest.finish();
}

const edgeList = (g: DependencyGraph) => g.edges.map((e) => `${e.from}>${e.to}:${e.kind}`);

describe('Jaeger', () => {
  it('pairs spans through CHILD_OF references and processes', () => {
    const doc = {
      data: [
        {
          traceID: 'abc123',
          processes: { p1: { serviceName: 'frontend' }, p2: { serviceName: 'driver' } },
          spans: [
            {
              traceID: 'abc123',
              spanID: '1',
              processID: 'p1',
              duration: 5000,
              tags: [{ key: 'span.kind', type: 'string', value: 'client' }],
              references: [],
            },
            {
              traceID: 'abc123',
              spanID: '2',
              processID: 'p2',
              duration: 4000,
              tags: [
                { key: 'span.kind', type: 'string', value: 'server' },
                { key: 'error', type: 'bool', value: true },
              ],
              references: [{ refType: 'CHILD_OF', traceID: 'abc123', spanID: '1' }],
            },
            { traceID: 'abc123', spanID: '3', processID: 'nope' },
          ],
        },
      ],
    };
    const { graph, stats } = read('jaeger', JSON.stringify(doc));
    expect(edgeList(graph)).toEqual(['frontend>driver:runtime']);
    expect(graph.edges[0]!.metrics).toMatchObject({ calls: 1, errors: 1, latencyMs: { max: 5 } });
    expect(stats.skipped['jaeger.span']).toBe(1);
  });

  it('reads dependency links, bare or wrapped', () => {
    const links = [
      { parent: 'a', child: 'b', callCount: 7 },
      { parent: 'b', child: 'b', callCount: 1 },
      { parent: 1 },
    ];
    for (const doc of [links, { data: links }]) {
      const { graph, stats } = read('jaeger-deps', JSON.stringify(doc));
      expect(edgeList(graph)).toEqual(['a>b:runtime']);
      expect(graph.edges[0]!.metrics!.calls).toBe(7);
      expect(stats.skipped['jaeger.link']).toBe(1);
    }
  });
});

describe('Zipkin v2', () => {
  it('joins a shared server span to its client span', () => {
    const spans = [
      {
        traceId: '463ac35c9f6413ad',
        id: 'a2fb4a1d1a96d312',
        kind: 'CLIENT',
        localEndpoint: { serviceName: 'frontend' },
        duration: 2000,
      },
      {
        traceId: '463ac35c9f6413ad',
        id: 'a2fb4a1d1a96d312',
        kind: 'SERVER',
        shared: true,
        localEndpoint: { serviceName: 'backend' },
        duration: 1500,
      },
      {
        traceId: '463ac35c9f6413ad',
        id: '0000000000000003',
        parentId: 'a2fb4a1d1a96d312',
        kind: 'CLIENT',
        localEndpoint: { serviceName: 'backend' },
        remoteEndpoint: { serviceName: 'mysql' },
        tags: { error: 'timeout' },
      },
    ];
    const { graph } = read('zipkin', JSON.stringify([spans]));
    expect(edgeList(graph)).toEqual(['backend>mysql:runtime', 'frontend>backend:runtime']);
    expect(graph.edges[0]!.metrics!.errors).toBe(1);
  });
});

describe('Kubernetes', () => {
  it('reads env, args, ConfigMaps and init containers of the example', () => {
    const { graph } = read(
      'kubernetes',
      readFileSync(join(examples, 'k8s.yaml'), 'utf8'),
      'k8s.yaml',
    );
    // Node ids are service keys: `namespace/name` outside the default namespace.
    expect(edgeList(graph)).toEqual([
      'monitoring/prometheus>shop/postgres:runtime',
      'shop/checkout>shop/orders:runtime',
      'shop/checkout>shop/payments:runtime',
      'shop/orders>shop/postgres:startup',
      'shop/web>shop/checkout:runtime',
    ]);
    const checkoutToOrders = graph.edges.find(
      (e) => e.from === 'shop/checkout' && e.to === 'shop/orders',
    )!;
    const line =
      readFileSync(join(examples, 'k8s.yaml'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('orders.shop.svc')) + 1;
    expect(checkoutToOrders.sources).toEqual([{ type: 'kubernetes', file: 'k8s.yaml', line }]);
    expect(checkoutToOrders.ports).toEqual([9090]);
    const web = graph.services.find((s) => s.name === 'shop/web')!;
    expect(web).toMatchObject({
      namespace: 'shop',
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
      podSelector: { app: 'web' },
      labels: { tier: 'frontend', criticality: 'high' },
    });
    expect(graph.services.find((s) => s.name === 'monitoring/prometheus')!.labels.role).toBe(
      'monitoring',
    );
  });

  it('reports YAML syntax errors with file, line and column', () => {
    expect(() => read('kubernetes', 'kind: Deployment\nmetadata: [\n', 'bad.yaml')).toThrow(
      expect.objectContaining({
        code: 'GRAPH_INPUT_MALFORMED',
        file: 'bad.yaml',
        line: expect.any(Number),
      }),
    );
  });
});

describe('Compose', () => {
  it('reads depends_on (short and long), links, volumes_from, network_mode and env URLs', () => {
    const { graph } = read(
      'compose',
      readFileSync(join(examples, 'docker-compose.yml'), 'utf8'),
      'docker-compose.yml',
    );
    expect(edgeList(graph)).toEqual([
      'checkout>orders:startup',
      'checkout>payments:startup',
      'orders>postgres:startup',
      'payments>orders:runtime',
      'payments-sidecar>payments:startup',
      'postgres>pgdata:startup',
      'web>checkout:startup',
    ]);
    expect(graph.edges.find((e) => e.from === 'web')!.condition).toBe('service_healthy');
    expect(graph.services.find((s) => s.name === 'web')!.labels.tier).toBe('frontend');
    expect(graph.services.find((s) => s.name === 'checkout')!.labels.tier).toBe('backend');
  });

  it('names an undefined dependency and its line', () => {
    expect(() => read('compose', 'services:\n  a:\n    depends_on: [ghost]\n', 'c.yml')).toThrow(
      expect.objectContaining({
        code: 'GRAPH_INPUT_MALFORMED',
        line: 3,
        message: expect.stringContaining('"ghost"'),
      }),
    );
  });
});

describe('Backstage', () => {
  it('joins APIs into edges and reads dependsOn / dependencyOf', () => {
    const { graph } = read('backstage', readFileSync(join(examples, 'catalog-info.yaml'), 'utf8'));
    expect(edgeList(graph)).toEqual([
      'checkout>orders:runtime',
      'checkout>payments:runtime',
      'orders>orders-db:runtime',
    ]);
    expect(graph.services.find((s) => s.name === 'orders-db')!.type).toBe('database');
  });
});

describe('Ward Service documents', () => {
  it('reads declared startup and runtime dependencies and SPIFFE IDs', () => {
    const text = `apiVersion: ward.dev/v1
kind: Service
metadata: { name: orders, namespace: shop, labels: { tier: backend } }
spec:
  owner: team-orders
  dependencies:
    - { service: postgres, kind: startup }
    - { service: payments, kind: runtime }
    - { service: default/audit, kind: runtime }
    - { service: team-b/payments, kind: runtime }
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: orders, namespace: shop }
spec: { destination: orders, rules: [{ sources: [checkout], action: allow }] }
`;
    const { graph } = read('ward', text);
    // Nodes are keys; dependencies resolve in the document's namespace unless they name one.
    expect(edgeList(graph)).toEqual([
      'shop/orders>audit:runtime',
      'shop/orders>shop/payments:runtime',
      'shop/orders>shop/postgres:startup',
      'shop/orders>team-b/payments:runtime',
    ]);
    expect(graph.services.find((s) => s.name === 'shop/orders')).toMatchObject({
      namespace: 'shop',
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/orders',
      labels: { tier: 'backend', owner: 'team-orders' },
    });
  });

  it('refuses documents the policy schema rejects, with the position', () => {
    const bad =
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: a }\nspec:\n  dependencies:\n    - { service: b, kind: sometimes }\n';
    expect(() => read('ward', bad, 'svc.yaml')).toThrow(
      expect.objectContaining({ code: 'GRAPH_INPUT_MALFORMED', file: 'svc.yaml', line: 6 }),
    );
  });
});

describe('decision logs', () => {
  it('aggregates records into observed edges with deny counts, joining SPIFFE IDs', () => {
    const base = {
      time: '2026-01-01T00:00:00Z',
      method: 'GET',
      path: '/x',
      rule: 'orders#0',
      revision: 1,
    };
    const lines = [
      { ...base, source: 'checkout', destination: 'orders', effect: 'allow', enforced: true },
      {
        ...base,
        source: 'spiffe://cluster.local/ns/shop/sa/web',
        destination: 'orders',
        effect: 'deny',
        enforced: true,
      },
      { ...base, source: 'anonymous', destination: 'orders', effect: 'deny', enforced: true },
      { ...base, source: 'checkout', destination: 'orders', effect: 'maybe', enforced: true },
    ].map((l) => JSON.stringify(l));
    const ingest = new GraphIngest();
    ingest.add(
      'ward',
      'web.yaml',
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec: {}\n',
    );
    ingest.add('decision-log', 'decisions.jsonl', `${lines.join('\n')}\n`);
    const { graph, stats } = ingest.finish();
    expect(
      graph.edges.map((e) => `${e.from}>${e.to}:${e.metrics!.calls}/${e.metrics!.denied}`),
    ).toEqual(['checkout>orders:1/0', 'shop/web>orders:1/1']);
    expect(stats.skipped).toMatchObject({ 'decision.anonymous': 1, 'decision.record': 1 });
    expect(stats.skipSamples.join('\n')).toContain(
      'decisions.jsonl:4: "effect" must be "allow" or "deny"',
    );
  });

  it('counts a folded record (count) as that many calls, and refuses a bad count', () => {
    const rec = {
      time: '2026-01-01T00:00:00Z',
      source: 'frontend',
      destination: 'inventory',
      effect: 'deny',
      enforced: false,
      rule: 'inventory-via-orders#0',
    };
    const ingest = new GraphIngest();
    ingest.add(
      'decision-log',
      'folded.jsonl',
      `${JSON.stringify({ ...rec, count: 7 })}\n${JSON.stringify({ ...rec, count: 0 })}\n`,
    );
    const { graph, stats } = ingest.finish();
    expect(
      graph.edges.map((e) => `${e.from}>${e.to}:${e.metrics!.calls}/${e.metrics!.denied}`),
    ).toEqual(['frontend>inventory:7/7']);
    expect(stats.skipped).toMatchObject({ 'decision.record': 1 });
  });
});

describe('input detection', () => {
  it('detects every example and honours type prefixes', () => {
    const detect = (f: string) =>
      detectInputType(f, readFileSync(join(examples, f)).subarray(0, 4096));
    expect(detect('k8s.yaml')).toBe('kubernetes');
    expect(detect('docker-compose.yml')).toBe('compose');
    expect(detect('catalog-info.yaml')).toBe('backstage');
    expect(detect('traces.otlp.jsonl')).toBe('otlp-json');
    expect(detect('baseline.json')).toBe('graph-json');
    expect(parseInputArg('k8s:deploy/x.yaml')).toEqual({
      type: 'kubernetes',
      path: 'deploy/x.yaml',
    });
    expect(parseInputArg('C:/x.yaml')).toEqual({ path: 'C:/x.yaml' });
    expect(() => detectInputType('notes.txt', 'hello')).toThrow(
      expect.objectContaining({
        code: 'GRAPH_INPUT_UNKNOWN',
        message: expect.stringContaining('k8s:notes.txt'),
      }),
    );
  });
});

describe('wire-observed edges', () => {
  it('keep their ports and evidence in the builder, and their ports through a saved graph', () => {
    const ingest = new GraphIngest();
    const wire = { type: 'wire', file: 'POST /v1/ingest/connections' } as const;
    ingest.builder.observeAggregate(
      'checkout',
      'payments',
      wire,
      { calls: 0, errors: 0, denied: 0 },
      [8080],
    );
    ingest.builder.observeAggregate(
      'checkout',
      'payments',
      wire,
      { calls: 0, errors: 0, denied: 0 },
      [8443, 8080],
    );
    const { graph } = ingest.finish();
    expect(graph.edges).toEqual([
      {
        from: 'checkout',
        to: 'payments',
        kind: 'runtime',
        provenance: 'observed',
        sources: [wire],
        ports: [8080, 8443],
        metrics: { calls: 0, errors: 0, denied: 0 },
      },
    ]);
    // `ward graph analyze graph:observed.json` on what GET /v1/graph served.
    const merged = read('graph-json', JSON.stringify({ version: 1, graph }), 'observed.json').graph;
    expect(merged.edges[0]).toMatchObject({ provenance: 'observed', ports: [8080, 8443] });
  });
});
