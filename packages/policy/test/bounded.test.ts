import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../src/glob.ts';
import {
  compile,
  type DecisionInput,
  formatDiagnostic,
  loadPolicy,
  type PolicySet,
  tryCompile,
} from '../src/index.ts';
import { backtrackingGlob } from './backtracking-glob.ts';

/**
 * Bounded evaluation (issue 9, item 4): one request must not freeze a service's event loop. Each
 * attack below took seconds to minutes per decision before globs became linear and `matches()`
 * moved to re2js; the tests assert the right answer and, through the test timeout, that it comes.
 */

function policy(rule: Record<string, unknown>): PolicySet {
  return compile([
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'api' },
      spec: { destination: 'api', rules: [{ sources: ['*'], action: 'allow', ...rule }] },
    },
  ] as never);
}

function input(request: DecisionInput['request'], passport?: DecisionInput['passport']) {
  return {
    destination: 'api',
    source: { service: 'web' },
    request,
    ...(passport ? { passport } : {}),
  };
}

const globPolicy = (glob: string) => policy({ permissions: [{ http: { paths: [{ glob }] } }] });

describe('globs match in linear time', () => {
  it('/**/**/**/**/x against a 1,000-character path (4.4 s per decision before)', () => {
    const set = globPolicy('/**/**/**/**/x');
    const miss = `/${'a/'.repeat(499)}`;
    expect(set.decide(input({ method: 'GET', path: miss })).allowed).toBe(false);
    expect(set.decide(input({ method: 'GET', path: `${miss}b/c/x` })).allowed).toBe(true);
  });

  it('a glob of twenty ** against 61 slashes (210 s per decision before)', () => {
    const set = globPolicy(`${'/**'.repeat(20)}/x`);
    expect(set.decide(input({ method: 'GET', path: '/'.repeat(61) })).allowed).toBe(false);
    expect(set.decide(input({ method: 'GET', path: `${'/'.repeat(61)}x` })).allowed).toBe(true);
  });

  it('single-segment stars interleaved with literals, against a long segment', () => {
    const set = globPolicy('/*a*a*a*a*a*a*a*a*b');
    expect(set.decide(input({ method: 'GET', path: `/${'a'.repeat(5000)}` })).allowed).toBe(false);
    expect(set.decide(input({ method: 'GET', path: `/${'a'.repeat(50)}b` })).allowed).toBe(true);
    expect(set.decide(input({ method: 'GET', path: `/${'a'.repeat(50)}/b` })).allowed).toBe(false);
  });

  it('agrees with the old backtracking matcher on random globs and paths', () => {
    const char = fc.constantFrom('a', 'b', '/', '*', '.', '-');
    const text = fc.constantFrom('a', 'b', '/', '.', '-', '*');
    fc.assert(
      fc.property(
        fc.array(char, { maxLength: 16 }).map((c) => c.join('').replace(/\*{3,}/g, '**')),
        fc.array(text, { maxLength: 20 }).map((c) => c.join('')),
        (pattern, value) => {
          expect(compileGlob(pattern).test(value)).toBe(backtrackingGlob(pattern).test(value));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('agrees with it on long inputs too (where single stars go to re2js)', () => {
    const char = fc.constantFrom('a', 'b', '/', '*', '-');
    fc.assert(
      fc.property(
        fc
          .array(char, { maxLength: 10 })
          .map((c) => c.join(''))
          .filter((p) => !/\*{3,}/.test(p) && (p.match(/\*/g) ?? []).length <= 4),
        fc.array(fc.constantFrom('a', 'b', '/', '-'), { maxLength: 12 }).map((c) => c.join('')),
        fc.nat(3),
        (pattern, value, pad) => {
          const long = `${value.slice(0, pad)}${'ab'.repeat(40)}${value.slice(pad)}`;
          expect(compileGlob(pattern).test(long)).toBe(backtrackingGlob(pattern).test(long));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('matches() runs on RE2 (linear time)', () => {
  it('^/(a+)+$ against 29 characters (8.7 s per decision before)', () => {
    const set = policy({ when: 'request.path.matches("^/(a+)+$")' });
    const evil = `/${'a'.repeat(27)}!`;
    expect(set.decide(input({ method: 'GET', path: evil })).allowed).toBe(false);
    expect(set.decide(input({ method: 'GET', path: `/${'a'.repeat(5000)}!` })).allowed).toBe(false);
    expect(set.decide(input({ method: 'GET', path: '/aaa' })).allowed).toBe(true);
  });

  it('is a search, as CEL specifies (not anchored unless the pattern says so)', () => {
    const set = policy({ when: 'request.headers["x-id"].matches("[0-9]{3}")' });
    expect(set.decide(input({ method: 'GET', headers: { 'x-id': 'ab123cd' } })).allowed).toBe(true);
    expect(set.decide(input({ method: 'GET', headers: { 'x-id': 'ab12cd' } })).allowed).toBe(false);
  });

  it('refuses an invalid pattern at load, with file, line and column', () => {
    const text = `apiVersion: ward.dev/v1
kind: Intention
metadata: {name: api}
spec:
  destination: api
  rules:
    - sources: [web]
      action: allow
      when: 'request.path.matches("(a")'
`;
    const { policySet, diagnostics } = loadPolicy([{ file: 'api.yaml', text }]);
    expect(policySet).toBeUndefined();
    expect(diagnostics.map(formatDiagnostic)).toEqual([
      'api.yaml:9:13: error POLICY_CEL_REGEX /spec/rules/0/when: invalid regular expression "(a": error parsing regexp: missing closing ): `(a` (at character 22)',
    ]);
  });

  it('refuses patterns RE2 does not support (backreferences, lookaround)', () => {
    for (const p of ['(a)\\\\1', '(?=a)b', '(?<!a)b']) {
      const { diagnostics } = tryCompile([
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'api' },
          spec: {
            destination: 'api',
            rules: [{ sources: ['*'], action: 'allow', when: `request.path.matches("${p}")` }],
          },
        },
      ] as never);
      expect(diagnostics.map((d) => d.code)).toEqual(['POLICY_CEL_REGEX']);
    }
  });

  it('refuses a pattern computed at run time', () => {
    const { diagnostics } = tryCompile([
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'api' },
        spec: {
          destination: 'api',
          rules: [
            { sources: ['*'], action: 'allow', when: 'request.path.matches(request.headers["x"])' },
          ],
        },
      },
    ] as never);
    expect(diagnostics.map((d) => [d.code, d.message])).toEqual([
      [
        'POLICY_CEL_REGEX',
        'matches() takes a constant string pattern (a pattern computed from request data could not be checked when the policy is applied) (at character 22)',
      ],
    ]);
  });

  it('random patterns are accepted or refused and, when accepted, decide', () => {
    const atom = fc.constantFrom(
      'a',
      'b',
      '(',
      ')',
      '+',
      '*',
      '?',
      '|',
      '[',
      ']',
      '^',
      '$',
      '.',
      '{2}',
      '\\\\d',
    );
    fc.assert(
      fc.property(
        fc.array(atom, { maxLength: 14 }).map((a) => a.join('')),
        fc.string({ maxLength: 40 }),
        (pattern, path) => {
          const { policySet, diagnostics } = tryCompile([
            {
              apiVersion: 'ward.dev/v1',
              kind: 'Intention',
              metadata: { name: 'api' },
              spec: {
                destination: 'api',
                rules: [
                  { sources: ['*'], action: 'allow', when: `request.path.matches("${pattern}")` },
                ],
              },
            },
          ] as never);
          if (!policySet) {
            expect(diagnostics.map((d) => d.code)).toEqual(['POLICY_CEL_REGEX']);
            return;
          }
          const d = policySet.decide(input({ method: 'GET', path: `${path}${'a'.repeat(40)}!` }));
          expect(typeof d.allowed).toBe('boolean');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('CEL cost is bounded at compile time', () => {
  const codeOf = (when: string) =>
    tryCompile([
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'api' },
        spec: { destination: 'api', rules: [{ sources: ['*'], action: 'allow', when }] },
      },
    ] as never).diagnostics.map((d) => `${d.code}: ${d.message}`);

  it('accepts comprehensions nested two deep within the cost budget', () => {
    expect(codeOf('request.headers.exists(k, ["a", "b"].exists(v, k == v))')).toEqual([]);
  });

  it('refuses comprehensions nested three deep', () => {
    expect(
      codeOf('request.headers.all(a, request.headers.all(b, request.headers.all(c, a == c)))'),
    ).toEqual([
      'POLICY_CEL_COST: comprehension all() nested 3 deep; the limit is 2 (at character 47)',
    ]);
  });

  it('refuses a condition whose multiplied-out cost is over the budget', () => {
    const body = Array.from({ length: 8 }, (_, i) => `b.startsWith("${i}")`).join(' || ');
    expect(codeOf(`request.headers.all(a, request.headers.exists(b, ${body}))`)).toEqual([
      expect.stringMatching(/^POLICY_CEL_COST: condition may evaluate \d+ expression nodes/),
    ]);
  });

  it('refuses an over-long condition and an over-long list literal', () => {
    expect(codeOf(`request.path == "${'a'.repeat(5000)}"`)).toEqual([
      'POLICY_SCHEMA_INVALID: must NOT have more than 4096 characters',
    ]);
    const list = `[${Array.from({ length: 300 }, (_, i) => `"${i}"`).join(',')}]`;
    expect(codeOf(`request.method in ${list}`)).toEqual([
      expect.stringMatching(/^POLICY_CEL_SYNTAX: Exceeded maxListElements \(256\)/),
    ]);
  });
});

describe('caller-driven inputs are bounded where they enter CEL (fail closed)', () => {
  const headers = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v']));

  it('more than 64 headers: an allow reading headers does not match, a deny does', () => {
    const allow = policy({ when: 'request.headers.exists(k, k == "x-h1")' });
    expect(allow.decide(input({ method: 'GET', headers: headers(64) })).allowed).toBe(true);
    expect(allow.decide(input({ method: 'GET', headers: headers(65) })).allowed).toBe(false);
    const deny = compile([
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'api' },
        spec: {
          destination: 'api',
          rules: [
            { sources: ['*'], action: 'deny', when: 'request.headers.exists(k, k == "x-evil")' },
            { sources: ['*'], action: 'allow' },
          ],
        },
      },
    ] as never);
    expect(deny.decide(input({ method: 'GET', headers: headers(65) })).allowed).toBe(false);
    // A condition that reads only the method is not affected by the headers.
    const method = policy({ when: 'request.method == "GET"' });
    expect(method.decide(input({ method: 'GET', headers: headers(500) })).allowed).toBe(true);
  });

  it('an over-long header value or path fails closed', () => {
    const set = policy({ when: 'request.headers["x"].startsWith("a") || request.path == "/"' });
    expect(set.decide(input({ method: 'GET', headers: { x: 'a'.repeat(4096) } })).allowed).toBe(
      true,
    );
    expect(set.decide(input({ method: 'GET', headers: { x: 'a'.repeat(4097) } })).allowed).toBe(
      false,
    );
    const path = policy({ when: 'request.path.startsWith("/a")' });
    expect(path.decide(input({ method: 'GET', path: `/${'a'.repeat(9000)}` })).allowed).toBe(false);
  });

  it('passport attributes with a list over 64 elements fail closed', () => {
    const set = policy({ when: 'passport.attrs.roles.exists(r, r == "admin")' });
    const claims = (roles: string[]) => ({
      sub: 'u',
      iss: 'edge',
      kid: 'k',
      iat: 1,
      exp: 2,
      attrs: { roles },
    });
    expect(set.decide(input({ method: 'GET' }, claims(['admin']))).allowed).toBe(true);
    const many = [...Array.from({ length: 64 }, (_, i) => `r${i}`), 'admin'];
    expect(set.decide(input({ method: 'GET' }, claims(many))).allowed).toBe(false);
  });

  it('split() over 64 parts fails closed', () => {
    const set = policy({ when: 'request.path.split("/").exists(s, s == "admin")' });
    expect(set.decide(input({ method: 'GET', path: '/x/admin' })).allowed).toBe(true);
    expect(set.decide(input({ method: 'GET', path: `${'/x'.repeat(70)}/admin` })).allowed).toBe(
      false,
    );
  });
});
