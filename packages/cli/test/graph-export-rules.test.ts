/**
 * `ward graph export istio|networkpolicy -f POLICY_DIR` exports from the Intention rules (issue
 * 14): the manifests on stdout or per namespace, every rule part the target cannot carry listed on
 * stderr (`could not express: …`) and in `-o json`; `--from edges` keeps the edge export, `--from
 * rules` without intentions is a usage error, a policy that does not compile exits 2.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const fixtures = join(import.meta.dirname, '..', '..', 'graph', 'test', 'fixtures');
const policy = join(fixtures, 'rule-export');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ward graph export from rules (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-graph-export-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** `ward graph export istio` of one file written with `text`. */
  const exportIstio = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return ward('graph', 'export', 'istio', '-f', file);
  };

  it('Istio from a policy directory: DENY, dry-run, and the report on stderr', () => {
    const r = ward('graph', 'export', 'istio', '-f', policy);
    expect(r.code).toBe(0);
    const names = parseAllDocuments(r.out).map(
      (d) => (d.toJS() as { metadata: { name: string } }).metadata.name,
    );
    expect(names).toContain('ward-deny-orders');
    expect(names).toContain('ward-allow-orders');
    expect(names).toContain('ward-deny-reports-dry-run');
    expect(r.err).toContain(
      'could not express: orders-callers#2 path "/admin/*": no Istio path form',
    );
    expect(r.err).toContain('could not express: payments-callers#1 when: request.method == "POST"');
  });

  it('--strict: exit 1 when something could not be expressed, 0 when all was', () => {
    const r = ward('graph', 'export', 'istio', '-f', policy, '--strict');
    expect(r.code).toBe(1);
    expect(r.out).toContain('ward-allow-orders');
    expect(r.err).toMatch(/failed \(--strict\): \d+ rule part\(s\) could not be expressed/);
    const shop = join(fixtures, 'rule-export-shop', 'intentions.yaml');
    const clean = ward(
      'graph',
      'export',
      'istio',
      '-f',
      `k8s:${join(fixtures, 'shop-app', 'shop.yaml')}`,
      '-f',
      shop,
      '--strict',
    );
    expect(clean.code).toBe(0);
  });

  it('-o json carries the report beside the items', () => {
    const r = ward('graph', 'export', 'istio', '-f', policy, '-o', 'json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as {
      kind: string;
      items: unknown[];
      unexpressed: { rule: string }[];
    };
    expect(list.kind).toBe('List');
    expect(list.items.length).toBeGreaterThan(5);
    expect(new Set(list.unexpressed.map((u) => u.rule)).size).toBe(9);
  });

  it('NetworkPolicies per namespace from the approved rules', () => {
    const out = join(dir, 'np');
    const r = ward('graph', 'export', 'networkpolicy', '-f', policy, '--output-dir', out);
    expect(r.code).toBe(0);
    expect(readdirSync(out)).toEqual(['default.networkpolicy.yaml']);
    expect(r.err).toMatch(/could not express: orders-callers#0 permissions: NetworkPolicy is L4/);
  });

  it('--from edges keeps the edge export; --from rules needs intentions', () => {
    const edges = ward(
      'graph',
      'export',
      'istio',
      '-f',
      policy,
      '--from',
      'edges',
      '--allow-empty',
    );
    expect(edges.code).toBe(0);
    expect(edges.err).not.toContain('could not express');
    const none = ward(
      'graph',
      'export',
      'istio',
      '-f',
      join(policy, 'services.yaml'),
      '--from',
      'rules',
    );
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^ward: --from rules: the inputs hold no Intention documents/);
  });

  it('a policy that does not compile exits 2 with its position', () => {
    const r = exportIstio(
      'bad.yaml',
      'apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: bad }\nspec:\n  destination: orders\n  rules: [{ sources: [x], action: allow, when: "request.nope(" }]\n',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.yaml:6:\d+/);
  });

  it('rule text in the report goes through the terminal escaping', () => {
    const r = exportIstio(
      'esc.yaml',
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: a }\nspec: {}\n---\napiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: esc }\nspec:\n  destination: a\n  rules: [{ sources: ["*"], action: allow, when: "request.path == \\"\\e[2J\\"" }, { sources: ["*"], action: allow }]\n',
    );
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('\u001b');
    expect(r.err).toContain('could not express: esc#0 when: request.path == "\\u001b[2J"');
  });
});
