import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  compileGlob,
  inferPathTemplates,
  loadPolicy,
  type ObservedEdge,
  type PathTemplate,
  proposalsYaml,
  proposeIntentions,
  segmentWildcard,
} from '../src/index.ts';

const matches = (t: PathTemplate, path: string) =>
  t.glob ? compileGlob(t.pattern).test(path) : t.pattern === path;

const WORDS = ['orders', 'items', 'stock', 'users', 'reserve', 'api', 'v1', 'admin'];
const word = fc.constantFrom(...WORDS);
const id = fc.oneof(
  fc.nat().map(String),
  fc.uuid(),
  fc.stringMatching(/^[0-9a-f]{12,20}$/),
  fc.constantFrom(':id', '{id}'),
);
// Any segment text (no `/`): the parser of untrusted input must cope with all of it.
const anySegment = fc.string({ maxLength: 12 }).map((s) => s.replaceAll('/', ''));
const pathOf = (segments: string[]) => `/${segments.join('/')}`;

describe('path template inference', () => {
  it('every observed path matches its template, and the templates are valid globs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(word, id, anySegment), { maxLength: 6 }).map(pathOf), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 20 }),
        (paths, distinctLimit) => {
          const templates = inferPathTemplates(paths, { distinctLimit });
          const covered = new Set(templates.flatMap((t) => t.paths));
          for (const p of paths) expect(covered.has(p)).toBe(true);
          for (const t of templates) {
            expect(t.pattern.startsWith('/')).toBe(true);
            expect(t.pattern).not.toMatch(/\*{3,}/);
            for (const p of t.paths) expect(matches(t, p)).toBe(true);
          }
        },
      ),
    );
  });

  it('below the distinct limit, a template never matches a path that differs from every observed one in a literal segment', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(word, id), { minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.array(fc.oneof(word, fc.constantFrom('zebra', 'other')), {
          minLength: 1,
          maxLength: 5,
        }),
        (observed, query) => {
          const templates = inferPathTemplates(observed.map(pathOf));
          const q = pathOf(query);
          if (!templates.some((t) => matches(t, q))) return;
          // Some observed path has q's literal segments at the same positions (ids aside).
          const agrees = observed.some(
            (p) =>
              p.length === query.length &&
              p.every(
                (s, i) => segmentWildcard(s, i === p.length - 1) !== undefined || s === query[i],
              ),
          );
          expect(agrees).toBe(true);
        },
      ),
    );
  });

  it('collapses ids and many distinct values, keeps literal segments', () => {
    const t = inferPathTemplates([
      '/orders/42',
      '/orders/8f14e45f-ceea-467f-a0e6-ab6f0c36b4a1',
      '/orders/{id}/items',
      '/orders/:id/items',
      '/stock/sku-lamp/reserve',
      '/stock/sku-desk/reserve',
      '/files/a/b/c…',
      '/static/*',
    ]);
    expect(t.map((x) => x.pattern)).toEqual([
      '/files/a/b/**',
      '/orders/*',
      '/orders/*/items',
      '/static/**',
      '/stock/sku-desk/reserve',
      '/stock/sku-lamp/reserve',
    ]);
    for (const id of ['ord-1a2b3c4d', 'cus_8x7y6z5w', '42', 'a1b2c3d4e5f6a7b8']) {
      expect(segmentWildcard(id, false)).toBe('*');
    }
    for (const name of ['sku-lamp', 'v2beta1', 'orders', 'oauth2', 'api-v2']) {
      expect(segmentWildcard(name, false)).toBeUndefined();
    }
    const users = Array.from({ length: 17 }, (_, i) => `/users/${'abcdefghijklmnopq'[i]}name`);
    expect(inferPathTemplates(users).map((x) => x.pattern)).toEqual(['/users/*']);
    expect(inferPathTemplates(users.slice(0, 16)).length).toBe(16);
  });

  it('is deterministic whatever the order of the paths', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(word, id), { maxLength: 4 }).map(pathOf), { maxLength: 30 }),
        fc.integer(),
        (paths, seed) => {
          const shuffled = [...paths].sort(
            (a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7),
          );
          expect(inferPathTemplates(shuffled)).toEqual(inferPathTemplates(paths));
        },
      ),
    );
  });
});

const SERVICES = `
apiVersion: ward.dev/v1
kind: Service
metadata: { name: orders, labels: { owner: label-owner } }
spec: { owner: team-checkout }
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: frontend }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: inventory, labels: { owner: team-warehouse } }
spec: {}
---
apiVersion: ward.dev/v1
kind: Service
metadata: { name: batch }
spec: {}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: inventory }
spec:
  destination: inventory
  rules:
    - { sources: [frontend], action: allow, permissions: [{ http: { methods: [GET] } }] }
    - { sources: [batch], action: deny }
`;

function policy(extra = '') {
  const loaded = loadPolicy([{ file: 'p.yaml', text: SERVICES + extra }]);
  expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return loaded.policySet!;
}

const edge = (source: string, destination: string, samples: ObservedEdge['samples']) => ({
  source,
  destination,
  calls: samples.reduce((n, s) => n + s.count, 0) || 3,
  firstSeen: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:10:00.000Z',
  seenIn: samples.length > 0 ? ['decision-logs'] : ['traces'],
  samples,
});

describe('proposeIntentions', () => {
  const window = { since: '2026-01-01T00:00:00.000Z', until: '2026-01-01T01:00:00.000Z' };

  it('proposes one dry-run document per destination, grouping callers, from methods and templates', () => {
    const result = proposeIntentions({
      ...window,
      policy: policy(),
      edges: [
        edge('frontend', 'orders', [
          { method: 'GET', path: '/orders', count: 5 },
          { method: 'POST', path: '/orders', count: 2 },
          { method: 'HEAD', path: '/orders/{id}', count: 1 },
          { method: 'DELETE', path: '/orders/17', count: 1 },
        ]),
        edge('spiffe://ward.local/ns/default/sa/batch', 'orders', [
          { method: 'GET', path: '/orders', count: 1 },
          { method: 'POST', path: '/orders', count: 1 },
          { method: 'GET', path: '/orders/9', count: 1 },
          { method: 'DELETE', path: '/orders/{id}', count: 3 },
        ]),
        edge('monitoring', 'orders', []),
        // Covered already: allowed (L7 aside), or denied on purpose.
        edge('frontend', 'inventory', [{ method: 'POST', path: '/x', count: 1 }]),
        edge('batch', 'inventory', [{ method: 'GET', path: '/x', count: 1 }]),
        // Never a pattern as a source; never a self-edge.
        edge('*', 'orders', [{ method: 'GET', path: '/orders', count: 1 }]),
        edge('orders', 'orders', [{ method: 'GET', path: '/orders', count: 1 }]),
        edge('frontend', 'payments', [{ method: 'GET', path: '/a b', count: 1 }]),
      ],
    });
    expect(result.proposals.map((p) => p.document.metadata.name)).toEqual(['orders-proposed']);
    const [p] = result.proposals;
    expect(p!.owner).toBe('team-checkout');
    expect(p!.document.metadata.labels).toEqual({ owner: 'team-checkout' });
    expect(p!.document.spec.mode).toBe('dry-run');
    expect(p!.document.spec.rules.map((r) => [r.sources, r.permissions])).toEqual([
      [
        ['frontend', 'spiffe://ward.local/ns/default/sa/batch'],
        [
          { http: { methods: ['DELETE', 'GET'], paths: [{ glob: '/orders/*' }] } },
          { http: { methods: ['GET', 'POST'], paths: [{ exact: '/orders' }] } },
        ],
      ],
      [['monitoring'], undefined],
    ]);
    expect(p!.rules[1]!.wholeEdge).toBe(true);
    expect(p!.document.spec.rules[0]!.description).toBe(
      'proposed from traffic: 15 calls from 2026-01-01T00:00:00.000Z to 2026-01-01T00:10:00.000Z (decision-logs)',
    );
    expect(result.skipped).toEqual([
      {
        source: 'batch',
        destination: 'inventory',
        reason: 'already covered by inventory#1 (deny)',
      },
      {
        source: 'frontend',
        destination: 'inventory',
        reason: 'already covered by inventory#0 (allow)',
      },
      {
        source: '*',
        destination: 'orders',
        reason: 'the observed caller is a pattern, not a service',
      },
      {
        source: 'frontend',
        destination: 'payments',
        reason: 'an observed method or path cannot be written in a rule',
      },
    ]);
  });

  it('writes YAML that loads as policy and allows exactly the observed calls', () => {
    const observed = [
      { method: 'GET', path: '/stock/sku-lamp', count: 4 },
      { method: 'POST', path: '/stock/sku-lamp/reserve', count: 2 },
    ];
    const result = proposeIntentions({
      ...window,
      policy: policy(),
      edges: [edge('orders', 'inventory', observed), edge('inventory', 'orders', observed)],
    });
    const text = proposalsYaml(result);
    expect(text).toContain('# orders: 6 calls');
    const docs = text.split(/^---$/m).map((d) => parse(d));
    expect(docs.map((d) => d.metadata.name)).toEqual(['inventory-proposed', 'orders-proposed']);
    const loaded = loadPolicy([{ file: 'p.yaml', text: `${SERVICES}---\n${text}` }]);
    expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const set = loaded.policySet!;
    for (const s of observed) {
      const d = set.decide({
        destination: 'orders',
        source: { service: 'inventory' },
        request: { method: s.method, path: s.path, headers: {} },
      });
      expect(d.effect).toBe('allow');
    }
    for (const [method, path] of [
      ['DELETE', '/stock/sku-lamp'],
      ['GET', '/stock/sku-desk'],
      ['GET', '/admin'],
    ] as const) {
      const d = set.decide({
        destination: 'orders',
        source: { service: 'inventory' },
        request: { method, path, headers: {} },
      });
      expect(d.effect).toBe('deny');
    }
  });

  it('proposes beside a proposal under review the calls it does not allow, and nothing else', () => {
    const stored = `---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: orders-proposed, annotations: { ward.dev/proposed-from: traffic x/y } }
spec:
  destination: orders
  mode: dry-run
  rules:
    - sources: [frontend]
      action: allow
      permissions: [{ http: { methods: [GET], paths: [{ exact: /orders }] } }]
`;
    const edges = [
      edge('frontend', 'orders', [
        { method: 'GET', path: '/orders', count: 3 },
        { method: 'DELETE', path: '/orders/7', count: 1 },
      ]),
    ];
    const reviewing = new Set(['orders-proposed']);
    const r = proposeIntentions({ ...window, policy: policy(stored), edges, reviewing });
    expect(r.proposals.map((p) => p.document.metadata.name)).toEqual(['orders-proposed-2']);
    expect(r.proposals[0]!.document.spec.rules.map((x) => x.permissions)).toEqual([
      [{ http: { methods: ['DELETE'], paths: [{ glob: '/orders/*' }] } }],
    ]);
    // Not under review (a person's rule, or promoted): the edge is closed.
    const closed = proposeIntentions({ ...window, policy: policy(stored), edges });
    expect(closed.proposals).toEqual([]);
    expect(closed.skipped[0]!.reason).toBe('already covered by orders-proposed#0 (allow)');
    // Everything observed already allowed: nothing to add.
    const done = proposeIntentions({
      ...window,
      policy: policy(stored),
      edges: [edge('frontend', 'orders', [{ method: 'GET', path: '/orders', count: 3 }])],
      reviewing,
    });
    expect(done.proposals).toEqual([]);
  });

  it('property: proposals load as policy and allow every observed call they cover', () => {
    const method = fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD', 'put');
    const sample = fc.record({
      method,
      path: fc.array(fc.oneof(word, id, anySegment), { maxLength: 5 }).map(pathOf),
      count: fc.integer({ min: 1, max: 5 }),
    });
    const observed = fc.record({
      source: fc.constantFrom(
        'frontend',
        'batch',
        'web',
        'spiffe://ward.local/ns/x/sa/y',
        '*',
        'Bad Name',
      ),
      destination: fc.constantFrom('orders', 'inventory', 'payments'),
      samples: fc.array(sample, { maxLength: 6 }),
    });
    const set = policy();
    fc.assert(
      fc.property(
        fc.uniqueArray(observed, { maxLength: 8, selector: (o) => `${o.source} ${o.destination}` }),
        fc.integer({ min: 1, max: 20 }),
        (obs, distinctLimit) => {
          const edges = obs.map((o) => edge(o.source, o.destination, o.samples));
          const result = proposeIntentions({ ...window, policy: set, edges, distinctLimit });
          if (result.proposals.length === 0) return;
          const loaded = loadPolicy([
            { file: 'p.yaml', text: `${SERVICES}---\n${proposalsYaml(result)}` },
          ]);
          expect(loaded.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
          const proposed = new Set(
            result.proposals.flatMap((p) =>
              p.rules.flatMap((r) => r.sources.map((s) => `${s} ${p.destination}`)),
            ),
          );
          for (const e of edges) {
            if (!proposed.has(`${e.source} ${e.destination}`)) continue;
            const source = e.source.startsWith('spiffe://')
              ? { spiffeId: e.source }
              : { service: e.source };
            for (const s of e.samples) {
              const method = s.method.toUpperCase() === 'HEAD' ? 'GET' : s.method.toUpperCase();
              const d = loaded.policySet!.decide({
                destination: e.destination,
                source,
                request: { method, path: s.path, headers: {} },
              });
              expect(d.effect).toBe('allow');
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('never reuses a stored intention name, and is deterministic', () => {
    const stored = `---
apiVersion: ward.dev/v1
kind: Intention
metadata: { name: orders-proposed }
spec: { destination: orders, mode: dry-run, rules: [{ sources: [inventory], action: allow }] }
`;
    const edges = [
      edge('frontend', 'orders', [{ method: 'GET', path: '/a', count: 1 }]),
      edge('batch', 'orders', [{ method: 'GET', path: '/b', count: 1 }]),
    ];
    const a = proposeIntentions({ ...window, policy: policy(stored), edges });
    const b = proposeIntentions({ ...window, policy: policy(stored), edges: [...edges].reverse() });
    expect(a.proposals[0]!.document.metadata.name).toBe('orders-proposed-2');
    expect(a).toEqual(b);
  });
});
