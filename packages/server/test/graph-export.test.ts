/**
 * `GET /v1/graph/export` against a real server on loopback (SQLite and PostgreSQL): the stored
 * policy as Istio AuthorizationPolicies (DENY, dry-run, L7) or NetworkPolicies with the report of
 * what could not be expressed; a team token sees only the policies selecting its services and the
 * report of their rules; a PDP token nothing; an export that would cut unexplained services is
 * refused (409) unless `allowEmpty=true`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, svc } from './helpers.ts';
import { applyDocs, type IngestServer, ingestSuite, startIngestServer } from './ingest-fixture.ts';

const list = await ingestSuite('graph-export.test.ts');

const DOCS = [
  svc('frontend'),
  svc('orders'),
  svc('payments'),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-callers' },
    spec: {
      destination: 'orders',
      rules: [
        {
          sources: ['frontend'],
          action: 'allow',
          permissions: [{ http: { methods: ['GET'], paths: [{ glob: '/orders/**' }] } }],
        },
        { sources: ['frontend'], action: 'allow', when: 'request.path == "/x"' },
        { sources: ['payments'], action: 'deny' },
      ],
    },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'payments-trial' },
    spec: {
      destination: 'payments',
      mode: 'dry-run',
      rules: [{ sources: ['orders'], action: 'allow', permissions: [{ grpc: { service: '*' } }] }],
    },
  },
];

// biome-ignore lint/suspicious/noExplicitAny: manifests read as loose JSON
type Json = Record<string, any>;

describe.each(list)('GET /v1/graph/export on $name', (backend) => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, DOCS);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('Istio: DENY, ALLOW with methods and paths, dry-run, and the report', async () => {
    const r = await http(s.url, 'GET', '/v1/graph/export?target=istio');
    expect(r.status).toBe(200);
    const byName = new Map((r.body.manifests as Json[]).map((m) => [m.metadata.name, m]));
    expect(byName.get('ward-deny-orders')!.spec.rules).toEqual([
      { from: [{ source: { principals: ['ward.local/ns/default/sa/payments'] } }] },
    ]);
    expect(byName.get('ward-allow-orders')!.spec.rules).toEqual([
      {
        from: [{ source: { principals: ['ward.local/ns/default/sa/frontend'] } }],
        to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/orders/*'] } }],
      },
    ]);
    expect(byName.get('ward-allow-payments-soft-apply')!.metadata.annotations).toEqual({
      'ward.dev/soft-apply': 'true',
      'ward.dev/rules': 'soft-apply',
    });
    expect(r.body.unexpressed.map((u: Json) => u.rule).sort()).toEqual([
      'orders-callers#1',
      'payments-trial#0',
    ]);
  });

  it('NetworkPolicy from the approved rules', async () => {
    const r = await http(s.url, 'GET', '/v1/graph/export?target=networkpolicy');
    expect(r.status).toBe(200);
    const byName = new Map((r.body.manifests as Json[]).map((m) => [m.metadata.name, m]));
    const peers = (name: string) =>
      byName
        .get(name)!
        .spec.ingress.flatMap((i: Json) =>
          (i.from ?? [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': '*' } } }]).map(
            (p: Json) => p.podSelector.matchLabels['app.kubernetes.io/name'],
          ),
        );
    expect(peers('ward-orders-ingress')).toEqual(['frontend']); // payments is denied
    expect(peers('ward-payments-ingress')).toEqual(['*']); // soft apply: Ward enforces nothing
  });

  it('a team token sees the policies of its services and the report of their rules', async () => {
    const team = await s.token('orders-team', 'team', ['orders']);
    const r = await http(s.url, 'GET', '/v1/graph/export?target=istio', { token: team });
    expect(r.status).toBe(200);
    const names = (r.body.manifests as Json[]).map((m) => m.metadata.name).sort();
    expect(names).toEqual(['ward-allow-orders', 'ward-deny-orders']);
    expect(r.body.unexpressed.map((u: Json) => u.rule)).toEqual(['orders-callers#1']);
    expect(r.body.warnings.every((w: string) => w.startsWith('default/orders'))).toBe(true);
    const pdp = await http(s.url, 'GET', '/v1/graph/export?target=istio', { token: s.pdpToken });
    expect(pdp.status).toBe(403);
  });

  it('refuses (409) when a service is in no rule, unless allowEmpty', async () => {
    // Enforced now (no soft apply, which lets everyone call payments), and one more service.
    const trial = DOCS[4] as Json;
    await applyDocs(s.url, [{ ...trial, spec: { ...trial.spec, mode: 'enforce' } }, svc('lonely')]);
    const r = await http(s.url, 'GET', '/v1/graph/export?target=istio');
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/default\/lonely/);
    const forced = await http(s.url, 'GET', '/v1/graph/export?target=istio&allowEmpty=true');
    expect(forced.status).toBe(200);
    const bad = await http(s.url, 'GET', '/v1/graph/export?target=firewall');
    expect(bad.status).toBe(400);
  });
});

describe.each(list)('GET /v1/graph/export with namespaces on $name', (backend) => {
  // Two teams each own a `payments`; team-b may call team-a's with GET, and only that.
  const inNs = (ns: string, name: string) => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: {},
  });
  const NS_DOCS = [
    inNs('team-a', 'payments'),
    inNs('team-b', 'payments'),
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'payments', namespace: 'team-a' },
      spec: {
        destination: 'payments',
        rules: [
          {
            sources: ['team-b/*'],
            action: 'allow',
            permissions: [{ http: { methods: ['GET'] } }],
          },
        ],
      },
    },
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'payments', namespace: 'team-b' },
      spec: { destination: 'payments', rules: [{ sources: ['team-a/payments'], action: 'allow' }] },
    },
  ];
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, NS_DOCS);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('each policy lives in its destination namespace; sources keep their own', async () => {
    const r = await http(s.url, 'GET', '/v1/graph/export?target=istio');
    expect(r.status).toBe(200);
    const at = (ns: string, name: string) =>
      (r.body.manifests as Json[]).find(
        (m) => m.metadata.namespace === ns && m.metadata.name === name,
      )!;
    expect(at('team-a', 'ward-allow-payments').spec.rules[0].from).toEqual([
      { source: { namespaces: ['team-b'] } },
    ]);
    expect(at('team-b', 'ward-allow-payments').spec.rules[0].from).toEqual([
      { source: { principals: ['ward.local/ns/team-a/sa/payments'] } },
    ]);
    const np = await http(s.url, 'GET', '/v1/graph/export?target=networkpolicy');
    const ingress = (np.body.manifests as Json[]).find(
      (m) => m.metadata.namespace === 'team-a' && m.metadata.name === 'ward-payments-ingress',
    )!;
    expect(ingress.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-b' } } },
    ]);
  });

  it('a team token sees its own namespace’s policies, not a same-named service’s elsewhere', async () => {
    const teamA = await s.token('team-a-payments', 'team', ['team-a/payments']);
    const a = await http(s.url, 'GET', '/v1/graph/export?target=istio', { token: teamA });
    expect(a.status).toBe(200);
    expect(
      (a.body.manifests as Json[]).map((m) => `${m.metadata.namespace}/${m.metadata.name}`),
    ).toEqual(['team-a/ward-allow-payments']);
    expect(a.body.warnings.every((w: string) => w.startsWith('team-a/payments'))).toBe(true);
    // A default-namespace `payments` owns neither.
    const plain = await s.token('default-payments', 'team', ['payments']);
    const d = await http(s.url, 'GET', '/v1/graph/export?target=istio', { token: plain });
    expect(d.status).toBe(200);
    expect(d.body.manifests).toEqual([]);
  });
});
