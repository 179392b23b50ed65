import { blastRadius, type DependencyGraph, GraphBuilder } from '@ward/graph';
import { describe, expect, it } from 'vitest';
import { exposureOf } from '../src/index.ts';

/**
 * internet (external) → webhooks → orders → payments → postgres (database)
 * gw (role=gateway) → storefront → orders
 * web (Ingress) → catalog
 * cron (no callers) → reports → postgres
 * island (only calls itself); a ⇄ b (a cycle nothing outside reaches)
 */
function shop(): DependencyGraph {
  const g = new GraphBuilder();
  const src = { type: 'compose' as const, file: 'compose.yaml', line: 1 };
  g.service('internet', { type: 'external', virtual: true });
  g.service('gw', { labels: { role: 'gateway' } });
  g.service('web', {
    entryPoints: [{ via: 'Ingress shop/web', file: 'k8s/web.yaml', line: 3 }],
  });
  g.service('postgres', { type: 'database', typedFrom: 'image postgres:16' });
  for (const s of [
    'webhooks',
    'storefront',
    'orders',
    'payments',
    'catalog',
    'cron',
    'reports',
    'island',
    'a',
    'b',
  ])
    g.service(s);
  const edges: [string, string][] = [
    ['internet', 'webhooks'],
    ['webhooks', 'orders'],
    ['gw', 'storefront'],
    ['storefront', 'orders'],
    ['orders', 'payments'],
    ['payments', 'postgres'],
    ['web', 'catalog'],
    ['cron', 'reports'],
    ['reports', 'postgres'],
    ['island', 'island'],
    ['a', 'b'],
    ['b', 'a'],
  ];
  for (const [from, to] of edges) g.declare(from, to, 'runtime', src);
  return g.build();
}

describe('exposureOf', () => {
  const graph = shop();

  it('finds entry points: ingress, gateway label, called from outside, no caller in the mesh', () => {
    for (const s of ['web', 'gw', 'webhooks', 'cron', 'island'])
      expect(exposureOf(graph, s), s).toMatchObject({ entryPoint: true, hopsFromEntry: 0 });
    // Not entry points: a database nothing outside calls, the external node itself, a cycle.
    for (const s of ['postgres', 'internet', 'a', 'b', 'orders'])
      expect(exposureOf(graph, s)!.entryPoint, s).toBe(false);
  });

  it('counts the fewest hops from any entry point, null when none reaches it', () => {
    expect(exposureOf(graph, 'storefront')!.hopsFromEntry).toBe(1);
    expect(exposureOf(graph, 'orders')!.hopsFromEntry).toBe(1); // webhooks → orders
    expect(exposureOf(graph, 'payments')!.hopsFromEntry).toBe(2);
    expect(exposureOf(graph, 'postgres')!.hopsFromEntry).toBe(2); // cron → reports → postgres
    expect(exposureOf(graph, 'a')!.hopsFromEntry).toBeNull();
    expect(exposureOf(graph, 'b')!.hopsFromEntry).toBeNull();
  });

  it('takes the blast radius from @ward/graph: dependents, transitively', () => {
    // orders is depended on by webhooks, storefront, and through them internet and gw.
    expect(exposureOf(graph, 'orders')!.blastRadius).toBe(4);
    expect(exposureOf(graph, 'postgres')!.blastRadius).toBe(
      blastRadius(graph, 'postgres')!.transitive.length,
    );
    expect(blastRadius(graph, 'postgres')!.transitive).toEqual(
      ['cron', 'gw', 'internet', 'orders', 'payments', 'reports', 'storefront', 'webhooks'].sort(),
    );
    expect(exposureOf(graph, 'island')!.blastRadius).toBe(0);
    expect(exposureOf(graph, 'a')!.blastRadius).toBe(1);
  });

  it('returns undefined for a service the graph does not have', () => {
    expect(exposureOf(graph, 'ghost')).toBeUndefined();
  });
});
