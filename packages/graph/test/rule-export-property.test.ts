/**
 * Property tests of the rule-based Istio export (issue 14): random intentions — sources by name,
 * name glob, SPIFFE glob and `*`, and in another namespace (`ns-b/beta`, `ns-b/*`, `ns-b/b*`); methods, path and header matches, gRPC, `when`; either action,
 * either mode — are exported, every object is checked against Istio's CRD schema, and each Ward
 * rule is compared on a grid of requests with the Istio rules exported from it (equal when not
 * reported; no wider for a reported allow, no narrower for a reported deny). The string
 * translation is checked against Ward's own glob matcher.
 */
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { compileGlob, type DecisionInput, type IntentionRule, tryCompile } from '@ward/policy';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphIngest, toIstioPoliciesFromRules } from '../src/index.ts';
import { istioMatches, istioPath, istioString, widen } from '../src/writers/istio-match.ts';
import { exportedRuleMatches, type IstioRequest, istioAllows, type Json } from './_istio-model.ts';

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
          'ns-b/beta',
          'ns-b/*',
          'ns-b/b*',
          'default/*',
          'spiffe://cluster.local/ns/ns-b/sa/*',
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
          // A second `beta`, in namespace ns-b: another service, key `ns-b/beta`.
          {
            apiVersion: 'ward.dev/v1',
            kind: 'Service',
            metadata: { name: 'beta', namespace: 'ns-b' },
            spec: {},
          },
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
            .filter((d) => d.kind === 'Service')
            .map((d) => JSON.stringify(d))
            .join('\n---\n'),
        );
        const { graph } = ingest.finish();
        const out = toIstioPoliciesFromRules(graph, policySet!, { allowEmpty: true });
        for (const m of out.manifests)
          expect(() => new AuthorizationPolicy(m as never).validate()).not.toThrow();
        const reported = new Set(out.unexpressed.map((u) => u.rule));
        const manifests = out.manifests as Json[];
        // `alfa` and `ns-b/alfa` have no Service document: services added after the export.
        for (const caller of [...names, 'ns-b/beta', 'alfa', 'ns-b/alfa', undefined])
          for (const method of ['GET', 'HEAD', 'POST'])
            for (const path of paths)
              for (const headers of [{}, { 'x-h': 'ab' }, { 'x-h': 'b' }] as Record<
                string,
                string
              >[]) {
                const [ns, sa] = caller?.includes('/') ? caller.split('/') : ['default', caller];
                const spiffeId = caller && `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
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
