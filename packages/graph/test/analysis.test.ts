import { describe, expect, it } from 'vitest';
import {
  analyze,
  blastRadius,
  bootOrder,
  checkAgainstBaseline,
  compile,
  condensation,
  type DependencyGraph,
  type Edge,
  elementaryCycles,
  parseLayeringRules,
  stronglyConnected,
} from '../src/index.ts';

type E = [from: string, to: string, kind?: Edge['kind'], extra?: Partial<Edge>];

function graphOf(edges: E[], labels: Record<string, Record<string, string>> = {}): DependencyGraph {
  const names = new Set<string>(Object.keys(labels));
  for (const [a, b] of edges) names.add(a).add(b);
  return {
    services: [...names].sort().map((name) => ({
      name,
      type: 'service',
      virtual: false,
      labels: labels[name] ?? {},
      sources: [],
    })),
    edges: edges.map(([from, to, kind = 'runtime', extra = {}]) => ({
      from,
      to,
      kind,
      provenance: 'declared',
      sources: [],
      ...extra,
    })),
  };
}

/** True when the graph minus `cut` has no cycle. */
function acyclicWithout(graph: DependencyGraph, cut: { from: string; to: string }[]): boolean {
  const drop = new Set(cut.map((c) => `${c.from}>${c.to}`));
  const g = compile({ ...graph, edges: graph.edges.filter((e) => !drop.has(`${e.from}>${e.to}`)) });
  return stronglyConnected(g).cyclic.length === 0;
}

describe('strongly connected components', () => {
  it('handles a 200,000-service chain closed into one cycle without recursion', () => {
    const n = 200_000;
    const edges: E[] = [];
    for (let i = 0; i < n; i++) edges.push([`s${i}`, `s${(i + 1) % n}`]);
    const g = compile(graphOf(edges));
    const scc = stronglyConnected(g);
    expect(scc.count).toBe(1);
    expect(scc.cyclic[0]).toHaveLength(n);
  });

  it('finds components, self-loops and the condensation DAG', () => {
    const g = compile(
      graphOf([
        ['a', 'b'],
        ['b', 'a'],
        ['b', 'c'],
        ['c', 'c'],
        ['c', 'd'],
        ['a', 'd'],
      ]),
    );
    const scc = stronglyConnected(g);
    expect(scc.cyclic.map((m) => m.map((v) => g.names[v]).sort())).toEqual(
      expect.arrayContaining([['a', 'b'], ['c']]),
    );
    expect(scc.cyclic).toHaveLength(2);
    const cond = condensation(g, scc);
    expect(cond.nodes).toBe(3);
    expect(cond.targets.length).toBe(3); // {a,b}→{c}, {a,b}→d, {c}→d
  });
});

describe('elementary cycles', () => {
  it('lists every cycle once, shortest first, within the bounds', () => {
    const graph = graphOf([
      ['a', 'b'],
      ['b', 'a'],
      ['b', 'c'],
      ['c', 'a'],
      ['c', 'd'],
      ['d', 'a'],
      ['x', 'x'],
    ]);
    const g = compile(graph);
    const { cycles, truncated } = elementaryCycles(g, stronglyConnected(g));
    expect(truncated).toBe(false);
    expect(cycles.map((c) => c.map((v) => g.names[v]).join(''))).toEqual([
      'x',
      'ab',
      'abc',
      'abcd',
    ]);
    const bounded = elementaryCycles(g, stronglyConnected(g), { maxLength: 3, maxCycles: 2 });
    expect(bounded.cycles.map((c) => c.length)).toEqual([1, 2]);
    expect(bounded.truncated).toBe(true);
  });

  it('stays bounded on a complete graph', () => {
    const edges: E[] = [];
    for (let i = 0; i < 30; i++)
      for (let j = 0; j < 30; j++) if (i !== j) edges.push([`n${i}`, `n${j}`]);
    const g = compile(graphOf(edges));
    const { cycles, truncated } = elementaryCycles(g, stronglyConnected(g), {
      maxCycles: 50,
      maxSteps: 100_000,
    });
    expect(cycles.length).toBeLessThanOrEqual(50);
    expect(cycles[0]).toHaveLength(2);
    expect(truncated).toBe(true);
  });
});

describe('cold-start boot order', () => {
  it('orders startup edges into waves and explains what can never start', () => {
    const graph = graphOf([
      ['web', 'api', 'startup'],
      ['api', 'db', 'startup'],
      ['api', 'cache', 'startup'],
      ['web', 'cdn', 'runtime'],
      ['a', 'b', 'startup'],
      ['b', 'a', 'startup'],
      ['c', 'a', 'startup'],
    ]);
    const boot = bootOrder(graph);
    expect(boot.waves).toEqual([['cache', 'cdn', 'db'], ['api'], ['web']]);
    const blocked = Object.fromEntries(boot.blocked.map((b) => [b.service, b]));
    expect(blocked.a!.cycle).toEqual(['a', 'b', 'a']);
    expect(blocked.c!.waitsFor).toBe('a');
    expect(blocked.c!.reason).toMatch(/needs a to start/);
  });
});

describe('cycle breaking', () => {
  it('cuts runtime, rarely used edges into low-criticality services first, and explains', () => {
    const graph = graphOf(
      [
        ['orders', 'payments', 'startup', { metrics: { calls: 1000, errors: 0, denied: 0 } }],
        ['payments', 'orders', 'runtime', { metrics: { calls: 3, errors: 0, denied: 0 } }],
      ],
      { orders: { criticality: 'high' }, payments: { criticality: 'high' } },
    );
    const [s] = analyze(graph).breakSuggestions;
    expect(s!.cuts.map((c) => `${c.from}>${c.to}`)).toEqual(['payments>orders']);
    expect(s!.cuts[0]!.explanation).toMatch(/runtime edge/);
    expect(s!.supernode.services).toEqual(['orders', 'payments']);

    const lowCrit = graphOf(
      [
        ['a', 'b'],
        ['b', 'a'],
      ],
      { a: { criticality: 'high' }, b: { criticality: 'low' } },
    );
    expect(analyze(lowCrit).breakSuggestions[0]!.cuts.map((c) => c.to)).toEqual(['b']);
  });

  it('always leaves the graph acyclic, with no superfluous cut', () => {
    // Random graphs with a fixed seed: every suggestion set must break every cycle, and putting
    // back any single cut edge must bring a cycle back.
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let round = 0; round < 20; round++) {
      const edges: E[] = [];
      for (let i = 0; i < 40; i++)
        edges.push([
          `n${Math.floor(rand() * 12)}`,
          `n${Math.floor(rand() * 12)}`,
          rand() < 0.3 ? 'startup' : 'runtime',
        ]);
      const unique = [...new Map(edges.map((e) => [`${e[0]}>${e[1]}`, e])).values()];
      const graph = graphOf(unique);
      const cuts = analyze(graph).breakSuggestions.flatMap((s) => s.cuts);
      expect(acyclicWithout(graph, cuts)).toBe(true);
      for (const c of cuts)
        expect(
          acyclicWithout(
            graph,
            cuts.filter((x) => x !== c),
          ),
        ).toBe(false);
    }
  });
});

describe('repair tools', () => {
  it('flags tools in a cycle and tools depending on what they watch', () => {
    const graph = graphOf(
      [
        ['prometheus', 'postgres'],
        ['orders', 'postgres'],
        ['fixer', 'orders'],
        ['orders', 'fixer'],
        ['deployer', 'registry'],
      ],
      {
        prometheus: { role: 'monitoring' },
        fixer: { role: 'repair-tool' },
        deployer: { role: 'repair-tool', repairs: 'orders' },
      },
    );
    const findings = analyze(graph).repairTools;
    const key = findings.map((f) => `${f.service}:${f.problem}:${f.path.join('>')}`);
    expect(key).toContain('prometheus:depends-on-watched:prometheus>postgres');
    expect(key).toContain('fixer:in-cycle:fixer>orders');
    expect(key.some((k) => k.startsWith('deployer'))).toBe(false); // registry is not what it repairs
  });
});

describe('blast radius', () => {
  it('lists direct and transitive dependents and ranks the most critical', () => {
    const graph = graphOf([
      ['web', 'api'],
      ['api', 'db'],
      ['worker', 'db'],
      ['cron', 'worker'],
    ]);
    expect(blastRadius(graph, 'db')).toEqual({
      service: 'db',
      direct: ['api', 'worker'],
      transitive: ['api', 'cron', 'web', 'worker'],
    });
    expect(blastRadius(graph, 'ghost')).toBeUndefined();
    expect(analyze(graph).critical[0]).toEqual({ service: 'db', direct: 2, transitive: 4 });
  });
});

describe('declared vs observed and layering', () => {
  const graph: DependencyGraph = {
    ...graphOf([], { web: { tier: 'frontend' }, api: { tier: 'backend' }, db: { tier: 'data' } }),
    edges: [
      { from: 'web', to: 'api', kind: 'runtime', provenance: 'both', sources: [] },
      { from: 'api', to: 'db', kind: 'runtime', provenance: 'declared', sources: [] },
      {
        from: 'api',
        to: 'web',
        kind: 'runtime',
        provenance: 'observed',
        sources: [],
        metrics: { calls: 4, errors: 0, denied: 1 },
      },
    ],
  };

  it('separates unapproved and unused edges', () => {
    const dvo = analyze(graph).declaredVsObserved;
    expect(dvo.unapproved).toEqual([
      { from: 'api', to: 'web', kind: 'runtime', calls: 4, denied: 1 },
    ]);
    expect(dvo.unused).toEqual([{ from: 'api', to: 'db', kind: 'runtime' }]);
  });

  it('reports layer-policy and rule violations', () => {
    const rules = parseLayeringRules(
      'layers: { label: tier, order: [frontend, backend, data] }\nrules:\n  - name: no-up\n    from: { tier: backend }\n    to: { tier: [frontend] }\n',
      'rules.yaml',
    );
    const v = analyze(graph, { rules }).layering.violations;
    expect(v.map((x) => `${x.rule}:${x.from}>${x.to}`)).toEqual([
      'layers:same-or-lower:api>web',
      'no-up:api>web',
    ]);
  });

  it('rejects invalid rules naming file and line', () => {
    expect(() =>
      parseLayeringRules('rules:\n  - name: x\n    from: {}\n    to: { tier: a }\n', 'r.yaml'),
    ).toThrow(expect.objectContaining({ code: 'GRAPH_RULES_INVALID', file: 'r.yaml', line: 3 }));
    expect(() => parseLayeringRules('layers: { label: tier }\n', 'r.yaml')).toThrow(
      /"layers" needs/,
    );
  });
});

describe('baseline check', () => {
  it('fails only on new cycles, new unapproved edges and new violations', () => {
    const base = graphOf([
      ['a', 'b'],
      ['b', 'a'],
      ['b', 'c'],
    ]);
    expect(checkAgainstBaseline(base, base).ok).toBe(true);
    const grown = graphOf([
      ['a', 'b'],
      ['b', 'a'],
      ['b', 'c'],
      ['c', 'b'],
    ]);
    const r = checkAgainstBaseline(grown, base);
    expect(r.ok).toBe(false);
    // Named by the edge that closed it (c → b is new; b → c was in the baseline).
    expect(r.newCycles).toEqual([
      {
        edge: { from: 'c', to: 'b' },
        cycle: ['c', 'b', 'c'],
        newEdges: [{ from: 'c', to: 'b', sources: [] }],
      },
    ]);
    const selfLoop = checkAgainstBaseline(
      graphOf([
        ['a', 'b'],
        ['b', 'a'],
        ['b', 'c'],
        ['c', 'c'],
      ]),
      base,
    );
    expect(selfLoop.newCycles.map((c) => c.cycle)).toEqual([['c', 'c']]);
  });
});

describe('the CI gate names the edge that closed a cycle', () => {
  it('blames the new B → A, not the approved A → B', () => {
    const base = graphOf([['a', 'b']]);
    const r = checkAgainstBaseline(
      graphOf([
        ['a', 'b'],
        ['b', 'a'],
      ]),
      base,
    );
    expect(r.newCycles).toEqual([
      {
        edge: { from: 'b', to: 'a' },
        cycle: ['b', 'a', 'b'],
        newEdges: [{ from: 'b', to: 'a', sources: [] }],
      },
    ]);
  });

  it('lists every new edge of the cycle when several closed it together', () => {
    const r = checkAgainstBaseline(
      graphOf([
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'a'],
      ]),
      graphOf([['a', 'b']]),
    );
    expect(r.newCycles).toHaveLength(1);
    expect(r.newCycles[0]!.edge).toEqual({ from: 'b', to: 'c' });
    expect(r.newCycles[0]!.cycle).toEqual(['b', 'c', 'a', 'b']);
    expect(r.newCycles[0]!.newEdges.map(({ from, to }) => `${from}>${to}`)).toEqual(['b>c', 'c>a']);
  });
});

describe('cycle-break wording follows the evidence given', () => {
  const cycle: E[] = [
    ['a', 'b'],
    ['b', 'a'],
  ];

  it('claims nothing about traffic when no traffic was given', () => {
    const [s] = analyze(graphOf(cycle)).breakSuggestions;
    const text = s!.cuts[0]!.explanation;
    expect(text).not.toMatch(/never observed/);
    expect(text).toMatch(/declared \(no traffic input was given/);
  });

  it('says "never observed" only when traffic was given and did not show the edge', () => {
    const seen: E = [
      'c',
      'd',
      'runtime',
      { provenance: 'observed', metrics: { calls: 5, errors: 0, denied: 0 } },
    ];
    const [s] = analyze(graphOf([...cycle, seen])).breakSuggestions;
    expect(s!.cuts[0]!.explanation).toMatch(/declared but never observed in the traffic given/);
  });
});

describe('layering over namespaces', () => {
  it('matches name by key and namespace by the key’s namespace', async () => {
    const { checkLayering } = await import('../src/index.ts');
    const node = (name: string, namespace?: string) => ({
      name,
      type: 'service' as const,
      virtual: false,
      labels: {},
      sources: [],
      ...(namespace ? { namespace } : {}),
    });
    const edge = (from: string, to: string) => ({
      from,
      to,
      kind: 'runtime' as const,
      provenance: 'declared' as const,
      sources: [],
    });
    const graph = {
      services: [node('team-a/payments', 'team-a'), node('team-b/payments'), node('audit')],
      edges: [edge('team-b/payments', 'team-a/payments'), edge('audit', 'team-a/payments')],
    };
    const rules = {
      rules: [
        { name: 'no-b-to-a', from: { namespace: 'team-b' }, to: { name: 'team-a/payments' } },
      ],
    };
    const v = checkLayering(graph as never, rules as never);
    expect(v.map((x) => `${x.from}>${x.to}`)).toEqual(['team-b/payments>team-a/payments']);
    // `default` is the namespace of a bare key.
    const d = checkLayering(
      graph as never,
      {
        rules: [{ name: 'd', from: { namespace: 'default' }, to: { namespace: 'team-a' } }],
      } as never,
    );
    expect(d.map((x) => x.from)).toEqual(['audit']);
  });
});
