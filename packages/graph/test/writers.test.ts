import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { Ajv } from 'ajv';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import {
  analyze,
  GraphIngest,
  parseLayeringRules,
  resourceName,
  toDot,
  toIstioPolicies,
  toJsonReport,
  toMermaid,
  toNetworkPolicies,
  toSarif,
  toTextReport,
} from '../src/index.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'graph');
const lineOf = (file: string, text: string): number =>
  readFileSync(join(examples, file), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text)) + 1;

function shop() {
  const ingest = new GraphIngest();
  ingest.add('kubernetes', 'examples/graph/k8s.yaml', readFileSync(join(examples, 'k8s.yaml')));
  ingest.add(
    'otlp-json',
    'examples/graph/traces.otlp.jsonl',
    readFileSync(join(examples, 'traces.otlp.jsonl')),
  );
  const { graph, stats } = ingest.finish();
  const rules = parseLayeringRules(
    readFileSync(join(examples, 'layering.yaml'), 'utf8'),
    'layering.yaml',
  );
  return { graph, stats, report: analyze(graph, { rules }) };
}

describe('diagrams', () => {
  it('highlights cycle edges in DOT and Mermaid', () => {
    const { graph, report } = shop();
    const dot = toDot(graph, report);
    expect(dot).toMatch(/^digraph ward \{/);
    // Node ids are service keys; DOT ids are quoted, so `/` needs nothing more.
    expect(dot).toContain('"shop/orders" -> "shop/payments" [style=dashed, color=red, penwidth=2');
    expect(dot).toContain('"monitoring/prometheus" -> "shop/postgres" [style=dashed, color=gray40');
    const mermaid = toMermaid(graph, report);
    expect(mermaid).toMatch(/^flowchart LR\n/);
    const ids = Object.fromEntries(graph.services.map((s, i) => [s.name, `n${i}`]));
    const edgeLines = mermaid.split('\n').filter((l) => /-\.->|==>/.test(l));
    const cycleIndex = edgeLines.findIndex(
      (l) => l.trim() === `${ids['shop/orders']} -.-> ${ids['shop/payments']}`,
    );
    // Mermaid node ids are generated (n0, n1, …); the key is only ever a quoted label.
    expect(mermaid).toContain(`${ids['shop/orders']}["shop/orders"]`);
    expect(mermaid).toMatch(new RegExp(`linkStyle [0-9,]*\\b${cycleIndex}\\b[0-9,]* stroke:#d00`));
  });

  it('escapes names that would break DOT or Mermaid', () => {
    const graph = {
      services: [
        { name: 'a"b', type: 'service' as const, virtual: false, labels: {}, sources: [] },
      ],
      edges: [],
    };
    const report = analyze(graph);
    expect(toDot(graph, report)).toContain('"a\\"b"');
    expect(toMermaid(graph, report)).toContain('n0["a#quot;b"]');
  });
});

describe('text and JSON reports', () => {
  it('summarizes findings with explanations and round-trips as a graph input', () => {
    const { graph, stats, report } = shop();
    const text = toTextReport(report, stats);
    expect(text).toContain('shop/orders → shop/payments → shop/orders');
    expect(text).toContain('Cut ');
    expect(text).toContain('monitoring/prometheus (monitoring) depends on shop/postgres');
    const json = toJsonReport(graph, report, stats);
    const again = new GraphIngest();
    again.add('graph-json', 'report.json', json);
    const back = again.finish().graph;
    expect(back.edges.map((e) => [e.from, e.to, e.kind, e.provenance])).toEqual(
      graph.edges.map((e) => [e.from, e.to, e.kind, e.provenance]),
    );
    expect(
      back.edges.find((e) => e.to === 'shop/payments' && e.from === 'shop/orders')!.metrics!
        .latencyMs!.max,
    ).toBe(10);
  });
});

describe('SARIF', () => {
  it('validates against the SARIF 2.1.0 schema and points at declarations', () => {
    // The OASIS schema is draft-04; ajv reads it once the draft-04 `id` is renamed.
    const schema = JSON.parse(
      readFileSync(join(import.meta.dirname, 'fixtures', 'sarif-schema-2.1.0.json'), 'utf8'),
    );
    schema.$id = schema.id;
    delete schema.id;
    delete schema.$schema;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const { graph, report } = shop();
    const sarif = JSON.parse(toSarif(graph, report));
    const ok = validate(sarif);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    const results = sarif.runs[0].results as {
      ruleId: string;
      locations?: {
        physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } };
      }[];
    }[];
    const rules = new Set(results.map((r) => r.ruleId));
    expect([...rules].sort()).toEqual([
      'ward.graph.cycle',
      'ward.graph.repair-tool',
      'ward.graph.unapproved-edge',
      'ward.graph.unused-edge',
    ]);
    const repair = results.find((r) => r.ruleId === 'ward.graph.repair-tool')!;
    expect(repair.locations![0]!.physicalLocation).toEqual({
      artifactLocation: { uri: 'examples/graph/k8s.yaml' },
      region: { startLine: lineOf('k8s.yaml', 'storage.remote.url') },
    });
  });
});

describe('policy exports', () => {
  it('writes NetworkPolicies that validate against the Kubernetes schema', () => {
    const { graph } = shop();
    const { manifests, skipped } = toNetworkPolicies(graph);
    for (const m of manifests) expect(() => new NetworkPolicy(m as never).validate()).not.toThrow();
    for (const m of manifests)
      expect((m.spec as { policyTypes?: string[] }).policyTypes?.length).toBeGreaterThan(0);
    const names = manifests.map(
      (m) =>
        `${(m.metadata as { namespace: string }).namespace}/${(m.metadata as { name: string }).name}`,
    );
    expect(names).toContain('shop/ward-default-deny');
    expect(names).toContain('monitoring/ward-default-deny');
    expect(names).toContain('shop/ward-allow-dns');
    expect(names).toContain('monitoring/ward-prometheus-to-postgres-egress');
    expect(names).toContain('shop/ward-prometheus-to-postgres-ingress');
    const ingress = manifests.find(
      (m) => (m.metadata as { name: string }).name === 'ward-prometheus-to-postgres-ingress',
    )!;
    expect(ingress.spec).toEqual({
      podSelector: { matchLabels: { app: 'postgres' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { app: 'prometheus' } },
            },
          ],
          // The pod port: Service postgres port 5432 → targetPort (defaults to the port).
          ports: [{ port: 5432, protocol: 'TCP' }],
        },
      ],
    });
    const dns = manifests.find((m) => (m.metadata as { name: string }).name === 'ward-allow-dns')!;
    expect(JSON.stringify(dns)).toContain('"k8s-app":"kube-dns"');
    // Observed-only edges are unapproved and not exported.
    expect(skipped.map((s) => s.item)).toContain('shop/orders → shop/payments');
    expect(names.some((n) => n.includes('orders-to-payments'))).toBe(false);
  });

  it('writes Istio AuthorizationPolicies that validate against the Istio schema', () => {
    const { graph } = shop();
    const { manifests } = toIstioPolicies(graph, { includeObserved: true });
    for (const m of manifests)
      expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
    const orders = manifests.find(
      (m) => (m.metadata as { name: string }).name === 'ward-allow-orders',
    )!;
    expect(orders.spec).toEqual({
      selector: { matchLabels: { app: 'orders' } },
      action: 'ALLOW',
      // payments → orders is observed only: no declared port, so any port; checkout's declared
      // call reaches orders' pod port 9090 only.
      rules: [
        { from: [{ source: { principals: ['cluster.local/ns/shop/sa/payments'] } }] },
        {
          from: [{ source: { principals: ['cluster.local/ns/shop/sa/checkout'] } }],
          to: [{ operation: { ports: ['9090'] } }],
        },
      ],
    });
    expect(
      manifests.find((m) => (m.metadata as { name: string }).name === 'ward-allow-nothing')!.spec,
    ).toEqual({});
  });

  it('the validators do reject a broken manifest (so the tests above can fail)', () => {
    expect(() =>
      new NetworkPolicy({
        metadata: { name: 'x' },
        spec: { policyTypes: ['Sideways'] },
      } as never).validate(),
    ).toThrow();
    expect(() =>
      new AuthorizationPolicy({
        metadata: { name: 'x' },
        spec: { action: 'MAYBE' },
      } as never).validate(),
    ).toThrow();
  });

  it('makes DNS-1123 names of at most 63 characters', () => {
    const long = resourceName('ward', 'x'.repeat(80), 'to', 'Y_Z', 'egress');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(resourceName('ward', 'a.b', 'to', 'c')).toBe('ward-a-b-to-c');
  });
});
