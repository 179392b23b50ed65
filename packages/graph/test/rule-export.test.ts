/**
 * Exports from Ward's rules (issue 14, item 5): every Istio object validates against Istio's CRD
 * schema, and each Ward rule of the conformance fixtures (fixtures/rule-export) is compared, on
 * sample requests, with the Istio rules exported from it — evaluated by a small model of
 * AuthorizationPolicy semantics written here (principals, methods, paths with Istio's
 * exact/prefix/suffix matching, ports, `when` on request headers; DENY before ALLOW; deny when an
 * ALLOW policy selects the workload and none matches). Rules not in the report match exactly the
 * same requests; reported allows match no more than Ward's, reported denies no fewer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import {
  compile,
  compileGlob,
  type DecisionInput,
  type IntentionRule,
  parseDocuments,
  tryCompile,
} from '@ward/policy';
import fc from 'fast-check';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import {
  GraphError,
  GraphIngest,
  toIstioPoliciesFromRules,
  toNetworkPoliciesFromRules,
} from '../src/index.ts';
import { istioMatches, istioPath, istioString, widen } from '../src/writers/istio-match.ts';

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

// biome-ignore lint/suspicious/noExplicitAny: manifests are read as loose JSON in this evaluator
type Json = Record<string, any>;

interface IstioRequest {
  principal?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  port: number;
}

/** Istio's rule semantics: any `from`, any `to`, every `when`; absent parts match all. */
function ruleMatches(rule: Json, req: IstioRequest): boolean {
  const from = (rule.from as Json[] | undefined)?.some((f) =>
    (f.source.principals as string[]).some(
      (p) => req.principal !== undefined && istioMatches(p, req.principal),
    ),
  );
  if (from === false) return false;
  const to = (rule.to as Json[] | undefined)?.some(({ operation: op }) => {
    if (op.methods && !op.methods.includes(req.method)) return false;
    if (op.paths && !op.paths.some((p: string) => istioMatches(p, req.path))) return false;
    if (op.notPaths?.some((p: string) => istioMatches(p, req.path))) return false;
    if (op.ports && !op.ports.includes(String(req.port))) return false;
    return true;
  });
  if (to === false) return false;
  return ((rule.when as Json[] | undefined) ?? []).every((c) => {
    const name = /^request\.headers\[(.+)\]$/.exec(c.key)![1]!;
    const value = req.headers[name];
    return value !== undefined && (c.values as string[]).some((v) => istioMatches(v, value));
  });
}

const policyMatches = (p: Json, req: IstioRequest) =>
  ((p.spec.rules as Json[] | undefined) ?? []).some((r) => ruleMatches(r, req));

function selects(p: Json, workload: string): boolean {
  const labels: Record<string, string> = { 'app.kubernetes.io/name': workload };
  const want = p.spec.selector?.matchLabels ?? {};
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** Istio's decision for a workload from its enforced (not dry-run) policies. */
function istioAllows(manifests: Json[], workload: string, req: IstioRequest): boolean {
  const mine = manifests.filter(
    (m) => selects(m, workload) && m.metadata.annotations?.['istio.io/dry-run'] !== 'true',
  );
  if (mine.some((m) => m.spec.action === 'DENY' && policyMatches(m, req))) return false;
  const allows = mine.filter((m) => (m.spec.action ?? 'ALLOW') === 'ALLOW');
  return allows.length === 0 || allows.some((m) => policyMatches(m, req));
}

/** Whether any Istio rule exported from Ward rule `id` matches. */
function exportedRuleMatches(manifests: Json[], workload: string, id: string, req: IstioRequest) {
  return manifests.some((m) => {
    if (!selects(m, workload) || !m.metadata.annotations?.['ward.dev/rules']) return false;
    const from = (m.metadata.annotations['ward.dev/rules'] as string).split(',');
    return (m.spec.rules as Json[]).some((r, i) => from[i] === id && ruleMatches(r, req));
  });
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

/**
 * Whether the NetworkPolicies let `caller` reach `dest` (both selected by
 * `app.kubernetes.io/name`): an ingress rule at dest with no `from` or a peer selecting caller,
 * and an egress rule at caller (its own or a namespace-wide one) to dest.
 */
function l4Admits(manifests: Json[], caller: string, dest: string): boolean {
  const name = (sel: Json | undefined) => sel?.matchLabels?.['app.kubernetes.io/name'];
  const ingress = manifests.some(
    (m) =>
      name(m.spec.podSelector) === dest &&
      (m.spec.ingress as Json[] | undefined)?.some(
        (r) => !r.from || (r.from as Json[]).some((p) => name(p.podSelector) === caller),
      ),
  );
  const egress = manifests.some(
    (m) =>
      (name(m.spec.podSelector) === caller || Object.keys(m.spec.podSelector).length === 0) &&
      (m.spec.egress as Json[] | undefined)?.some((r) =>
        (r.to as Json[]).some((p) => name(p.podSelector) === dest),
      ),
  );
  return ingress && egress;
}

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

describe('property: arbitrary rules, exported, match what Ward matches in the reported direction', () => {
  const names = ['alpha', 'beta', 'gamma'];
  const glob = fc.stringMatching(/^\/[ab/*]{0,5}$/);
  const str = fc.oneof(
    glob.map((g) => ({ glob: g })),
    fc.stringMatching(/^\/[ab/]{0,4}$/).map((e) => ({ exact: e })),
    fc.stringMatching(/^\/[ab/]{0,3}$/).map((p) => ({ prefix: p })),
  );
  const header = fc.oneof(
    fc.constantFrom({ name: 'x-h', present: true }, { name: 'x-h', present: false }),
    fc.stringMatching(/^[ab*]{1,3}$/).map((v) => ({ name: 'x-h', glob: v })),
    fc.stringMatching(/^[ab]{0,2}$/).map((v) => ({ name: 'x-h', exact: v })),
    fc.stringMatching(/^[ab]{1,2}$/).map((v) => ({ name: 'x-h', prefix: v })),
  );
  const http = fc.record(
    {
      methods: fc.subarray(['GET', 'HEAD', 'POST'], { minLength: 1 }),
      paths: fc.array(str, { minLength: 1, maxLength: 3 }),
      headers: fc.array(header, { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: [] },
  );
  const rule: fc.Arbitrary<IntentionRule> = fc.record(
    {
      sources: fc.array(
        fc.constantFrom(
          ...names,
          '*',
          'al*',
          'spiffe://cluster.local/ns/default/sa/*',
          'spiffe://cluster.local/ns/default/sa/b*',
          'spiffe://cluster.local/ns/default/sa/alpha',
        ),
        { minLength: 1, maxLength: 2 },
      ),
      action: fc.constantFrom('allow', 'deny') as fc.Arbitrary<'allow' | 'deny'>,
      permissions: fc.array(
        fc.oneof(
          { weight: 4, arbitrary: http.map((h) => ({ http: h })) },
          {
            weight: 1,
            arbitrary: fc.constantFrom('svc.A', '*').map((service) => ({ grpc: { service } })),
          },
        ),
        { minLength: 1, maxLength: 2 },
      ),
      when: fc.constant('request.method != "PUT"'),
    },
    { requiredKeys: ['sources', 'action'] },
  );
  // Every request path over the alphabet up to four characters, and the gRPC one.
  const paths = ['/'];
  for (let i = 0; i < paths.length && paths.length < 121; i++)
    if (paths[i]!.length < 4) for (const c of ['a', 'b', '/']) paths.push(paths[i]! + c);
  paths.push('/svc.A/M');

  it('holds for 100 random intentions', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 3 }), fc.boolean(), (rules, dry) => {
        const docs = [
          ...names.map((n) => ({
            apiVersion: 'ward.dev/v1',
            kind: 'Service',
            metadata: { name: n },
            spec: {},
          })),
          {
            apiVersion: 'ward.dev/v1',
            kind: 'Intention',
            metadata: { name: 'p' },
            spec: { destination: 'alpha', ...(dry ? { mode: 'dry-run' } : {}), rules },
          },
        ];
        const { policySet } = tryCompile(docs as never, { trustDomain: 'cluster.local' });
        fc.pre(policySet !== undefined);
        const ingest = new GraphIngest();
        ingest.add(
          'ward',
          's.yaml',
          docs
            .slice(0, 3)
            .map((d) => JSON.stringify(d))
            .join('\n---\n'),
        );
        const { graph } = ingest.finish();
        const out = toIstioPoliciesFromRules(graph, policySet!, { allowEmpty: true });
        for (const m of out.manifests)
          expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
        const reported = new Set(out.unexpressed.map((u) => u.rule));
        const manifests = out.manifests as Json[];
        // `alfa` has no Service document: a service added after the export.
        for (const caller of [...names, 'alfa', undefined])
          for (const method of ['GET', 'HEAD', 'POST'])
            for (const path of paths)
              for (const headers of [{}, { 'x-h': 'ab' }, { 'x-h': 'b' }] as Record<
                string,
                string
              >[]) {
                const spiffeId = caller && `spiffe://cluster.local/ns/default/sa/${caller}`;
                const grpc = path === '/svc.A/M' ? { grpc: { service: 'svc.A', method: 'M' } } : {};
                const input: DecisionInput = {
                  destination: 'alpha',
                  source: caller ? { service: caller, spiffeId } : {},
                  request: { method: method === 'HEAD' ? 'GET' : method, path, headers, ...grpc },
                };
                const req: IstioRequest = {
                  principal: spiffeId?.slice('spiffe://'.length),
                  method,
                  path,
                  headers,
                  port: 8080,
                };
                const ex = policySet!.explain(input);
                for (const e of ex.considered) {
                  const id = `${e.rule.policy}#${e.rule.index}`;
                  const istio = exportedRuleMatches(manifests, 'alpha', id, req);
                  const at = `${id} ${JSON.stringify(rules[e.rule.index])} ${caller} ${method} ${path} ${JSON.stringify(headers)}`;
                  if (!reported.has(id)) expect(istio, at).toBe(e.matched);
                  else if (e.rule.action === 'allow') expect(istio && !e.matched, at).toBe(false);
                  else expect(e.matched && !istio, at).toBe(false);
                }
                const istioAllowed = istioAllows(manifests, 'alpha', req);
                if (istioAllowed) expect(ex.decision.allowed, JSON.stringify(req)).toBe(true);
              }
      }),
      { numRuns: 100 },
    );
  });
});

describe('Ward string matches in Istio syntax', () => {
  const text = fc.stringMatching(/^[/ab*]{1,8}$/);
  const value = fc.stringMatching(/^[/ab]{0,8}$/);
  it('istioString matches exactly what Ward matches; widen at least that', () => {
    fc.assert(
      fc.property(text, value, fc.constantFrom('exact', 'prefix', 'glob'), (t, v, kind) => {
        if (kind === 'glob' && /\*{3,}/.test(t)) return;
        const m = { [kind]: t };
        const ward =
          kind === 'exact' ? v === t : kind === 'prefix' ? v.startsWith(t) : compileGlob(t).test(v);
        const exact = istioString(m);
        if (exact !== undefined) expect(istioMatches(exact, v)).toBe(ward);
        const wide = widen(m);
        if (ward && wide !== undefined) expect(istioMatches(wide, v)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
  it('istioPath matches exactly what Ward matches on paths (which start with /)', () => {
    fc.assert(
      fc.property(text, value, (t, v) => {
        const glob = `/${t}`;
        if (/\*{3,}/.test(glob)) return;
        const path = `/${v}`;
        const m = istioPath({ glob });
        if (m === undefined) return;
        const istio =
          m.paths.some((p) => istioMatches(p, path)) &&
          !(m.notPaths ?? []).some((p) => istioMatches(p, path));
        expect(istio).toBe(compileGlob(glob).test(path));
      }),
      { numRuns: 5000 },
    );
  });
});
