/**
 * `ward graph export` on the test shop (packages/graph/test/fixtures/shop-app), through the real
 * CLI: entry points and ports reach the files, skipped documents and unresolved references are
 * listed, shared identities warned about, and an export that would cut unexplained traffic is
 * refused (exit 1, nothing written) unless `--allow-empty`; `--namespace` sets the default.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const app = join(import.meta.dirname, '..', '..', 'graph', 'test', 'fixtures', 'shop-app');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: app });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const docs = (file: string) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) => d.toJS() as { metadata: { name: string }; spec: Record<string, unknown> },
  );

describe('ward graph export (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-graph-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes per-namespace policies with the entry point, and explains what it skipped', () => {
    const out = join(dir, 'np');
    const r = ward('graph', 'export', 'networkpolicy', '-f', 'k8s:shop.yaml', '--output-dir', out);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['shop.networkpolicy.yaml', 'web.networkpolicy.yaml']);
    const web = docs(join(out, 'web.networkpolicy.yaml'));
    expect(web.find((d) => d.metadata.name === 'ward-storefront-from-outside')!.spec).toEqual({
      podSelector: { matchLabels: { app: 'storefront' } },
      policyTypes: ['Ingress'],
      ingress: [{ ports: [{ protocol: 'TCP', port: 8080 }] }],
    });
    expect(r.err).toContain('Documents skipped: 2');
    expect(r.err).toMatch(/shop\.yaml:\d+ NetworkPolicy shop\/legacy-allow-all: /);
    expect(r.err).toMatch(
      /Not resolved: 1\n {2}shop\.yaml:\d+ reference otel-collector\.observability/,
    );
    expect(r.err).toContain(
      'skipped shop/checkout → api.stripe.com: api.stripe.com is outside the cluster',
    );
  });

  it('warns about workloads that share a service account (Istio)', () => {
    const out = join(dir, 'istio');
    const r = ward('graph', 'export', 'istio', '-f', 'k8s:shop.yaml', '--output-dir', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'warning: workloads shop/cart, shop/catalog, shop/postgres, shop/redis share the identity cluster.local/ns/shop/sa/default',
    );
  });

  it('refuses an app whose dependencies live in code (exit 1, nothing written); --allow-empty and --namespace', () => {
    const out = join(dir, 'refused');
    const r = ward(
      'graph',
      'export',
      'networkpolicy',
      '-f',
      'k8s:code-only.yaml',
      '--output-dir',
      out,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /ward: refusing to export: the inputs declare no dependency between the 2 workload\(s\).*--allow-empty/,
    );
    expect(r.err).toContain('ward graph scan');
    expect(existsSync(out)).toBe(false);
    const forced = ward(
      'graph',
      'export',
      'networkpolicy',
      '-f',
      'k8s:code-only.yaml',
      '--output-dir',
      out,
      '--allow-empty',
      '--namespace',
      'payments',
    );
    expect(forced.code).toBe(0);
    expect(readdirSync(out)).toEqual(['payments.networkpolicy.yaml']);
    expect(forced.err).toContain(
      'warning: payments/api has no allowed dependency and no entry point',
    );
  });

  it('analyze says where the dependencies probably are when the manifests name none', () => {
    const r = ward('graph', 'analyze', '-f', 'k8s:code-only.yaml');
    expect(r.code).toBe(0);
    expect(r.out).toContain('No dependencies found in the inputs');
    expect(r.out).toMatch(/Hints: 1\n {2}code-only\.yaml: its workloads name no other Service/);
    // Diagrams and SARIF have no place for diagnostics: they go to stderr.
    const dot = ward('graph', 'analyze', '-f', 'k8s:shop.yaml', '-o', 'dot');
    expect(dot.out).toMatch(/^digraph ward/);
    expect(dot.err).toContain('Documents skipped: 2');
  });
});
