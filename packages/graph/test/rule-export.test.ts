/**
 * Exports from Ward's rules (issue 14, item 5): every Istio object validates against Istio's CRD
 * schema, and each Ward rule of the conformance fixtures (fixtures/rule-export) is compared, on
 * sample requests, with the Istio rules exported from it — evaluated by a small model of
 * AuthorizationPolicy semantics (_istio-model.ts: principals, methods, paths with Istio's
 * exact/prefix/suffix matching, ports, `when` on request headers; DENY before ALLOW; deny when an
 * ALLOW policy selects the workload and none matches). Rules not in the report match exactly the
 * same requests; reported allows match no more than Ward's, reported denies no fewer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { compile, type DecisionInput, parseDocuments } from '@ward/policy';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import {
  GraphError,
  GraphIngest,
  toIstioPoliciesFromRules,
  toNetworkPoliciesFromRules,
} from '../src/index.ts';
import {
  exportedRuleMatches,
  type IstioRequest,
  istioAllows,
  type Json,
  l4Admits,
} from './_istio-model.ts';

const dir = join(import.meta.dirname, 'fixtures', 'rule-export');
const files = ['services.yaml', 'intentions.yaml'].map(
  (f) => [f, readFileSync(join(dir, f), 'utf8')] as const,
);

function load() {
  const ingest = new GraphIngest();
  for (const [file, text] of files) ingest.add('ward', file, text);
  const { graph } = ingest.finish();
  const docs = files.flatMap(([file, text]) => parseDocuments(text, file).documents);
  const policy = compile(docs as never, { trustDomain: 'cluster.local' });
  return { graph, policy };
}

const CALLERS = [
  ...['frontend', 'checkout', 'orders', 'admin-tool', 'reports', 'batch-a', 'batch-b'],
  undefined,
];
// HEAD reaches Ward as GET (its canonical form) and Istio as HEAD.
const METHODS = ['GET', 'HEAD', 'POST', 'DELETE'];
const PATHS = [
  '/',
  '/orders',
  '/orders/1',
  '/orders/cart',
  '/orders/1/items',
  '/orders/1/internal',
  '/orders/export/all',
  '/orders/debug',
  '/debug',
  '/admin/x',
  '/inventory/a/b',
  '/reports/secret',
  '/shop.Payments/Charge',
  '/shop.Payments/Refund',
  '/shop.Refunds/Issue',
];
const HEADERS: Record<string, string>[] = [
  {},
  { 'x-tenant': 'acme' },
  { 'x-tenant': 'other' },
  { 'x-debug': '1' },
];

function* samples(destination: string): Generator<[DecisionInput, IstioRequest]> {
  for (const caller of CALLERS)
    for (const method of METHODS)
      for (const path of PATHS)
        for (const headers of HEADERS) {
          const spiffeId = caller && `spiffe://cluster.local/ns/default/sa/${caller}`;
          const grpc = /^\/(shop\.[A-Za-z]+)\/([A-Za-z]+)$/.exec(path);
          const input: DecisionInput = {
            destination,
            source: caller ? { service: caller, spiffeId } : {},
            request: {
              method: method === 'HEAD' ? 'GET' : method,
              path,
              headers,
              ...(grpc ? { grpc: { service: grpc[1]!, method: grpc[2]! } } : {}),
            },
          };
          yield [
            input,
            { principal: spiffeId?.slice('spiffe://'.length), method, path, headers, port: 8080 },
          ];
        }
}

describe('Istio AuthorizationPolicy from Ward rules', () => {
  const { graph, policy } = load();
  const result = toIstioPoliciesFromRules(graph, policy);
  const manifests = result.manifests as Json[];

  it('every object validates against Istio’s CRD schema', () => {
    expect(manifests.length).toBeGreaterThan(5);
    for (const m of manifests)
      expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
  });

  it('reports exactly the rules Istio cannot carry, with the direction taken', () => {
    const byRule = new Map<string, string[]>();
    for (const u of result.unexpressed) byRule.set(u.rule, [...(byRule.get(u.rule) ?? []), u.why]);
    expect([...byRule.keys()].sort()).toEqual([
      'orders-callers#10',
      'orders-callers#2',
      'orders-callers#3',
      'orders-callers#4',
      'orders-callers#6',
      'orders-callers#8',
      'orders-callers#9',
      'payments-callers#1',
      'payments-callers#3',
    ]);
    expect(byRule.get('orders-callers#3')![0]).toMatch(/widened to "\/orders\/\*"/);
    expect(byRule.get('orders-callers#6')![0]).toMatch(/left out/);
    expect(byRule.get('payments-callers#1')![0]).toMatch(/dropped \(the deny covers more\)/);
  });

  it('dry-run intentions carry istio.io/dry-run; a soft-applied destination allows all', () => {
    const names = manifests.map(
      (m) => `${m.metadata.name}:${m.metadata.annotations?.['istio.io/dry-run'] ?? ''}`,
    );
    expect(names).toContain('ward-deny-reports-dry-run:true');
    expect(names).toContain('ward-allow-inventory-dry-run:true');
    expect(names).toContain('ward-allow-inventory-soft-apply:');
    expect(result.warnings.join('\n')).toMatch(/inventory: every intention is dry-run/);
  });

  it('rule by rule, the exported rules match what the Ward rules match (in the reported direction)', () => {
    const reported = new Set(result.unexpressed.map((u) => u.rule));
    let compared = 0;
    for (const destination of policy.destinations()) {
      const rules = policy.rules(destination);
      for (const [input, req] of samples(destination)) {
        const explanation = policy.explain(input);
        for (const r of rules) {
          const id = `${r.ref.policy}#${r.ref.index}`;
          const ward = explanation.considered.find(
            (e) => e.rule.policy === r.ref.policy && e.rule.index === r.ref.index,
          )!.matched;
          const istio = exportedRuleMatches(manifests, destination, id, req);
          const at = `${id} ${JSON.stringify(input.source)} ${req.method} ${req.path} ${JSON.stringify(req.headers)}`;
          if (!reported.has(id)) expect(istio, at).toBe(ward);
          else if (r.ref.action === 'allow') expect(istio && !ward, at).toBe(false);
          else expect(ward && !istio, at).toBe(false);
          compared++;
        }
        // The whole destination: Istio never allows what Ward denies; equal where nothing is reported.
        const wardAllowed = explanation.decision.allowed;
        const istioAllowed = istioAllows(manifests, destination, req);
        if (istioAllowed) expect(wardAllowed, `${destination} ${JSON.stringify(req)}`).toBe(true);
        if (!rules.some((r) => reported.has(`${r.ref.policy}#${r.ref.index}`)))
          expect(istioAllowed, `${destination} ${JSON.stringify(req)}`).toBe(wardAllowed);
      }
    }
    expect(compared).toBe(36_480); // 19 rules × 1,920 requests (the figure in docs/graph.md)
  });

  it('refuses when a workload is in no rule, unless allowEmpty', () => {
    // Without the `*` allow of frontend and the soft-applied inventory, which let every workload
    // call something; in a namespace the `sa/*` source of payments does not cover.
    const docs = files
      .flatMap(([file, text]) => parseDocuments(text, file).documents)
      .filter((d) => !['frontend-callers', 'inventory-callers'].includes(d.document.metadata.name));
    const p = compile(docs as never, { trustDomain: 'cluster.local' });
    const ingest = new GraphIngest();
    for (const [file, text] of files) ingest.add('ward', file, text);
    ingest.add(
      'ward',
      'extra.yaml',
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: lonely, namespace: batch }\nspec: {}\n',
    );
    const { graph: g } = ingest.finish();
    expect(() => toIstioPoliciesFromRules(g, p)).toThrow(/batch\/lonely/);
    expect(() => toNetworkPoliciesFromRules(g, p)).toThrow(GraphError);
    const forced = toIstioPoliciesFromRules(g, p, { allowEmpty: true });
    expect(forced.warnings.join('\n')).toMatch(/batch\/lonely is in no allow rule/);
  });
});

describe('NetworkPolicy from Ward rules', () => {
  const { graph, policy } = load();
  const result = toNetworkPoliciesFromRules(graph, policy);
  const manifests = result.manifests as Json[];
  const names = manifests.map((m) => m.metadata.name as string);

  it('validates, and admits the callers the enforced allow rules name (not edges)', () => {
    for (const m of manifests) expect(() => new NetworkPolicy(m as never).validate()).not.toThrow();
    for (const caller of ['frontend', 'checkout', 'admin-tool', 'batch-a', 'batch-b', 'reports'])
      expect(l4Admits(manifests, caller, 'orders'), caller).toBe(true);
    expect(l4Admits(manifests, 'orders', 'reports')).toBe(false);
    // One ingress policy per destination, one egress per caller.
    expect(names).toContain('ward-orders-ingress');
    expect(names).toContain('ward-frontend-egress');
    // Soft apply (inventory) and `*` (frontend) admit everyone.
    expect(l4Admits(manifests, 'reports', 'inventory')).toBe(true);
    expect(l4Admits(manifests, 'payments', 'frontend')).toBe(true);
    expect(names).toContain('ward-egress-to-open-services');
    // The enforced deny of frontend on payments has a condition: not expressible at L4.
    expect(l4Admits(manifests, 'frontend', 'payments')).toBe(true);
    expect(result.unexpressed.some((u) => u.rule === 'payments-callers#1')).toBe(true);
    // L7 parts of allows are reported as wider at L4.
    expect(result.unexpressed.find((u) => u.rule === 'orders-callers#0')?.why).toMatch(
      /NetworkPolicy is L4/,
    );
  });

  it('at L4, never narrower than Ward: every caller Ward lets through on some request is admitted', () => {
    let pairs = 0;
    for (const destination of policy.destinations())
      for (const caller of CALLERS) {
        if (caller === undefined) continue;
        let allowed = false;
        for (const [input] of samples(destination))
          if (input.source.service === caller && policy.decide(input).allowed) {
            allowed = true;
            break;
          }
        if (allowed) {
          pairs++;
          expect(l4Admits(manifests, caller, destination), `${caller} → ${destination}`).toBe(true);
        }
      }
    expect(pairs).toBeGreaterThan(10);
  });

  it('an unconditional deny removes the caller', () => {
    const docs = [
      ...files.flatMap(([file, text]) => parseDocuments(text, file).documents),
      ...parseDocuments(
        'apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: no-batch }\nspec:\n  destination: orders\n  rules: [{ sources: [batch-b], action: deny }]\n',
        'deny.yaml',
      ).documents,
    ];
    const p = compile(docs as never, { trustDomain: 'cluster.local' });
    const out = toNetworkPoliciesFromRules(graph, p).manifests as Json[];
    expect(l4Admits(out, 'batch-a', 'orders')).toBe(true);
    expect(l4Admits(out, 'batch-b', 'orders')).toBe(false);
  });

  it('a source glob over n workloads on m destinations gives n + m objects, not 2·n·m', () => {
    const many = Array.from({ length: 30 }, (_, i) => `svc-${i}`);
    const text = many
      .flatMap((n) => [
        `apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: ${n} }\nspec: {}\n`,
        `apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: ${n} }\nspec:\n  destination: ${n}\n  rules: [{ sources: ["svc-*"], action: allow }]\n`,
      ])
      .join('---\n');
    const ingest = new GraphIngest();
    ingest.add('ward', 'many.yaml', text);
    const p = compile(parseDocuments(text, 'many.yaml').documents as never, {
      trustDomain: 'cluster.local',
    });
    const out = toNetworkPoliciesFromRules(ingest.finish().graph, p).manifests;
    expect(out.length).toBe(2 + 30 + 30); // baseline, 30 ingress, 30 egress
  });
});

describe('rules over Kubernetes manifests (the test shop)', () => {
  const shopDir = join(import.meta.dirname, 'fixtures', 'shop-app');
  const intentions = readFileSync(
    join(import.meta.dirname, 'fixtures', 'rule-export-shop', 'intentions.yaml'),
    'utf8',
  );
  const ingest = new GraphIngest();
  ingest.add('kubernetes', 'shop.yaml', readFileSync(join(shopDir, 'shop.yaml'), 'utf8'));
  ingest.add('ward', 'shop-intentions.yaml', intentions);
  const { graph } = ingest.finish();
  const policy = compile(parseDocuments(intentions, 'shop-intentions.yaml').documents as never, {
    trustDomain: 'cluster.local',
  });
  const find = (list: Record<string, unknown>[], ns: string, name: string) =>
    list.find(
      (m) => (m as Json).metadata.namespace === ns && (m as Json).metadata.name === name,
    ) as Json;

  it('Istio: principals from service accounts across namespaces, pod ports, the entry point', () => {
    const { manifests, warnings, unexpressed } = toIstioPoliciesFromRules(graph, policy);
    for (const m of manifests)
      expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
    expect(unexpressed).toEqual([]);
    expect(find(manifests, 'shop', 'ward-allow-checkout').spec.rules).toEqual([
      {
        from: [{ source: { principals: ['cluster.local/ns/web/sa/storefront'] } }],
        to: [{ operation: { methods: ['POST'], paths: ['/checkout/*'], ports: ['5050'] } }],
      },
    ]);
    expect(find(manifests, 'shop', 'ward-allow-cart').spec.rules[0].to).toEqual([
      { operation: { paths: ['/shop.Cart/*'], ports: ['7070'] } },
    ]);
    const storefront = find(manifests, 'web', 'ward-allow-storefront');
    expect(storefront.spec.rules).toEqual([{ to: [{ operation: { ports: ['8080'] } }] }]);
    expect(storefront.metadata.annotations['ward.dev/rules']).toBe('entry-points');
    expect(warnings.join('\n')).toMatch(/share the identity cluster\.local\/ns\/shop\/sa\/default/);
  });

  it('NetworkPolicy: peers by namespace and pod labels, on the pod ports', () => {
    const { manifests } = toNetworkPoliciesFromRules(graph, policy);
    for (const m of manifests) expect(() => new NetworkPolicy(m as never).validate()).not.toThrow();
    expect(find(manifests, 'shop', 'ward-checkout-ingress').spec.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'web' } },
            podSelector: { matchLabels: { app: 'storefront' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 5050 }],
      },
    ]);
    expect(find(manifests, 'web', 'ward-storefront-from-outside')).toBeDefined();
    // A store calls nothing: no egress from postgres, and no rule makes one.
    expect(manifests.some((m) => (m as Json).metadata.name.startsWith('ward-postgres-to-'))).toBe(
      false,
    );
  });
});

describe('request matchers Istio cannot carry (query parameters, case-blind headers)', () => {
  const intentions = `apiVersion: ward.dev/v1
kind: Intention
metadata: { name: inventory-callers }
spec:
  destination: inventory
  rules:
    - sources: [frontend]
      action: allow
      permissions: [{ http: { methods: [GET], query: [{ name: view, exact: full }] } }]
    - sources: [reports]
      action: allow
      permissions: [{ http: { methods: [GET], headers: [{ name: x-tenant, exact: Acme, ignoreCase: true }] } }]
    - sources: [checkout]
      action: deny
      permissions: [{ http: { query: [{ name: debug, present: true }] } }]
    - sources: [checkout]
      action: allow
`;
  const svc = files.find(([f]) => f === 'services.yaml')![1];
  const ingest = new GraphIngest();
  ingest.add('ward', 'services.yaml', svc);
  ingest.add('ward', 'inventory.yaml', intentions);
  const { graph } = ingest.finish();
  const docs = [
    ...parseDocuments(svc, 'services.yaml').documents,
    ...parseDocuments(intentions, 'inventory.yaml').documents,
  ];
  const result = toIstioPoliciesFromRules(
    graph,
    compile(docs as never, { trustDomain: 'cluster.local' }),
    // Only inventory has rules here: the other services of the fixture are not the point.
    { allowEmpty: true },
  );
  const why = (rule: string) =>
    result.unexpressed
      .filter((u) => u.rule === rule)
      .map((u) => u.why)
      .join('\n');
  const rulesOf = (action: string) =>
    (result.manifests as Json[])
      .filter(
        (m) =>
          (m as { metadata: { annotations?: Record<string, string> } }).metadata.annotations?.[
            'istio.io/dry-run'
          ] === undefined && (m as { spec: { action?: string } }).spec.action === action,
      )
      .flatMap((m) => (m as { spec: { rules?: Json[] } }).spec.rules ?? []);

  it('an allow that needs a query parameter is left out, never exported wider', () => {
    expect(why('inventory-callers#0')).toMatch(/cannot match query parameters; .*left out/);
    const text = JSON.stringify(rulesOf('ALLOW'));
    expect(text).not.toContain('/ns/default/sa/frontend');
  });

  it('a case-blind header allow keeps the spelling written (narrower), and says so', () => {
    expect(why('inventory-callers#1')).toMatch(/case-sensitively; the allow matches the spelling/);
    expect(JSON.stringify(rulesOf('ALLOW'))).toContain('"values":["Acme"]');
  });

  it('a deny on a query parameter drops the condition and covers more', () => {
    expect(why('inventory-callers#2')).toMatch(/condition is dropped \(the deny covers more\)/);
    expect(JSON.stringify(rulesOf('DENY'))).toContain('/ns/default/sa/checkout');
  });

  it('every object still validates against Istio’s CRD schema', () => {
    for (const m of result.manifests as Json[])
      expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
  });
});

describe('namespaced sources (service keys, ns/*, sources in other namespaces)', () => {
  // team-a owns payments and ledger; team-b has its own payments; odd lives in team-c but its
  // SPIFFE ID names team-a (Istio reads the namespace from the principal, Ward from the key).
  const services = `apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-a }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: ledger, namespace: team-a }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-b }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: evil, namespace: team-b }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: pay-batch, namespace: team-b }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: odd, namespace: team-c }
spec: { spiffeId: "spiffe://cluster.local/ns/team-a/sa/odd" }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: frontend }
spec: {}
`;
  const intentions = `apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-a }
spec:
  destination: payments
  rules:
    - sources: [ledger]
      action: allow
    - sources: ["team-b/*"]
      action: allow
      permissions: [{ http: { methods: [GET] } }]
    - sources: [team-b/evil]
      action: deny
    - sources: [default/frontend]
      action: allow
    - sources: ["team-b/pay-*"]
      action: allow
      permissions: [{ http: { methods: [POST] } }]
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: ledger, namespace: team-a }
spec:
  destination: ledger
  rules:
    - sources: ["team-a/*"]
      action: allow
    - sources: ["team-c/*"]
      action: deny
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-b }
spec:
  destination: payments
  rules:
    - sources: [team-a/payments, evil]
      action: allow
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: frontend }
spec:
  destination: frontend
  rules:
    - sources: ["*"]
      action: allow
`;
  const ingest = new GraphIngest();
  ingest.add('ward', 'services.yaml', services);
  const { graph } = ingest.finish();
  const docs = [
    ...parseDocuments(services, 'services.yaml').documents,
    ...parseDocuments(intentions, 'intentions.yaml').documents,
  ];
  const policy = compile(docs as never, { trustDomain: 'cluster.local' });
  const istio = toIstioPoliciesFromRules(graph, policy);
  const manifests = istio.manifests as Json[];
  // Every service, plus callers no Service document declares (their key by the convention).
  const callers: [string, string][] = [
    ...[...policy.services.values()].map((s) => [s.name, s.spiffeId] as [string, string]),
    ['team-a/ghost', 'spiffe://cluster.local/ns/team-a/sa/ghost'],
    ['team-b/ghost', 'spiffe://cluster.local/ns/team-b/sa/ghost'],
    ['ghost', 'spiffe://cluster.local/ns/default/sa/ghost'],
  ];
  function* requests(destination: string): Generator<[DecisionInput, IstioRequest]> {
    for (const [service, spiffeId] of callers)
      for (const method of ['GET', 'POST'])
        yield [
          { destination, source: { service, spiffeId }, request: { method, path: '/x' } },
          {
            principal: spiffeId.slice('spiffe://'.length),
            method,
            path: '/x',
            headers: {},
            port: 8080,
          },
        ];
  }
  const find = (ns: string, name: string) =>
    manifests.find((m) => m.metadata.namespace === ns && m.metadata.name === name)!;

  it('policies live in the destination namespace, named by the plain name, and validate', () => {
    for (const m of manifests)
      expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
    const allow = find('team-a', 'ward-allow-payments');
    expect(allow.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'payments' } });
    // Sources resolve in the intention's namespace, and each keeps its own namespace.
    expect(allow.spec.rules[0].from).toEqual([
      { source: { principals: ['cluster.local/ns/team-a/sa/ledger'] } },
    ]);
    expect(allow.spec.rules[1].from).toEqual([{ source: { namespaces: ['team-b'] } }]);
    expect(allow.spec.rules[2].from).toEqual([
      { source: { principals: ['cluster.local/ns/default/sa/frontend'] } },
    ]);
    expect(find('team-a', 'ward-deny-payments').spec.rules[0].from).toEqual([
      { source: { principals: ['cluster.local/ns/team-b/sa/evil'] } },
    ]);
    // team-b's payments is another workload, in its own namespace.
    expect(find('team-b', 'ward-allow-payments').spec.rules[0].from).toEqual([
      {
        source: {
          principals: ['cluster.local/ns/team-a/sa/payments', 'cluster.local/ns/team-b/sa/evil'],
        },
      },
    ]);
    // team-a/*: odd's principal names team-a but its key is team-c/odd, so it is excepted.
    expect(find('team-a', 'ward-allow-ledger').spec.rules[0].from).toEqual([
      { source: { namespaces: ['team-a'], notPrincipals: ['cluster.local/ns/team-a/sa/odd'] } },
    ]);
    // A deny of team-c/* covers odd by its principal too (never narrower than Ward).
    expect(find('team-a', 'ward-deny-ledger').spec.rules[0].from).toEqual([
      { source: { principals: ['cluster.local/ns/team-a/sa/odd'] } },
      { source: { namespaces: ['team-c'] } },
    ]);
    expect(manifests.map((m) => `${m.metadata.namespace}/${m.metadata.name}`)).not.toContain(
      'default/ward-allow-payments',
    );
  });

  it('rule by rule and per destination, Istio matches what Ward matches (in the reported direction)', () => {
    const reported = new Set(istio.unexpressed.map((u) => u.rule));
    expect([...reported].sort()).toEqual(['team-a/payments#4']);
    let compared = 0;
    for (const destination of policy.destinations()) {
      const rules = policy.rules(destination);
      for (const [input, req] of requests(destination)) {
        const explanation = policy.explain(input);
        for (const r of rules) {
          const id = `${r.ref.policy}#${r.ref.index}`;
          const ward = explanation.considered.find(
            (e) => e.rule.policy === r.ref.policy && e.rule.index === r.ref.index,
          )!.matched;
          const got = exportedRuleMatches(manifests, destination, id, req);
          const at = `${id} ${input.source.service} ${req.method}`;
          if (!reported.has(id)) expect(got, at).toBe(ward);
          else if (r.ref.action === 'allow') expect(got && !ward, at).toBe(false);
          else expect(ward && !got, at).toBe(false);
          compared++;
        }
        const wardAllowed = explanation.decision.allowed;
        const istioAllowed = istioAllows(manifests, destination, req);
        const at = `${destination} ${input.source.service} ${req.method}`;
        if (istioAllowed) expect(wardAllowed, at).toBe(true);
        if (!rules.some((r) => reported.has(`${r.ref.policy}#${r.ref.index}`)))
          expect(istioAllowed, at).toBe(wardAllowed);
      }
    }
    expect(compared).toBe(9 * 10 * 2); // 9 rules × 10 callers × 2 methods
  });

  it('an attacker in team-b reaches team-a/payments only as the rules say', () => {
    const req = (sa: string, method: string): IstioRequest => ({
      principal: `cluster.local/ns/team-b/sa/${sa}`,
      method,
      path: '/x',
      headers: {},
      port: 8080,
    });
    expect(istioAllows(manifests, 'team-a/payments', req('payments', 'GET'))).toBe(true);
    expect(istioAllows(manifests, 'team-a/payments', req('payments', 'POST'))).toBe(false);
    expect(istioAllows(manifests, 'team-a/payments', req('evil', 'GET'))).toBe(false);
    expect(istioAllows(manifests, 'team-a/ledger', req('payments', 'GET'))).toBe(false);
  });

  it('NetworkPolicy: ns/* is a namespaceSelector alone, other namespaces add the pod, egress at the caller', () => {
    const { manifests: np, warnings } = toNetworkPoliciesFromRules(graph, policy);
    for (const m of np) expect(() => new NetworkPolicy(m as never).validate()).not.toThrow();
    const ingress = (np as Json[]).find(
      (m) => m.metadata.namespace === 'team-a' && m.metadata.name === 'ward-payments-ingress',
    )!;
    // (team-b/pay-batch, matched by a glob, is covered by team-b/* and gets no peer of its own.)
    expect(ingress.spec.ingress[0].from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'frontend' } },
      },
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ledger' } },
      },
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-b' } } },
    ]);
    // Egress for a namespace's pods lives in that namespace.
    const nsEgress = (np as Json[]).find(
      (m) => m.metadata.namespace === 'team-b' && m.metadata.name === 'ward-namespace-egress',
    )!;
    expect(nsEgress.spec.podSelector).toEqual({});
    expect(nsEgress.spec.egress[0].to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'payments' } },
      },
    ]);
    expect(
      (np as Json[]).find(
        (m) => m.metadata.namespace === 'team-a' && m.metadata.name === 'ward-payments-egress',
      )!.spec.egress[0].to[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    ).toBe('team-b');
    expect(warnings.join('\n')).not.toMatch(/undefined/);
    // At L4, never narrower than Ward; and team-c (only denied) does not reach the ledger.
    for (const destination of policy.destinations())
      for (const [service] of callers) {
        if (!policy.services.has(service) || service === destination) continue;
        const allowed = [...requests(destination)].some(
          ([input]) => input.source.service === service && policy.decide(input).allowed,
        );
        if (allowed) expect(l4Admits(np as Json[], service, destination), service).toBe(true);
      }
    expect(l4Admits(np as Json[], 'team-c/odd', 'team-a/ledger')).toBe(false);
    expect(l4Admits(np as Json[], 'team-b/payments', 'team-a/ledger')).toBe(false);
  });
});
