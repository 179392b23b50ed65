/**
 * The Graph view's pure parts: the layout (boot waves as columns, callees left of their callers
 * within a wave, one spot per service, cycle members together), the filters and the blast
 * radius, checked on random graphs against direct definitions.
 */

import type {
  EdgeStateV1 as EdgeState,
  GraphViewV1 as GraphView,
  GraphViewEdgeV1 as ViewEdge,
} from '@ward/api-types/console';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layout } from '../web/src/graph/layout.ts';
import {
  ALL_STATES,
  blastRadius,
  edgeKey,
  search,
  selectionOf,
  visible,
} from '../web/src/graph/model.ts';

const STATES: EdgeState[] = ['declared', 'observed', 'approved', 'dry-run-denied', 'denied'];

const edge = (from: string, to: string, states: EdgeState[] = ['declared']): ViewEdge => ({
  from,
  to,
  states,
  startup: false,
  calls: 0,
  errors: 0,
  denied: 0,
  dryRunDenied: 0,
  firstSeen: null,
  lastSeen: null,
  rule: null,
  protocol: null,
  ports: [],
  mtls: null,
});

/** A random view: n services in waves 0..2 (some blocked), random edges with random states. */
const views = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.record({
      waves: fc.array(fc.option(fc.integer({ min: 0, max: 2 })), { minLength: n, maxLength: n }),
      edges: fc.uniqueArray(
        fc.tuple(
          fc.nat({ max: n - 1 }),
          fc.nat({ max: n - 1 }),
          fc.subarray(STATES, { minLength: 1 }),
        ),
        { selector: ([a, b]) => `${a}>${b}`, maxLength: n * 3 },
      ),
    }),
  )
  .map(
    ({ waves, edges }): GraphView => ({
      nodes: waves.map((w, i) => ({
        id: `s${i}`,
        name: `s${i}`,
        namespace: `ns${i % 2}`,
        team: i % 3 === 0 ? 'team-a' : null,
        wave: w,
        inCycle: false,
        kind: 'service',
        virtual: false,
      })),
      edges: edges.filter(([a, b]) => a !== b).map(([a, b, s]) => edge(`s${a}`, `s${b}`, s)),
      cycles: [],
      components: [],
      waves: [],
      truncated: false,
      totals: { services: waves.length, edges: edges.length },
    }),
  );

/** Everything reachable from `id` along `adj` (id excluded), the slow obvious way. */
function reach(view: GraphView, id: string, forward: boolean): string[] {
  const seen = new Set([id]);
  let changed = true;
  while (changed) {
    changed = false;
    for (const e of view.edges) {
      const [a, b] = forward ? [e.from, e.to] : [e.to, e.from];
      if (seen.has(a) && !seen.has(b)) {
        seen.add(b);
        changed = true;
      }
    }
  }
  seen.delete(id);
  return [...seen].sort();
}

describe('graph layout', () => {
  it('gives every service its own spot, waves in column order, callees left within a wave', () => {
    fc.assert(
      fc.property(views, (view) => {
        const pos = layout(view);
        expect(pos.size).toBe(view.nodes.length);
        const spots = new Set([...pos.values()].map((p) => `${p.x},${p.y}`));
        expect(spots.size).toBe(view.nodes.length);
        const wave = new Map(view.nodes.map((n) => [n.id, n.wave ?? 99]));
        for (const a of view.nodes)
          for (const b of view.nodes)
            if (wave.get(a.id)! < wave.get(b.id)!)
              expect(pos.get(a.id)!.x).toBeLessThan(pos.get(b.id)!.x);
        for (const e of view.edges) {
          if (wave.get(e.from) !== wave.get(e.to)) continue;
          // Same wave: the caller is right of its callee, or they share a column (a cycle).
          const back = reach(view, e.to, true).includes(e.from);
          if (back) expect(pos.get(e.from)!.x).toBe(pos.get(e.to)!.x);
          else expect(pos.get(e.from)!.x).toBeGreaterThan(pos.get(e.to)!.x);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('lays out 1,000 services and 10,000 edges', () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => `s${i}`);
    const edges: ViewEdge[] = [];
    for (let i = 0; edges.length < 10_000; i++) {
      const a = (i * 7919) % 1000;
      const b = (a + 1 + ((i * 104729) % 300)) % 1000;
      if (a !== b) edges.push(edge(nodes[a]!, nodes[b]!));
    }
    const unique = [...new Map(edges.map((e) => [edgeKey(e), e])).values()];
    const view: GraphView = {
      nodes: nodes.map((id, i) => ({
        id,
        name: id,
        namespace: null,
        team: null,
        wave: i % 5,
        inCycle: false,
        kind: 'service',
        virtual: false,
      })),
      edges: unique,
      cycles: [],
      components: [],
      waves: [],
      truncated: false,
      totals: { services: 1000, edges: unique.length },
    };
    expect(layout(view).size).toBe(1000);
  });
});

describe('graph filters and blast radius', () => {
  it('blast radius is exactly what transitively depends on a service and what it depends on', () => {
    fc.assert(
      fc.property(views, fc.nat(), (view, pick) => {
        const id = view.nodes[pick % view.nodes.length]!.id;
        const r = blastRadius(view, id);
        expect(r.dependents).toEqual(reach(view, id, false));
        expect(r.dependencies).toEqual(reach(view, id, true));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps services of the namespace and team, and edges with a wanted state between them', () => {
    fc.assert(
      fc.property(views, fc.subarray(STATES), (view, wanted) => {
        const f = { namespace: 'ns0', team: '', states: new Set(wanted) };
        const shown = visible(view, f);
        for (const n of view.nodes) expect(shown.nodes.has(n.id)).toBe(n.namespace === 'ns0');
        for (const e of view.edges)
          expect(shown.edges.has(edgeKey(e))).toBe(
            shown.nodes.has(e.from) &&
              shown.nodes.has(e.to) &&
              e.states.some((s) => wanted.includes(s)),
          );
        const all = visible(view, { namespace: '', team: '', states: ALL_STATES });
        expect(all.nodes.size).toBe(view.nodes.length);
        expect(all.edges.size).toBe(view.edges.length);
      }),
    );
  });

  it('searches names case-insensitively', () => {
    fc.assert(
      fc.property(views, fc.string({ maxLength: 3 }), (view, q) => {
        for (const hit of search(view, q))
          expect(hit.name.toLowerCase()).toContain(q.trim().toLowerCase());
      }),
    );
  });
});

describe('selection from the URL (anyone’s text)', () => {
  it('reads any query as a well-formed selection or none, never throwing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (query) => {
        const s = selectionOf(new URLSearchParams(query));
        if (s === null) return;
        if (s.kind === 'node') expect(s.id.length).toBeGreaterThan(0);
        if (s.kind === 'edge') {
          expect(s.from.length).toBeGreaterThan(0);
          expect(s.to.length).toBeGreaterThan(0);
        }
        if (s.kind === 'cycle') expect(Number.isSafeInteger(s.index) && s.index >= 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips what the view writes', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/);
    fc.assert(
      fc.property(name, name, fc.nat({ max: 999_999 }), (from, to, index) => {
        const q = (p: Record<string, string>) =>
          new URLSearchParams(new URLSearchParams(p).toString());
        expect(selectionOf(q({ node: from }))).toEqual({ kind: 'node', id: from });
        expect(selectionOf(q({ edge: edgeKey({ from, to }) }))).toEqual({ kind: 'edge', from, to });
        expect(selectionOf(q({ cycle: String(index) }))).toEqual({ kind: 'cycle', index });
      }),
    );
    expect(selectionOf(new URLSearchParams('edge=%E2%86%92x'))).toBeNull();
    expect(selectionOf(new URLSearchParams('cycle=-1'))).toBeNull();
    expect(selectionOf(new URLSearchParams('cycle=1e9'))).toBeNull();
  });
});
