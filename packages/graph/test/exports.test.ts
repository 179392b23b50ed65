/**
 * Exports a user can apply (issue 11): entry points, pod ports, namespaces, data stores, shared
 * identities, refusal of unexplained traffic, and the report of every skipped document and
 * unresolved reference. The shop under fixtures/shop-app is checked against hand-written
 * policies, and every emitted object against the Kubernetes and Istio schemas.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import fc from 'fast-check';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import {
  analyze,
  classifyWorkload,
  type DependencyGraph,
  type ExportOptions,
  GraphError,
  GraphIngest,
  type IngestOptions,
  storeTypeOfImage,
  toIstioPolicies,
  toJsonReport,
  toNetworkPolicies,
  toTextReport,
} from '../src/index.ts';

const fixtures = join(import.meta.dirname, 'fixtures', 'shop-app');
const fixture = (name: string): string => readFileSync(join(fixtures, name), 'utf8');

function read(files: [string, string][], options: IngestOptions = {}) {
  const ingest = new GraphIngest(options);
  for (const [file, text] of files) ingest.add('kubernetes', file, text);
  return ingest.finish();
}

const shop = () => read([['shop.yaml', fixture('shop.yaml')]]);

type Manifest = Record<string, unknown> & { metadata: { name: string; namespace: string } };
const byKey = (list: Record<string, unknown>[]): Map<string, unknown> =>
  new Map(
    list.map((m) => [`${(m as Manifest).metadata.namespace}/${(m as Manifest).metadata.name}`, m]),
  );
const expected = (file: string) =>
  byKey(parseAllDocuments(fixture(join('expected', file))).map((d) => d.toJS()));

function validNetworkPolicies(manifests: Record<string, unknown>[]): void {
  for (const m of manifests) expect(() => new NetworkPolicy(m as never).validate()).not.toThrow();
}
function validIstio(manifests: Record<string, unknown>[]): void {
  for (const m of manifests)
    expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
}

function refusal(graph: DependencyGraph, options: ExportOptions = {}): GraphError {
  try {
    toNetworkPolicies(graph, options);
  } catch (e) {
    if (e instanceof GraphError) return e;
    throw e;
  }
  throw new Error('expected the export to refuse');
}

describe('the shop: exports checked against hand-written policies', () => {
  it('NetworkPolicy: the storefront is reachable from outside, every edge on its pod port', () => {
    const { graph } = shop();
    const { manifests, skipped } = toNetworkPolicies(graph);
    validNetworkPolicies(manifests);
    const want = expected('networkpolicy.yaml');
    const got = byKey(manifests);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [key, m] of want) expect({ key, m: got.get(key) }).toEqual({ key, m });
    // What is left out, and why: the external host, and nothing else.
    expect(skipped).toEqual([
      {
        item: 'shop/checkout → api.stripe.com',
        reason: expect.stringContaining('outside the cluster'),
      },
    ]);
  });

  it('Istio: principals from service accounts, ports, the entry point, shared identities named', () => {
    const { graph } = shop();
    const { manifests, warnings } = toIstioPolicies(graph);
    validIstio(manifests);
    const want = expected('istio.yaml');
    const got = byKey(manifests);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [key, m] of want) expect({ key, m: got.get(key) }).toEqual({ key, m });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^workloads shop\/cart, shop\/catalog, shop\/postgres, shop\/redis share the identity cluster\.local\/ns\/shop\/sa\/default: .*serviceAccountName/,
      ),
    ]);
  });

  it('a data store opens no egress even when it names another service', () => {
    const text = fixture('shop.yaml').replace(
      'ports: [{ name: redis, containerPort: 6379 }]',
      'ports: [{ name: redis, containerPort: 6379 }]\n          env: [{ name: REPLICA_OF, value: "catalog:3550" }]',
    );
    const { graph } = read([['shop.yaml', text]]);
    expect(graph.edges.some((e) => e.from === 'shop/redis' && e.to === 'shop/catalog')).toBe(true);
    const { manifests, skipped } = toNetworkPolicies(graph);
    expect(manifests.some((m) => (m as Manifest).metadata.name.startsWith('ward-redis-to'))).toBe(
      false,
    );
    expect(skipped).toContainEqual({
      item: 'shop/redis → shop/catalog',
      reason: expect.stringMatching(
        /shop\/redis is a cache \(image redis:7\.2-alpine\).*no egress/,
      ),
    });
  });
});

describe('refusing exports that would cut unexplained traffic', () => {
  it('an app whose dependencies live in code: refuses without allowEmpty, says why', () => {
    const { graph, stats } = read([['code-only.yaml', fixture('code-only.yaml')]]);
    expect(graph.edges).toEqual([]);
    const e = refusal(graph);
    expect(e.code).toBe('GRAPH_EXPORT_UNEXPLAINED');
    expect(e.message).toMatch(/no dependency between the 2 workload\(s\)/);
    expect(e.message).toContain('--allow-empty');
    expect(() => toIstioPolicies(graph)).toThrow(GraphError);
    // The reader said so too: a hint that dependencies live in code or configuration.
    expect(stats.diagnostics).toContainEqual(
      expect.objectContaining({
        file: 'code-only.yaml',
        action: 'hint',
        reason: expect.stringContaining('ward graph scan'),
      }),
    );
    expect(toTextReport(analyze(graph), stats)).toContain('No dependencies found in the inputs');
    const forced = toNetworkPolicies(graph, { allowEmpty: true });
    validNetworkPolicies(forced.manifests);
    expect(forced.warnings).toEqual([
      expect.stringContaining('default/api has no allowed dependency and no entry point'),
      expect.stringContaining('default/worker has no allowed dependency'),
    ]);
  });

  it('one workload without any edge or entry point is named', () => {
    const text = `${fixture('shop.yaml')}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: mailer, namespace: shop }
spec:
  selector: { matchLabels: { app: mailer } }
  template:
    metadata: { labels: { app: mailer } }
    spec: { containers: [{ name: mailer, image: example/mailer:1 }] }
`;
    const { graph } = read([['shop.yaml', text]]);
    const e = refusal(graph);
    expect(e.message).toMatch(
      /1 workload\(s\) have no allowed dependency and no entry point.*: shop\/mailer\./,
    );
    // Observed-only edges do not explain it either: they are unapproved.
    expect(refusal(graph, { includeObserved: true }).code).toBe('GRAPH_EXPORT_UNEXPLAINED');
  });
});

describe('namespaces', () => {
  it('objects without a namespace take the default given, never a hard-coded one', () => {
    const { graph } = read([['code-only.yaml', fixture('code-only.yaml')]], {
      defaultNamespace: 'payments',
    });
    expect(graph.services.find((s) => s.name === 'payments/api')).toMatchObject({
      namespace: 'payments',
      spiffeId: 'spiffe://cluster.local/ns/payments/sa/default',
    });
    const { manifests } = toNetworkPolicies(graph, { allowEmpty: true });
    expect(new Set(manifests.map((m) => (m as Manifest).metadata.namespace))).toEqual(
      new Set(['payments']),
    );
  });

  it('services with no namespace (Compose, traces) take the export option', () => {
    const ingest = new GraphIngest();
    ingest.add(
      'compose',
      'compose.yml',
      'services:\n  web:\n    image: example/web\n    environment: { API: "http://api:80" }\n  api:\n    image: example/api\n',
    );
    const { graph } = ingest.finish();
    const { manifests } = toNetworkPolicies(graph, { namespace: 'staging' });
    expect(new Set(manifests.map((m) => (m as Manifest).metadata.namespace))).toEqual(
      new Set(['staging']),
    );
    validNetworkPolicies(manifests);
  });

  it('a namespace read from a span that is no DNS label never becomes metadata.namespace', () => {
    const span = (service: string, namespace: string, peer: string) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: service } },
          { key: 'k8s.namespace.name', value: { stringValue: namespace } },
        ],
      },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: `${service.length}f067aa0ba902b7`.slice(0, 16),
              name: 'op',
              kind: 3,
              startTimeUnixNano: '1',
              endTimeUnixNano: '2',
              attributes: [{ key: 'peer.service', value: { stringValue: peer } }],
            },
          ],
        },
      ],
    });
    const ingest = new GraphIngest();
    ingest.add(
      'otlp-json',
      't.json',
      JSON.stringify({ resourceSpans: [span('web', '../../etc', 'api')] }),
    );
    const { graph } = ingest.finish();
    // Not a namespace: the name stays as it came, and exports use the fallback namespace.
    expect(graph.services.find((s) => s.name === 'web')!.namespace).toBe('../../etc');
    const { manifests } = toNetworkPolicies(graph, {
      includeObserved: true,
      allowEmpty: true,
      namespace: 'staging',
    });
    expect(new Set(manifests.map((m) => (m as Manifest).metadata.namespace))).toEqual(
      new Set(['staging']),
    );
  });

  it("a namespace carried in a span's service.name is checked too; default/x is x", () => {
    const span = (service: string, spanId: string) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId,
              name: 'op',
              kind: 3,
              startTimeUnixNano: '1',
              endTimeUnixNano: '2',
              attributes: [{ key: 'peer.service', value: { stringValue: 'api' } }],
            },
          ],
        },
      ],
    });
    const ingest = new GraphIngest();
    ingest.add(
      'otlp-json',
      't.json',
      JSON.stringify({
        resourceSpans: [
          span('../etc/x', 'b7ad6b7169203331'),
          span('default/web', 'c7ad6b7169203331'),
        ],
      }),
    );
    const { graph } = ingest.finish();
    // `default/web` and `web` are one node.
    expect(graph.services.some((s) => s.name === 'default/web')).toBe(false);
    expect(graph.services.some((s) => s.name === 'web')).toBe(true);
    const { manifests } = toNetworkPolicies(graph, {
      includeObserved: true,
      allowEmpty: true,
      namespace: 'staging',
    });
    const namespaces = new Set(manifests.map((m) => (m as Manifest).metadata.namespace));
    expect([...namespaces].every((n) => /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n))).toBe(true);
    expect(namespaces.has('..')).toBe(false);
  });

  it('a manifest whose namespace is no DNS label, or whose name holds a `/`, is skipped and said', () => {
    const dep = (meta: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: ${meta}\nspec:\n  selector: { matchLabels: { app: x } }\n  template:\n    metadata: { labels: { app: x } }\n    spec: { containers: [{ name: c, image: example/x }] }\n`;
    const { graph, stats } = read([
      [
        'bad.yaml',
        [
          dep('{ name: api, namespace: "../etc" }'),
          dep('{ name: "team-a/api", namespace: team-b }'),
          dep('{ name: ok, namespace: team-b }'),
        ].join('---\n'),
      ],
    ]);
    expect(graph.services.map((s) => s.name)).toEqual(['team-b/ok']);
    expect(stats.diagnostics.filter((d) => d.action === 'skipped').map((d) => d.reason)).toEqual([
      'metadata.namespace is not a namespace (a DNS label)',
      'metadata.name holds a `/`',
    ]);
  });

  it('cross-namespace hostnames resolve to the Service in that namespace', () => {
    const { graph } = shop();
    const targets = graph.edges.filter((e) => e.from === 'web/storefront').map((e) => e.to);
    // catalog.shop.svc.cluster.local, cart.shop.svc.cluster.local, checkout.shop
    expect(targets).toEqual(['shop/cart', 'shop/catalog', 'shop/checkout']);
    expect(
      graph.edges.find((e) => e.from === 'web/storefront' && e.to === 'shop/cart')!.podPorts,
    ).toEqual([{ port: 7070, protocol: 'TCP' }]);
  });

  it('node ids are service keys: namespace/name outside the default namespace', () => {
    const dep = (ns: string, name: string, env = '') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers: [{ name: c, image: example/${name}, ports: [{ containerPort: 8080 }]${env} }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec: { selector: { app: ${name} }, ports: [{ port: 80, targetPort: 8080 }] }
---
`;
    const text =
      dep('a', 'api') +
      dep('b', 'api') +
      dep('a', 'web', ', env: [{ name: X, value: "http://api" }, { name: Y, value: "api.b:80" }]');
    const { graph } = read([['two.yaml', text]]);
    expect(graph.services.map((s) => s.name)).toEqual(['a/api', 'a/web', 'b/api']);
    expect(graph.edges.map((e) => `${e.from}>${e.to}`)).toEqual(['a/web>a/api', 'a/web>b/api']);
    const { manifests } = toNetworkPolicies(graph, { allowEmpty: true });
    validNetworkPolicies(manifests);
    const ingressB = manifests.find(
      (m) =>
        (m as Manifest).metadata.name === 'ward-web-to-api-ingress' &&
        (m as Manifest).metadata.namespace === 'b',
    ) as Manifest & { spec: { ingress: { from: unknown[] }[] } };
    // Names take the plain service name; the peer is selected in its own namespace.
    expect(ingressB.spec.ingress[0]!.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'a' } },
        podSelector: { matchLabels: { app: 'web' } },
      },
    ]);
  });

  it('Services and workloads in different files meet', () => {
    const text = fixture('shop.yaml');
    const docs = text.split(/^---$/m);
    const services = docs.filter((d) => /kind: Service\n/.test(d)).join('---');
    const rest = docs.filter((d) => !/kind: Service\n/.test(d)).join('---');
    const { graph } = read([
      ['deploy.yaml', rest],
      ['services.yaml', services],
    ]);
    expect(graph.edges.map((e) => `${e.from}>${e.to}`)).toEqual(
      shop().graph.edges.map((e) => `${e.from}>${e.to}`),
    );
  });
});

describe('nothing dropped silently', () => {
  it('lists every skipped document, every entry point used, every unresolved reference', () => {
    const { stats } = shop();
    const d = stats.diagnostics.map((x) => `${x.action} ${x.kind} ${x.name} ${x.file}:${x.line}`);
    const line = (text: string) =>
      fixture('shop.yaml')
        .split('\n')
        .findIndex((l) => l.includes(text)) + 1;
    expect(d).toContain(`skipped Namespace shop shop.yaml:${line('kind: Namespace') - 1}`);
    expect(d).toContain(
      `skipped NetworkPolicy shop/legacy-allow-all shop.yaml:${line('kind: NetworkPolicy') - 1}`,
    );
    expect(d).toContain(
      `used ServiceEntry shop/stripe shop.yaml:${line('kind: ServiceEntry') - 1}`,
    );
    expect(d).toContain(`used Ingress web/storefront shop.yaml:${line('kind: Ingress') - 1}`);
    expect(d).toContain(`used Service web/storefront shop.yaml:${line('type: LoadBalancer') - 4}`);
    expect(d).toContain(
      `unresolved reference otel-collector.observability shop.yaml:${line('otel-collector')}`,
    );
    expect(stats.diagnostics.find((x) => x.kind === 'NetworkPolicy')!.reason).toContain(
      'declares no dependency',
    );
    expect(stats.diagnostics.filter((x) => x.action === 'unresolved')).toHaveLength(1);
    const text = toTextReport(analyze(shop().graph), stats);
    expect(text).toContain('Documents skipped: 2');
    expect(text).toContain('Not resolved: 1');
    expect(text).toMatch(
      /shop\.yaml:\d+ reference otel-collector\.observability: web\/storefront names/,
    );
    // And in the JSON report, for tools.
    const json = JSON.parse(toJsonReport(shop().graph, analyze(shop().graph), stats));
    expect(json.stats.diagnostics).toHaveLength(stats.diagnostics.length);
  });

  it('ServiceEntry hosts become external nodes that workloads depend on', () => {
    const { graph } = shop();
    expect(graph.services.find((s) => s.name === 'api.stripe.com')).toMatchObject({
      type: 'external',
      virtual: true,
    });
    expect(graph.edges.find((e) => e.to === 'api.stripe.com')!.from).toBe('shop/checkout');
  });

  it('Gateway API routes, Istio Gateway + VirtualService and NodePort open entry points', () => {
    const app = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: edge }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec: { containers: [{ name: c, image: example/${name}, ports: [{ name: web, containerPort: 9000 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: edge }
spec: { selector: { app: ${name} }, ports: [{ name: http, port: 80, targetPort: web }] }
---
`;
    const text = `${app('api')}${app('grpc')}${app('legacy')}${app('reviews')}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: public, namespace: infra }
spec: { gatewayClassName: x, listeners: [{ name: http, port: 80, protocol: HTTP }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: edge }
spec:
  parentRefs: [{ name: public, namespace: infra }]
  rules: [{ backendRefs: [{ name: api, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: mesh-only, namespace: edge }
spec:
  parentRefs: [{ kind: Service, group: "", name: grpc }]
  rules: [{ backendRefs: [{ name: grpc, port: 80 }] }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: edge }
spec: { selector: { istio: ingressgateway }, servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: unused, namespace: edge }
spec: { selector: { istio: ingressgateway }, servers: [] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: edge }
spec:
  hosts: ["*"]
  gateways: [ingress]
  http: [{ route: [{ destination: { host: reviews.edge.svc.cluster.local, port: { number: 80 } } }] }]
---
apiVersion: v1
kind: Service
metadata: { name: legacy-np, namespace: edge }
spec: { type: NodePort, selector: { app: legacy }, ports: [{ port: 80, targetPort: 9000, nodePort: 30080 }] }
`;
    const { graph, stats } = read([['edge.yaml', text]]);
    const entries = Object.fromEntries(
      graph.services
        .filter((s) => s.entryPoints)
        .map((s) => [s.name, s.entryPoints!.map((e) => [e.via, e.ports])]),
    );
    const p9000 = [{ port: 9000, protocol: 'TCP' }];
    expect(entries).toEqual({
      'edge/api': [['HTTPRoute edge/api (Gateway infra/public)', p9000]],
      'edge/legacy': [['Service/NodePort edge/legacy-np', p9000]],
      'edge/reviews': [['VirtualService edge/reviews (Gateway edge/ingress)', p9000]],
    });
    const notes = stats.diagnostics.map((x) => `${x.action} ${x.kind} ${x.name}`);
    expect(notes).toContain('skipped GRPCRoute edge/mesh-only');
    expect(notes).toContain('used Gateway edge/ingress');
    expect(notes).toContain('skipped Gateway edge/unused');
    expect(notes).toContain('used Gateway infra/public');
    expect(notes).toContain('used HTTPRoute edge/api');
    expect(notes).toContain('used VirtualService edge/reviews');
    expect(notes).toContain('used Service edge/legacy-np');
  });

  it('a named targetPort no container declares leaves ports open, and says so', () => {
    const text = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: x }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: c, image: example/web, env: [{ name: A, value: "http://api" }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api, namespace: x }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec: { containers: [{ name: c, image: example/api, ports: [{ containerPort: 8080 }] }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: x }
spec: { selector: { app: api }, ports: [{ port: 80, targetPort: http }] }
`;
    const { graph, stats } = read([['x.yaml', text]]);
    expect(graph.edges[0]!.podPorts).toBeUndefined();
    expect(stats.diagnostics).toContainEqual(
      expect.objectContaining({
        kind: 'port',
        name: 'x/api',
        action: 'unresolved',
        reason: expect.stringContaining('targetPort "http" names no containerPort of x/api'),
      }),
    );
    const { manifests, warnings } = toNetworkPolicies(graph);
    validNetworkPolicies(manifests);
    const egress = manifests.find(
      (m) => (m as Manifest).metadata.name === 'ward-web-to-api-egress',
    ) as { spec: { egress: Record<string, unknown>[] } };
    expect(egress.spec.egress[0]!.ports).toBeUndefined();
    expect(warnings).toContain(
      "x/web → x/api: the callee's pod ports are unknown (no Service port resolved), so all ports are allowed",
    );
  });
});

describe('kinds: databases, caches and brokers', () => {
  it('types workloads from image, else from ports, and never tools beside a store', () => {
    expect(storeTypeOfImage('redis:7.2-alpine')).toBe('cache');
    expect(storeTypeOfImage('docker.io/bitnami/redis@sha256:abc')).toBe('cache');
    expect(storeTypeOfImage('postgres:16')).toBe('database');
    expect(storeTypeOfImage('confluentinc/cp-kafka:7.6.0')).toBe('messaging');
    expect(storeTypeOfImage('rabbitmq:3-management')).toBe('messaging');
    expect(storeTypeOfImage('mongo')).toBe('database');
    expect(storeTypeOfImage('nats:2.10')).toBe('messaging');
    expect(storeTypeOfImage('docker.elastic.co/elasticsearch/elasticsearch:8.14.0')).toBe(
      'database',
    );
    expect(storeTypeOfImage('memcached:1.6')).toBe('cache');
    expect(storeTypeOfImage('oliver006/redis_exporter:v1.62.0')).toBeUndefined();
    expect(storeTypeOfImage('provectuslabs/kafka-ui:latest')).toBeUndefined();
    expect(storeTypeOfImage('mongo-express')).toBeUndefined();
    expect(storeTypeOfImage('example/orders:1.0')).toBeUndefined();
    expect(storeTypeOfImage('registry:5000/team/redis')).toBe('cache');
    expect(classifyWorkload(['example/db:1'], [5432])).toEqual({
      type: 'database',
      typedFrom: 'port 5432',
    });
    expect(classifyWorkload(['example/app:1'], [8080, 5432])).toBeUndefined();
    expect(classifyWorkload(['example/app:1'], [])).toBeUndefined();
  });

  it('stores start first, are listed with their kind, and shown in the boot order', () => {
    const { graph, stats } = shop();
    const kinds = Object.fromEntries(graph.services.map((s) => [s.name, s.type]));
    expect(kinds).toMatchObject({
      'shop/redis': 'cache',
      'shop/postgres': 'database',
      'shop/cart': 'service',
    });
    const report = analyze(graph);
    // cart → redis, catalog and checkout → postgres are runtime calls, yet order the cold start.
    expect(report.bootOrder.waves).toEqual([
      ['api.stripe.com', 'shop/postgres', 'shop/redis', 'web/storefront'],
      ['shop/cart', 'shop/catalog', 'shop/checkout'],
    ]);
    expect(report.stores).toEqual([
      { service: 'shop/postgres', type: 'database', typedFrom: 'image postgres:16.4' },
      { service: 'shop/redis', type: 'cache', typedFrom: 'image redis:7.2-alpine' },
    ]);
    const text = toTextReport(report, stats);
    expect(text).toContain('shop/postgres [database]');
    expect(text).toContain('shop/redis: cache (image redis:7.2-alpine)');
    expect(text).toContain(
      'web/storefront: Service/LoadBalancer web/storefront; Ingress web/storefront',
    );
  });

  it('Compose services are typed from image and ports too', () => {
    const ingest = new GraphIngest();
    ingest.add(
      'compose',
      'compose.yml',
      `services:
  app: { image: example/app, environment: { DB: "postgres://db:5432/x", Q: "amqp://mq:5672" } }
  db: { image: "postgres:17" }
  mq: { image: example/broker, ports: ["15672:5672/tcp"], expose: [5672] }
  tool: { image: "oliver006/redis_exporter" }
`,
    );
    const { graph } = ingest.finish();
    expect(Object.fromEntries(graph.services.map((s) => [s.name, [s.type, s.typedFrom]]))).toEqual({
      app: ['service', undefined],
      db: ['database', 'image postgres:17'],
      mq: ['messaging', 'port 5672'],
      tool: ['service', undefined],
    });
    expect(analyze(graph).bootOrder.waves).toEqual([['db', 'mq', 'tool'], ['app']]);
  });

  it('kinds, entry points and pod ports survive a JSON round trip', () => {
    const { graph, stats } = shop();
    const again = new GraphIngest();
    again.add('graph-json', 'g.json', toJsonReport(graph, analyze(graph), stats));
    const back = again.finish().graph;
    expect(toNetworkPolicies(back).manifests).toEqual(toNetworkPolicies(graph).manifests);
  });
});

describe('property: exports of arbitrary manifests', () => {
  it('either refuse with a coded error or emit only schema-valid objects', () => {
    const name = fc.constantFrom('a', 'b', 'db', 'web', 'x-y');
    const port = fc.oneof(
      fc.integer({ min: -5, max: 70_000 }),
      fc.constantFrom('http', 'grpc', ''),
    );
    const workload = fc.record({
      apiVersion: fc.constant('apps/v1'),
      kind: fc.constantFrom('Deployment', 'StatefulSet'),
      metadata: fc.record({ name, namespace: fc.option(name, { nil: undefined }) }),
      spec: fc.record({
        selector: fc.record({ matchLabels: fc.record({ app: name }) }),
        template: fc.record({
          metadata: fc.record({ labels: fc.record({ app: name }) }),
          spec: fc.record({
            serviceAccountName: fc.option(name, { nil: undefined }),
            containers: fc.array(
              fc.record({
                name,
                image: fc.constantFrom('redis:7', 'postgres', 'example/app', 'kafka-ui', ''),
                ports: fc.array(
                  fc.record({
                    name: fc.option(fc.constantFrom('http', 'grpc')),
                    containerPort: port,
                  }),
                ),
                env: fc.array(
                  fc.record({
                    name,
                    value: fc.oneof(
                      fc.constantFrom(
                        'http://a',
                        'b:80',
                        'db.b.svc:5432',
                        'web.a:http',
                        'https://x.example.com',
                      ),
                      fc.string(),
                    ),
                  }),
                  { maxLength: 3 },
                ),
              }),
              { maxLength: 2 },
            ),
          }),
        }),
      }),
    });
    const service = fc.record({
      apiVersion: fc.constant('v1'),
      kind: fc.constant('Service'),
      metadata: fc.record({ name, namespace: fc.option(name, { nil: undefined }) }),
      spec: fc.record({
        type: fc.constantFrom('ClusterIP', 'LoadBalancer', 'NodePort', 'ExternalName', 7),
        selector: fc.record({ app: name }),
        ports: fc.array(
          fc.record({
            name: fc.option(fc.constantFrom('http', 'grpc')),
            port,
            targetPort: fc.option(port),
          }),
        ),
      }),
    });
    const other = fc.record({
      apiVersion: fc.constantFrom(
        'networking.k8s.io/v1',
        'gateway.networking.k8s.io/v1',
        'networking.istio.io/v1',
      ),
      kind: fc.constantFrom(
        'Ingress',
        'HTTPRoute',
        'VirtualService',
        'Gateway',
        'ServiceEntry',
        'NetworkPolicy',
      ),
      metadata: fc.record({ name, namespace: fc.option(name, { nil: undefined }) }),
      spec: fc.anything(),
    });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(workload, service, other), { maxLength: 8 }),
        fc.boolean(),
        (docs, allowEmpty) => {
          const ingest = new GraphIngest();
          ingest.add('kubernetes', 'fuzz.yaml', docs.map((d) => stringify(d)).join('---\n'));
          const { graph } = ingest.finish();
          for (const exporter of [toNetworkPolicies, toIstioPolicies]) {
            try {
              const { manifests } = exporter(graph, { allowEmpty });
              if (exporter === toNetworkPolicies) validNetworkPolicies(manifests);
              else validIstio(manifests);
            } catch (e) {
              if (!(e instanceof GraphError)) throw e;
              expect(e.code).toBe('GRAPH_EXPORT_UNEXPLAINED');
              expect(allowEmpty).toBe(false);
            }
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('image names: never throws, a store type or nothing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (image) => {
        const t = storeTypeOfImage(image);
        expect(t === undefined || ['database', 'cache', 'messaging'].includes(t)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
