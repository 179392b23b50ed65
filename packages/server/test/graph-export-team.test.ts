/**
 * What a team token sees of `GET /v1/graph/export` (teamView): the policies selecting its
 * services by key — namespace and name — never a same-named service of another namespace, the
 * report of its rules and the warnings naming it. Real exports of a compiled namespaced policy.
 */
import { GraphIngest, toIstioPoliciesFromRules, toNetworkPoliciesFromRules } from '@ward/graph';
import { compile, parseDocuments } from '@ward/policy';
import { describe, expect, it } from 'vitest';
import { teamView } from '../src/ingest/export-routes.ts';

const text = `apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-a }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-b }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments }
spec: {}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-a }
spec:
  destination: payments
  rules:
    - { sources: ["team-b/*"], action: allow, when: 'request.method == "GET"' }
    - { sources: [payments], action: allow }
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments, namespace: team-b }
spec:
  destination: payments
  rules: [{ sources: [team-a/payments, default/payments], action: allow }]
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: payments }
spec:
  destination: payments
  rules: [{ sources: [team-a/payments], action: allow }]
`;

// biome-ignore lint/suspicious/noExplicitAny: manifests read as loose JSON
type Json = Record<string, any>;

describe('teamView: a team sees its own services’ policies, by key', () => {
  const policy = compile(parseDocuments(text, 'ns.yaml').documents as never, {
    trustDomain: 'ward.local',
  });
  const ingest = new GraphIngest();
  ingest.add('ward', 'ns.yaml', text);
  const { graph } = ingest.finish();
  const where = (list: Record<string, unknown>[]) =>
    list.map((m) => `${(m as Json).metadata.namespace}/${(m as Json).metadata.name}`).sort();

  for (const [target, run] of [
    ['istio', toIstioPoliciesFromRules],
    ['networkpolicy', toNetworkPoliciesFromRules],
  ] as const) {
    const body = { target, ...run(graph, policy, { trustDomain: 'ward.local' }) };

    it(`${target}: team-a/payments sees team-a's policies only`, () => {
      const view = teamView(body, policy, new Set(['team-a/payments']));
      expect(view.manifests.length).toBeGreaterThan(0);
      for (const m of view.manifests) expect((m as Json).metadata.namespace).toBe('team-a');
      expect(view.unexpressed.every((u) => u.rule.startsWith('team-a/payments#'))).toBe(true);
      expect(view.warnings.every((w) => w.startsWith('team-a/payments'))).toBe(true);
    });

    it(`${target}: the default namespace's payments does not see team-a's or team-b's`, () => {
      const view = teamView(body, policy, new Set(['payments']));
      expect(view.manifests.length).toBeGreaterThan(0);
      for (const m of view.manifests) expect((m as Json).metadata.namespace).toBe('default');
      expect(view.unexpressed).toEqual([]);
    });

    it(`${target}: team-b sees neither of the others`, () => {
      const view = teamView(body, policy, new Set(['team-b/payments']));
      expect(where(view.manifests).every((n) => n.startsWith('team-b/'))).toBe(true);
    });
  }

  it('istio: a bare source in a team-a intention is team-a’s service, by its own principal', () => {
    const body = { target: 'istio', ...toIstioPoliciesFromRules(graph, policy, {}) };
    const view = teamView(body, policy, new Set(['team-a/payments']));
    const allow = view.manifests.find(
      (m) => (m as Json).metadata.name === 'ward-allow-payments',
    ) as Json;
    // rule 0 has a condition Istio cannot evaluate: left out (reported); rule 1's `payments`
    // is team-a/payments (the graph's Service nodes carry the reader's default trust domain).
    expect(allow.spec.rules).toEqual([
      { from: [{ source: { principals: ['cluster.local/ns/team-a/sa/payments'] } }] },
    ]);
    expect(view.unexpressed.map((u) => u.rule)).toEqual(['team-a/payments#0']);
  });
});
