import { describe, expect, it } from 'vitest';
import { formatDiagnostic, loadPolicy, parseDocuments } from '../src/index.ts';

const lines = (text: string) => parseDocuments(text, 'p.yaml').diagnostics.map(formatDiagnostic);

describe('parseDocuments', () => {
  it('parses multi-document YAML and skips empty documents', () => {
    const r = parseDocuments(
      'apiVersion: ward.dev/v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n---\n---\napiVersion: ward.dev/v1\nkind: Service\nmetadata: {name: b}\nspec: {}\n',
      'p.yaml',
    );
    expect(r.diagnostics).toEqual([]);
    expect(r.documents.map((d) => [d.document.metadata.name, d.index])).toEqual([
      ['a', 0],
      ['b', 2],
    ]);
    expect(r.documents[1]!.positions!.get('/metadata/name')).toEqual({ line: 9, col: 18 });
  });

  it('parses JSON with positions', () => {
    const text =
      '{\n  "apiVersion": "ward.dev/v1",\n  "kind": "Service",\n  "metadata": {"name": "A"},\n  "spec": {}\n}';
    expect(lines(text)).toEqual([
      'p.yaml:4:24: error POLICY_SCHEMA_INVALID /metadata/name: does not match the pattern ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    ]);
  });

  it('reports every schema error, sorted, with file, line, column and path', () => {
    const text = [
      'apiVersion: ward.dev/v1',
      'kind: Intention',
      'metadata: {name: x}',
      'spec:',
      '  destination: orders',
      '  mode: sometimes',
      '  rules:',
      '    - sources: [a]',
      '      action: permit',
      '      extra: 1',
      '    - action: deny',
      '      permissions:',
      '        - http: {paths: [{exact: /a, prefix: /b}]}',
    ].join('\n');
    expect(lines(text)).toEqual([
      'p.yaml:6:9: error POLICY_SCHEMA_INVALID /spec/mode: must be one of "enforce", "dry-run"',
      'p.yaml:9:15: error POLICY_SCHEMA_INVALID /spec/rules/0/action: must be one of "allow", "deny"',
      'p.yaml:10:7: error POLICY_SCHEMA_INVALID /spec/rules/0/extra: unknown field "extra"',
      'p.yaml:11:7: error POLICY_SCHEMA_INVALID /spec/rules/1: missing required field "sources"',
      'p.yaml:13:26: error POLICY_SCHEMA_INVALID /spec/rules/1/permissions/0/http/paths/0: must have exactly one of `exact`, `prefix` or `glob`',
    ]);
  });

  it('reports YAML syntax errors with positions and keeps going with later documents', () => {
    const text = 'a: [1, 2\n---\napiVersion: ward.dev/v1\nkind: Nope\nmetadata: {name: a}\n';
    const out = lines(text);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out[0]).toMatch(/^p\.yaml:\d+:\d+: error POLICY_YAML_SYNTAX \/: /);
    expect(out.at(-1)).toBe(
      'p.yaml:4:7: error POLICY_SCHEMA_INVALID /kind: must be one of "Service", "Intention", "AttributeSchema", "Gateway", "Route", "Secret", "PolicyTest"',
    );
  });

  it('names an unknown key that is a whole mapping on one line (found by the mutation fuzzer)', () => {
    const text =
      'apiVersion: ward.dev/v1\nkind: AttributeSchema\nmetadata: { name: passport }\nspec:\n' +
      '  ? attributes:\n      properties:\n        role: { type: string }\n  : 1\n';
    const { diagnostics } = loadPolicy([{ file: 'x.yaml', text }]);
    const unknown = diagnostics.filter((d) => d.message.startsWith('unknown field'));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]!.message).not.toMatch(/\n/);
    expect(unknown[0]!.message).toContain('attributes:');
  });

  it('rejects duplicate keys and alias bombs cleanly', () => {
    expect(lines('a: 1\na: 2\n')[0]).toMatch(/POLICY_YAML_SYNTAX/);
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    ].join('\n');
    expect(lines(bomb)[0]).toMatch(/POLICY_YAML_SYNTAX/);
  });
});

describe('semantic diagnostics', () => {
  const intention = (rules: string) =>
    `apiVersion: ward.dev/v1\nkind: Intention\nmetadata: {name: i}\nspec:\n  destination: d\n  rules:\n${rules}`;

  it('reports SPIFFE, source, glob, method, path and CEL errors at once', () => {
    const text = intention(
      [
        '    - sources: ["spiffe://Bad/x", "not a name", "web-***"]',
        '      action: allow',
        '      permissions:',
        '        - http: {methods: [get, FETCH], paths: [{prefix: nope}]}',
        '        - grpc: {service: "bad service", methods: ["a.b"]}',
        '      when: source.nmae == "x"',
        '    - sources: [a]',
        '      action: allow',
        '      when: "source.service +"',
        '    - sources: [a]',
        '      action: allow',
        '      when: source.service',
        '    - sources: [a]',
        '      action: allow',
        '      when: nope == 1',
      ].join('\n'),
    );
    const loaded = loadPolicy([{ file: 'p.yaml', text }]);
    expect(loaded.policySet).toBeUndefined();
    expect(loaded.diagnostics.map((d) => `${d.line}:${d.col} ${d.code} ${d.path}`)).toEqual([
      '7:17 POLICY_SPIFFE_INVALID /spec/rules/0/sources/0',
      '7:35 POLICY_SOURCE_INVALID /spec/rules/0/sources/1',
      '7:49 POLICY_GLOB_INVALID /spec/rules/0/sources/2',
      '10:28 POLICY_METHOD_UNKNOWN /spec/rules/0/permissions/0/http/methods/0',
      '10:33 POLICY_METHOD_UNKNOWN /spec/rules/0/permissions/0/http/methods/1',
      '10:49 POLICY_PATH_INVALID /spec/rules/0/permissions/0/http/paths/0',
      '11:27 POLICY_GRPC_INVALID /spec/rules/0/permissions/1/grpc/service',
      '11:52 POLICY_GRPC_INVALID /spec/rules/0/permissions/1/grpc/methods/0',
      '12:13 POLICY_CEL_TYPE /spec/rules/0/when',
      '15:13 POLICY_CEL_SYNTAX /spec/rules/1/when',
      '18:13 POLICY_CEL_TYPE /spec/rules/2/when',
      '21:13 POLICY_CEL_TYPE /spec/rules/3/when',
    ]);
    const messages = loaded.diagnostics.map((d) => d.message);
    expect(messages[3]).toBe('unknown HTTP method "get" (methods are upper case: GET)');
    expect(messages[8]).toMatch(/nmae/);
    expect(messages[10]).toBe('condition must be a bool, but has type string');
    expect(messages[11]).toMatch(/Unknown variable: nope/);
  });

  it('reports duplicate names across files', () => {
    const svc = 'apiVersion: ward.dev/v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n';
    const loaded = loadPolicy([
      { file: 'one.yaml', text: svc },
      { file: 'two.yaml', text: svc },
      {
        file: 'three.yaml',
        text: `${intention('    - {sources: [a], action: allow}')}\n---\n${intention('    - {sources: [a], action: allow}')}`,
      },
    ]);
    expect(loaded.diagnostics.map(formatDiagnostic)).toEqual([
      'three.yaml:11:18: error POLICY_DUPLICATE_NAME /metadata/name: intention "i" is already defined in three.yaml',
      'two.yaml:3:18: error POLICY_DUPLICATE_NAME /metadata/name: service "a" is already defined',
    ]);
  });
});
