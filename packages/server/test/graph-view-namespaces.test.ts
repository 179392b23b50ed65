/**
 * Namespaces in the graph view (graphView, pure): a service's node id is its key and its
 * namespace comes from the key; peers that are not services (a database named
 * `postgresql/orders`, a topic `kafka/orders`) have no namespace unless a reader learnt one.
 */
import { analyze, GraphIngest } from '@ward/graph';
import { describe, expect, it } from 'vitest';
import { graphView, viewNamespace } from '../src/ingest/graph-view.ts';

describe('graph view namespaces', () => {
  it('gives each node the namespace of its key', () => {
    const ingest = new GraphIngest();
    ingest.add(
      'ward',
      'ns.yaml',
      `apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-a }
spec: { dependencies: [{ service: ledger, kind: runtime }, { service: default/audit, kind: runtime }] }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: payments, namespace: team-b }
spec: {}
`,
    );
    const { graph } = ingest.finish();
    const view = graphView(
      { graph, decisions: [], traces: [], wire: [] },
      analyze(graph),
      () => [],
      { services: 100, edges: 100 },
    );
    expect(view.nodes.map((n) => [n.id, n.namespace])).toEqual(
      expect.arrayContaining([
        ['team-a/payments', 'team-a'],
        ['team-b/payments', 'team-b'],
        ['team-a/ledger', 'team-a'],
        ['audit', 'default'],
      ]),
    );
    expect(view.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual([
      'team-a/payments>audit',
      'team-a/payments>team-a/ledger',
    ]);
  });

  it('a peer that is not a service has no namespace from its name', () => {
    const peer = { type: 'database' as const, virtual: true };
    expect(viewNamespace({ ...peer, name: 'postgresql/orders' })).toBeNull();
    expect(viewNamespace({ ...peer, name: 'shop/postgres', namespace: 'shop' })).toBe('shop');
    expect(viewNamespace({ name: 'kafka/orders', type: 'messaging', virtual: true })).toBeNull();
    expect(viewNamespace({ name: 'team-a/x', type: 'service', virtual: true })).toBe('team-a');
    expect(viewNamespace({ name: 'web', type: 'service', virtual: false })).toBe('default');
  });
});
