import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const policy = `apiVersion: ward.dev/v1
kind: Service
metadata: {name: web}
spec: {}
---
apiVersion: ward.dev/v1
kind: Intention
metadata: {name: api}
spec:
  destination: api
  rules:
    - {sources: [web], action: allow, permissions: [{http: {methods: [GET]}}]}
    - {sources: [web], action: deny, when: 'request.path.startsWith("/admin")'}
    - {sources: [batch], action: allow}
`;

const tests = `apiVersion: ward.dev/v1
kind: PolicyTest
metadata: {name: api}
spec:
  cases:
    - {name: web reads, input: {destination: api, source: {service: web}, request: {method: GET, path: /x}}, expect: {effect: allow, rule: "api#0"}}
    - {name: admin is denied, input: {destination: api, source: {service: web}, request: {method: GET, path: /admin}}, expect: {effect: deny, rule: "api#1"}}
`;

describe('ward policy (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-policy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good');
  mkdirSync(join(good, 'tests'), { recursive: true });
  writeFileSync(join(good, 'api.yaml'), policy);
  writeFileSync(join(good, 'tests', 'api.yaml'), tests);
  writeFileSync(join(good, 'notes.txt'), 'not a policy');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    policy
      .replace('action: allow, permissions', 'action: permit, permissions')
      .replace('request.path', 'request.pth'),
  );

  it('check: prints every diagnostic as file:line:col and exits 1 on errors', () => {
    const r = ward('policy', 'check', '-f', bad);
    expect(r.code).toBe(1);
    expect(r.out.trim().split('\n')).toEqual([
      `${bad}:12:32: error POLICY_SCHEMA_INVALID /spec/rules/0/action: must be one of "allow", "deny"`,
    ]);
    const fixed = join(dir, 'cel.yaml');
    writeFileSync(fixed, policy.replace('request.path', 'request.pth'));
    const c = ward('policy', 'check', '-f', fixed);
    expect(c.code).toBe(1);
    expect(c.out).toMatch(
      new RegExp(
        `^${fixed.replaceAll('/', '\\/')}:13:44: error POLICY_CEL_TYPE /spec/rules/1/when: .*pth`,
      ),
    );
  });

  it('check: walks directories, lints, and prints JSON', () => {
    const r = ward('policy', 'check', '-f', good, '-o', 'json');
    expect(r.code).toBe(0);
    const diagnostics = JSON.parse(r.out) as Array<{
      code: string;
      severity: string;
      line: number;
    }>;
    expect(diagnostics.map((d) => [d.code, d.severity, d.line])).toEqual([
      ['LINT_UNKNOWN_SERVICE', 'warning', 10],
      ['LINT_UNKNOWN_SERVICE', 'warning', 14],
    ]);
  });

  it('eval: decides one input, with --explain', () => {
    const input = JSON.stringify({
      destination: 'api',
      source: { service: 'web' },
      request: { method: 'GET', path: '/admin/x' },
    });
    const r = ward('policy', 'eval', '-f', good, '--input', input);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      effect: 'deny',
      allowed: false,
      rule: { policy: 'api', index: 1 },
    });
    const file = join(dir, 'input.json');
    writeFileSync(file, input);
    const e = ward('policy', 'eval', '-f', good, '--input', `@${file}`, '--explain');
    const ex = JSON.parse(e.out);
    expect(ex.considered).toHaveLength(3);
    expect(ex.considered[2].detail).toBe('source web not in [batch]');
  });

  it('eval: names in the default namespace may be written out; other namespaces are other services', () => {
    const decide = (destination: string, service: string) =>
      JSON.parse(
        ward(
          'policy',
          'eval',
          '-f',
          good,
          '--input',
          JSON.stringify({
            destination,
            source: { service },
            request: { method: 'GET', path: '/x' },
          }),
        ).out,
      );
    expect(decide('default/api', 'default/web')).toMatchObject({
      effect: 'allow',
      rule: { policy: 'api', index: 0 },
    });
    expect(decide('api', 'team-b/web')).toMatchObject({ effect: 'deny', rule: null });
    expect(decide('team-b/api', 'web').reason).toMatch(/no intention names this destination/);
  });

  it('eval: decides on the canonical request, as the middleware does', () => {
    const decide = (method: string, path: string) =>
      ward(
        'policy',
        'eval',
        '-f',
        good,
        '--input',
        JSON.stringify({
          destination: 'api',
          source: { service: 'web' },
          request: { method, path },
        }),
      );
    // The query is not part of the path; encoded letters and dot segments resolve to /admin.
    for (const path of ['/admin/x?debug=1', '/%61dmin/x', '/ok/../admin/x', '/ok/%2e%2e/admin/x']) {
      const r = decide('GET', path);
      expect(r.code, path).toBe(0);
      expect(JSON.parse(r.out), path).toMatchObject({ effect: 'deny', rule: { index: 1 } });
    }
    // HEAD is decided as GET, so the GET-only allow covers it.
    expect(JSON.parse(decide('HEAD', '/ok').out)).toMatchObject({ effect: 'allow' });
    const bad = decide('GET', '/a%2Fb');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(
      /^ward: --input request: REQUEST_ENCODED_SLASH: encoded slash %2F at 2/,
    );
  });

  it('eval: matches query parameters on the query split from the path', () => {
    const file = join(dir, 'query.yaml');
    writeFileSync(
      file,
      `apiVersion: ward.dev/v1
kind: Intention
metadata: {name: api}
spec:
  destination: api
  rules:
    - {sources: [web], action: deny, permissions: [{http: {query: [{name: debug, exact: "ON", ignoreCase: true}]}}]}
    - {sources: [web], action: allow, permissions: [{http: {paths: [{exact: /x}], query: [{name: tenant, exact: acme}]}}]}
`,
    );
    const decide = (request: object) =>
      ward(
        'policy',
        'eval',
        '-f',
        file,
        '--input',
        JSON.stringify({ destination: 'api', source: { service: 'web' }, request }),
      );
    const rule = (request: object) => JSON.parse(decide(request).out).rule?.index ?? 'default';
    expect(rule({ path: '/x?tenant=acme#frag' })).toBe(1);
    expect(rule({ path: '/x', query: 'tenant=acme' })).toBe(1);
    expect(rule({ path: '/x?tenant=acme&tenant=other' })).toBe('default');
    expect(rule({ path: '/x?tenant=acme&debug=off&debug=On' })).toBe(0);
    expect(rule({ path: '/x%3Ftenant=acme' })).toBe('default');
    const both = decide({ path: '/x?tenant=acme', query: 'tenant=acme' });
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/REQUEST_TARGET_INVALID: the request has a query both in its path/);
  });

  it('eval: bad input is a clear error, not a stack trace', () => {
    const r = ward('policy', 'eval', '-f', good, '--input', '{"destination": 1}');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /^ward: --input is not a decision input: \/: missing required field "source"; \/destination: must be a string\n$/,
    );
    const s = ward('policy', 'eval', '-f', bad, '--input', '{"destination":"api","source":{}}');
    expect(s.code).toBe(1);
    expect(s.err).toMatch(
      /POLICY_SCHEMA_INVALID[\s\S]*ward: policy does not compile: 1 error\(s\)/,
    );
  });

  it('test: a line per case, coverage, exit 0 when all pass', () => {
    const r = ward('policy', 'test', '-f', good);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`PASS: api/web reads (${join(good, 'tests', 'api.yaml')}:6)`);
    expect(r.out).toContain('PASS: 2/2');
    expect(r.out).toContain('coverage: 2/3 rules exercised; never exercised: api#2');
  });

  it('test: exit 1 on any failure, saying what differed', () => {
    const failing = join(dir, 'failing');
    mkdirSync(failing);
    writeFileSync(join(failing, 'api.yaml'), policy);
    writeFileSync(
      join(failing, 't.yaml'),
      tests.replace('expect: {effect: deny, rule: "api#1"}', 'expect: {effect: allow}'),
    );
    const r = ward('policy', 'test', '-f', failing);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL: api/admin is denied');
    expect(r.out).toContain('  effect: want allow, got deny');
    expect(r.out).toContain('PASS: 1/2, FAIL: 1/2');
  });

  it('reports missing paths', () => {
    const r = ward('policy', 'check', '-f', join(dir, 'nope'));
    expect(r.code).toBe(2);
    expect(r.err).toBe(`ward: -f ${join(dir, 'nope')}: no such file or directory\n`);
  });
});
