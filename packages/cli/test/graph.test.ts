import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'graph');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: examples });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ward graph (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-graph-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('analyzes the examples in every format', () => {
    const text = ward(
      'graph',
      'analyze',
      '-f',
      'k8s.yaml',
      '-f',
      'traces.otlp.jsonl',
      '--rules',
      'layering.yaml',
    );
    expect(text.err).toBe('');
    expect(text.code).toBe(0);
    // Services are named by key: namespace/name outside the default namespace.
    expect(text.out).toContain('shop/orders → shop/payments → shop/orders');
    expect(text.out).toContain('Cold-start boot order');
    const json = JSON.parse(
      ward('graph', 'analyze', '-f', 'k8s.yaml', '-f', 'traces.otlp.jsonl', '-o', 'json').out,
    );
    expect(json.version).toBe('ward.dev/graph/v1');
    expect(json.analysis.components).toEqual([['shop/orders', 'shop/payments']]);
    expect(ward('graph', 'analyze', '-f', 'docker-compose.yml', '-o', 'dot').out).toMatch(
      /^digraph ward/,
    );
    expect(ward('graph', 'analyze', '-f', 'catalog-info.yaml', '-o', 'mermaid').out).toMatch(
      /^flowchart LR/,
    );
    const sarif = JSON.parse(
      ward('graph', 'analyze', '-f', 'k8s.yaml', '-f', 'traces.otlp.jsonl', '-o', 'sarif').out,
    );
    expect(sarif.version).toBe('2.1.0');
  });

  it('gates CI on a baseline: 0 when nothing got worse, 1 on a new cycle or unapproved edge', () => {
    const baseline = join(dir, 'baseline.json');
    expect(
      ward('graph', 'analyze', '-f', 'k8s.yaml', '-o', 'json', '--output-file', baseline).code,
    ).toBe(0);
    const same = ward('graph', 'check', '-f', 'k8s.yaml', '--baseline', baseline);
    expect(same.out).toContain('ok:');
    expect(same.code).toBe(0);
    const worse = ward(
      'graph',
      'check',
      '-f',
      'k8s.yaml',
      '-f',
      'traces.otlp.jsonl',
      '--baseline',
      baseline,
      '-o',
      'json',
    );
    expect(worse.code).toBe(1);
    const result = JSON.parse(worse.out);
    expect(result.newCycles[0].cycle).toEqual(['shop/orders', 'shop/payments', 'shop/orders']);
    expect(result.newUnapproved.map((u: { to: string }) => u.to)).toContain('shop/inventory');
    // The committed example baseline is the k8s-only graph too.
    expect(ward('graph', 'check', '-f', 'k8s.yaml', '--baseline', 'baseline.json').code).toBe(0);
  });

  it('exports NetworkPolicies and Istio policies per namespace', () => {
    const out = join(dir, 'np');
    const r = ward(
      'graph',
      'export',
      'networkpolicy',
      '-f',
      'k8s.yaml',
      '-f',
      'traces.otlp.jsonl',
      '--output-dir',
      out,
    );
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/wrote \d+ manifest\(s\) for 2 namespace\(s\)/);
    expect(readdirSync(out).sort()).toEqual([
      'monitoring.networkpolicy.yaml',
      'shop.networkpolicy.yaml',
    ]);
    const docs = parseAllDocuments(readFileSync(join(out, 'shop.networkpolicy.yaml'), 'utf8')).map(
      (d) => d.toJS(),
    );
    expect(docs.every((d) => d.kind === 'NetworkPolicy' && Array.isArray(d.spec.policyTypes))).toBe(
      true,
    );
    const istio = join(dir, 'istio');
    expect(ward('graph', 'export', 'istio', '-f', 'k8s.yaml', '--output-dir', istio).code).toBe(0);
    expect(parse(readFileSync(join(istio, 'monitoring.istio.yaml'), 'utf8')).kind).toBe(
      'AuthorizationPolicy',
    );
  });

  it("-n NS: the namespace's part of the graph, and the namespace of objects naming none", () => {
    const services = (...args: string[]) =>
      JSON.parse(
        ward('graph', 'analyze', '-f', 'k8s.yaml', '-o', 'json', ...args).out,
      ).graph.services.map((x: { name: string }) => x.name);
    // monitoring: prometheus, and shop/postgres at the other end of its edge.
    expect(services('-n', 'monitoring')).toEqual(['monitoring/prometheus', 'shop/postgres']);
    expect(services('--namespace', 'shop')).toContain('monitoring/prometheus');
    expect(services('-n', 'shop').every((n: string) => n.includes('/'))).toBe(true);
    expect(services('-n', 'nowhere')).toEqual([]);
    const bad = ward('graph', 'analyze', '-f', 'k8s.yaml', '-n', 'Not_A_Label');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/a namespace is a DNS label/);
    // As kubectl -n: a manifest naming no namespace is in NS.
    const bare = join(dir, 'bare.yaml');
    writeFileSync(
      bare,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: api }\nspec:\n  selector: { matchLabels: { app: api } }\n  template:\n    metadata: { labels: { app: api } }\n    spec: { containers: [{ name: c, image: example/api }] }\n',
    );
    const staged = JSON.parse(
      ward('graph', 'analyze', '-f', `k8s:${bare}`, '-n', 'staging', '-o', 'json').out,
    );
    expect(staged.graph.services.map((x: { name: string }) => x.name)).toEqual(['staging/api']);
    // export -n: only that namespace's manifests.
    const out = join(dir, 'np-monitoring');
    const r = ward(
      'graph',
      'export',
      'networkpolicy',
      '-f',
      'k8s.yaml',
      '-n',
      'monitoring',
      '--output-dir',
      out,
    );
    expect(r.code).toBe(0);
    expect(readdirSync(out)).toEqual(['monitoring.networkpolicy.yaml']);
  });

  // `script` (util-linux) gives the CLI a pseudo-terminal as stderr, where the bar is drawn.
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasScript)('draws a progress bar on a terminal for large inputs', () => {
    const line = readFileSync(join(examples, 'traces.otlp.jsonl'), 'utf8').split('\n')[0]!;
    const big = join(dir, 'big.jsonl');
    writeFileSync(big, `${line}\n`.repeat(Math.ceil((17 * 1024 * 1024) / (line.length + 1))));
    const log = join(dir, 'tty.log');
    const cmd = `${process.execPath} ${bin} graph analyze -f otlp:${big} > ${join(dir, 'big.out')}`;
    const r = spawnSync('script', ['-qfc', cmd, log], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const tty = readFileSync(log, 'utf8');
    expect(tty).toMatch(/\[#+\] 100% 1[78]\/1[78] MB/);
    expect(readFileSync(join(dir, 'big.out'), 'utf8')).toContain('Spans: ');
    // Not a terminal: no bar.
    expect(ward('graph', 'analyze', '-f', `otlp:${big}`).err).toBe('');
  });

  it('reports bad input in one line naming file and line, exit 2', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"resourceSpans":[]}\nnot json\n{"resourceSpans":[]}\n');
    const r = ward('graph', 'analyze', '-f', `otlp:${bad}`);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      new RegExp(`^ward: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: line is not valid JSON`),
    );
    expect(r.err.trim().split('\n')).toHaveLength(1);
    const missing = ward('graph', 'analyze', '-f', 'nope.yaml');
    expect(missing.code).toBe(2);
    expect(missing.err).toBe('ward: cannot read nope.yaml: no such file\n');
    const unknown = ward('graph', 'analyze', '-f', 'layering.yaml');
    expect(unknown.err).toContain('k8s:layering.yaml');
    expect(ward('graph', 'analyze', '-f', 'k8s.yaml', '-o', 'pdf').code).toBe(2);
    const badRules = join(dir, 'rules.yaml');
    writeFileSync(badRules, 'layers: { label: tier }\n');
    const rules = ward('graph', 'analyze', '-f', 'k8s.yaml', '--rules', badRules);
    expect(rules.code).toBe(2);
    expect(rules.err).toContain('rules.yaml:1');
  });
});

describe('ward graph: inputs and the CI gate pointers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-graph-grammar-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('check names the new edge that closed a cycle and points SARIF at its line', () => {
    // The approved graph: a depends on b. The change adds b → a (declared at line 8).
    writeFileSync(
      join(dir, 'base.yml'),
      'services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n',
    );
    const compose = join(dir, 'compose.yml');
    writeFileSync(
      compose,
      'services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on:\n      - a\n',
    );
    const baseline = join(dir, 'baseline.json');
    const base = ward(
      'graph',
      'analyze',
      '-f',
      join(dir, 'base.yml'),
      '-o',
      'json',
      '--output-file',
      baseline,
    );
    expect(base.code).toBe(0);
    const text = ward('graph', 'check', '-f', compose, '--baseline', baseline);
    expect(text.code).toBe(1);
    expect(text.out).toContain(`new cycle: b → a → b (closed by b → a at ${compose}:8)`);
    const json = JSON.parse(
      ward('graph', 'check', '-f', compose, '--baseline', baseline, '-o', 'json').out,
    );
    expect(json.newCycles[0].edge).toEqual({ from: 'b', to: 'a' });
    expect(json.newCycles[0].newEdges).toEqual([
      { from: 'b', to: 'a', sources: [{ type: 'compose', file: compose, line: 8 }] },
    ]);
    const sarif = ward('graph', 'check', '-f', compose, '--baseline', baseline, '-o', 'sarif');
    expect(sarif.code).toBe(1);
    const [result] = JSON.parse(sarif.out).runs[0].results;
    expect(result.ruleId).toBe('ward.graph.cycle');
    expect(result.message.text).toContain('closed by b → a');
    expect(result.locations).toEqual([
      { physicalLocation: { artifactLocation: { uri: compose }, region: { startLine: 8 } } },
    ]);
  });

  it('walks a directory given with -f, noting files it cannot read as graph input', () => {
    const r = ward('graph', 'analyze', '-f', '.', '-o', 'json');
    expect(r.code).toBe(0);
    expect(r.err).toBe(
      'ward: skipped layering.yaml: not a graph input (name it with -f TYPE:layering.yaml to force a type)\n',
    );
    const walked = JSON.parse(r.out);
    const named = JSON.parse(
      ward('graph', 'analyze', '-f', 'k8s.yaml', '-f', 'docker-compose.yml', '-o', 'json').out,
    );
    // The compose and k8s services are both in the walked graph.
    const names = (r: { graph: { services: { name: string }[] } }) =>
      r.graph.services.map((s) => s.name);
    for (const name of names(named)) expect(names(walked)).toContain(name);
  });

  it('reads stdin with -f - and prints an export to stdout without --output-dir', () => {
    const k8s = readFileSync(join(examples, 'k8s.yaml'), 'utf8');
    const piped = spawnSync(process.execPath, [bin, 'graph', 'analyze', '-f', '-', '-o', 'json'], {
      encoding: 'utf8',
      cwd: examples,
      input: k8s,
    });
    expect(piped.status).toBe(0);
    const fromFile = JSON.parse(ward('graph', 'analyze', '-f', 'k8s.yaml', '-o', 'json').out);
    expect(
      JSON.parse(piped.stdout).graph.edges.map(
        (e: { from: string; to: string }) => `${e.from}>${e.to}`,
      ),
    ).toEqual(fromFile.graph.edges.map((e: { from: string; to: string }) => `${e.from}>${e.to}`));
    const exported = ward('graph', 'export', 'networkpolicy', '-f', 'k8s.yaml');
    expect(exported.code).toBe(0);
    const docs = parseAllDocuments(exported.out).map((d) => d.toJS());
    expect(docs.length).toBeGreaterThan(0);
    expect(docs.every((d) => d.kind === 'NetworkPolicy')).toBe(true);
    expect(exported.err).toMatch(/wrote \d+ manifest\(s\) for 2 namespace\(s\) to stdout/);
    expect(ward('graph', 'export', 'firewall', '-f', 'k8s.yaml').code).toBe(2);
  });
});
