import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compile,
  type DecisionRequest,
  loadPolicy,
  MAX_QUERY_LENGTH,
  MAX_QUERY_PARAMETERS,
  type PolicyDocument,
  parseQuery,
  RequestProblem,
  runPolicyTests,
  tryCanonicalDecisionRequest,
} from '../src/index.ts';
import { queryVectors } from './request-vectors/vectors.ts';

const vectors = queryVectors();

/** The parameters as `[name, values]` pairs, in the vectors' shape. */
function pairs(query: string): [string, string[]][] {
  const parsed = parseQuery(query);
  return [...parsed.params].map(([k, v]) => [k, [...v]]);
}

/** What WHATWG's URLSearchParams reads, grouped the same way (a leading `&` stops it from
 * dropping a leading `?`, which our raw query has already lost). */
function reference(query: string): [string, string[]][] {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(`&${query}`)) {
    const values = out.get(k);
    if (values) values.push(v);
    else out.set(k, [v]);
  }
  return [...out];
}

describe('query split vectors (tryCanonicalDecisionRequest)', () => {
  for (const v of vectors.split) {
    it(v.name, () => {
      const result = tryCanonicalDecisionRequest(v.request as DecisionRequest);
      if (v.expect.error !== undefined) {
        expect(result).toBeInstanceOf(RequestProblem);
        expect((result as RequestProblem).code).toBe(v.expect.error);
        return;
      }
      expect(result).not.toBeInstanceOf(RequestProblem);
      const r = result as DecisionRequest;
      expect({ method: r.method, path: r.path, query: r.query }).toEqual({
        method: v.expect.method ?? v.request.method,
        path: v.expect.path,
        query: v.expect.query,
      });
    });
  }

  it('gives an already canonical request back as is', () => {
    const request = { method: 'GET', path: '/orders/1', query: 'a=1' };
    expect(tryCanonicalDecisionRequest(request)).toBe(request);
  });

  it('splits any path with a query exactly as canonicalRequest does, and never keeps "?"', () => {
    const piece = fc.constantFrom('/', 'a', '?', '#', '%3F', '%3f', '&', '=', '.', '%2e', 'b=1');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const path = `/${parts.join('')}`;
        const result = tryCanonicalDecisionRequest({ method: 'GET', path });
        if (result instanceof RequestProblem) return;
        expect(result.path).not.toContain('?');
        expect(result.path).not.toContain('#');
        expect(result.query ?? '').not.toContain('#');
        // Idempotent: the canonical form is its own canonical form.
        expect(tryCanonicalDecisionRequest(result)).toEqual(result);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseQuery vectors', () => {
  for (const v of vectors.parse) {
    it(v.name, () => {
      expect(pairs(v.query)).toEqual(v.params);
      expect(reference(v.query)).toEqual(v.params);
      expect(parseQuery(v.query).problem).toBe(
        v.notUtf8
          ? 'its escapes do not decode to UTF-8, which frameworks read differently'
          : undefined,
      );
    });
  }
});

describe('parseQuery properties', () => {
  const piece = fc.constantFrom(
    'a',
    'B',
    '=',
    '&',
    '+',
    '%',
    '%2',
    '%26',
    '%3D',
    '%2B',
    '%C3%A9',
    '%E2%84',
    '%FF',
    '%EF%BB%BF',
    '?',
    '#',
    ';',
    'é',
    '\uD800',
    '\uDC00',
    '%00',
  );
  const queryArb = fc.oneof(
    fc.array(piece, { maxLength: 30 }).map((p) => p.join('')),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );
  const ascii = (s: string) => /^[\x00-\x7f]*$/.test(s);

  it('reads every ASCII query (all a request line carries) as URLSearchParams does', () => {
    fc.assert(
      fc.property(
        fc.oneof(queryArb.filter(ascii), fc.string({ unit: 'binary-ascii', maxLength: 80 })),
        (query) => {
          expect(pairs(query)).toEqual(reference(query));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('reads any query, non-ASCII too, as the WHATWG URL parser does', () => {
    // Node's `new URLSearchParams(string)` mis-decodes raw non-ASCII beside escapes
    // ("é%E2%84"); `new URL()` (ada) follows the standard. The URL parser drops tabs and
    // newlines and reads `#` as the fragment: those are kept out or escaped, and `&z` guards
    // the end from its trimming.
    fc.assert(
      fc.property(
        queryArb.filter((q) => !/[\t\n\r]/.test(q)),
        (query) => {
          const url = new URL(`http://x/?${query.replaceAll('#', '%23')}&z`);
          const want = new Map<string, string[]>();
          for (const [k, v] of url.searchParams) want.set(k, [...(want.get(k) ?? []), v]);
          expect(pairs(`${query}&z`)).toEqual([...want]);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('never throws on any string and gives well-formed names and values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (query) => {
        const parsed = parseQuery(query);
        for (const [name, values] of parsed.params) {
          expect(name.isWellFormed()).toBe(true);
          for (const v of values) expect(v.isWellFormed()).toBe(true);
        }
      }),
    );
  });

  it('reads up to the bounds, and nothing past them', () => {
    const many = Array.from({ length: MAX_QUERY_PARAMETERS }, (_, i) => `p${i}=${i}`).join('&');
    expect(parseQuery(many).params.size).toBe(MAX_QUERY_PARAMETERS);
    const over = parseQuery(`${many}&x=1`);
    expect(over.params.size).toBe(0);
    expect(over.problem).toMatch(/more than 256 parameters/);
    // Empty pieces are not parameters: they do not count.
    expect(parseQuery(`${many}&&&`).problem).toBeUndefined();
    const long = `a=${'x'.repeat(MAX_QUERY_LENGTH - 2)}`;
    expect(parseQuery(long).params.get('a')?.[0]?.length).toBe(MAX_QUERY_LENGTH - 2);
    expect(parseQuery(`${long}x`).problem).toMatch(/8193 characters long/);
  });
});

describe('query and header matching', () => {
  const documents: PolicyDocument[] = [
    {
      apiVersion: 'ward.dev/v1',
      kind: 'Intention',
      metadata: { name: 'q' },
      spec: {
        destination: 'svc',
        rules: [
          {
            sources: ['client'],
            action: 'deny',
            permissions: [
              { http: { query: [{ name: 'debug', exact: 'TRUE', ignoreCase: true }] } },
            ],
          },
          {
            sources: ['client'],
            action: 'allow',
            permissions: [
              {
                http: {
                  paths: [{ exact: '/orders' }],
                  query: [{ name: 'tenant', exact: 'acme' }],
                },
              },
            ],
          },
        ],
      },
    },
  ];
  const set = compile(documents);
  const decide = (query: string | undefined) =>
    set.decide({
      destination: 'svc',
      source: { service: 'client' },
      request: { method: 'GET', path: '/orders', ...(query === undefined ? {} : { query }) },
    });

  it('an allow needs every value of a repeated name to match; a deny any one', () => {
    expect(decide('tenant=acme').allowed).toBe(true);
    expect(decide('tenant=acme&tenant=acme').allowed).toBe(true);
    expect(decide('tenant=acme&tenant=evil').allowed).toBe(false);
    expect(decide('tenant=evil&tenant=acme').allowed).toBe(false);
    expect(decide('tenant=acme&debug=false&debug=True').rule?.index).toBe(0);
    expect(decide('tenant=acme&debug=false').allowed).toBe(true);
    expect(decide(undefined).allowed).toBe(false);
  });

  it('escapes that are not UTF-8 fail closed: the allow does not match, the deny does', () => {
    expect(decide('tenant=acme&x=%FF').rule?.index).toBe(0);
    expect(decide('tenant=acme&x=%C3%A9').allowed).toBe(true);
  });

  it('a query past the bounds fails closed: the allow does not match, the deny does', () => {
    const many = Array.from({ length: MAX_QUERY_PARAMETERS }, (_, i) => `p${i}=1`).join('&');
    const d = decide(`tenant=acme&${many}`);
    expect(d.allowed).toBe(false);
    expect(d.rule?.index).toBe(0);
    const why = set.explain({
      destination: 'svc',
      source: { service: 'client' },
      request: { method: 'GET', path: '/orders', query: `tenant=acme&${many}` },
    });
    expect(why.considered[0]!.detail).toMatch(/not read .*fail closed, so this deny matches/);
    expect(why.considered[1]!.detail).toMatch(/fail closed, so this allow does not match/);
  });

  it('explains a repeated value that an allow refuses', () => {
    const why = set.explain({
      destination: 'svc',
      source: { service: 'client' },
      request: { method: 'GET', path: '/orders', query: 'tenant=acme&tenant=evil' },
    });
    expect(why.considered[1]!.detail).toMatch(
      /query tenant = "acme" does not hold \(2 values; an allow needs every one to match\)/,
    );
  });
});

describe('header and query matcher documents', () => {
  const intention = (http: object): string => `apiVersion: ward.dev/v1
kind: Intention
metadata: { name: q }
spec:
  destination: svc
  rules:
    - { sources: [client], action: allow, permissions: [{ http: ${JSON.stringify(http)} }] }
`;
  const messages = (http: object) =>
    loadPolicy([{ file: 'q.yaml', text: intention(http) }]).diagnostics.map(
      (d) => `${d.code} ${d.path}: ${d.message}`,
    );

  it('accepts ignoreCase beside a value matcher, on headers and query parameters', () => {
    expect(messages({ headers: [{ name: 'accept', prefix: 'text/', ignoreCase: true }] })).toEqual(
      [],
    );
    expect(messages({ query: [{ name: 'q', glob: 'a*', ignoreCase: false }] })).toEqual([]);
  });

  it('refuses two value matchers, none, ignoreCase with present, and bad globs', () => {
    expect(messages({ query: [{ name: 'q', exact: 'a', prefix: 'b' }] })).toEqual([
      'POLICY_SCHEMA_INVALID /spec/rules/0/permissions/0/http/query/0: query parameter "q" must have exactly one of "exact", "prefix", "glob", "regex" or "present" (it has "exact", "prefix")',
    ]);
    expect(messages({ headers: [{ name: 'x-a', ignoreCase: true }] })).toEqual([
      'POLICY_SCHEMA_INVALID /spec/rules/0/permissions/0/http/headers/0: header "x-a" must have exactly one of "exact", "prefix", "glob", "regex" or "present"',
    ]);
    expect(messages({ query: [{ name: 'q', present: true, ignoreCase: true }] })).toEqual([
      'POLICY_SCHEMA_INVALID /spec/rules/0/permissions/0/http/query/0/ignoreCase: query parameter "q": "ignoreCase" applies to "exact", "prefix", "glob" or "regex", not to "present"',
    ]);
    expect(messages({ query: [{ name: 'q', glob: 'a***' }] })).toEqual([
      'POLICY_GLOB_INVALID /spec/rules/0/permissions/0/http/query/0/glob: query parameter glob "a***": three or more consecutive `*` (use `*` or `**`)',
    ]);
    expect(messages({ query: [{ name: '', exact: 'a' }] })[0]).toMatch(/POLICY_SCHEMA_INVALID/);
    expect(messages({ headers: [{ name: 'x-a', regex: '(a' }] })[0]).toMatch(
      /^POLICY_REGEX_INVALID \/spec\/rules\/0\/permissions\/0\/http\/headers\/0\/regex: header "x-a": invalid regular expression/,
    );
    expect(messages({ query: [{ name: 'q', regex: '(a)\\1' }] })[0]).toMatch(
      /POLICY_REGEX_INVALID/,
    );
  });
});

describe('header and query matchers on untrusted documents and requests', () => {
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('a*', '**', '(a', 'a)|(b', '\\', '(?i)x', '[0-9]+', '(a)\\1', '(?=a)', '.*'),
  );
  const matcher = fc.record(
    {
      name: fc.oneof(fc.constantFrom('q', 'x-a', 'A'), fc.string({ maxLength: 6 })),
      exact: value,
      prefix: value,
      glob: value,
      regex: value,
      present: fc.boolean(),
      ignoreCase: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  const query = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc
      .array(fc.constantFrom('q=a', 'q=A', 'q=1', 'x=%FF', 'q', '&', 'q=%61'), { maxLength: 8 })
      .map((p) => p.join('&')),
  );

  it('compile to clean diagnostics or a policy set that decides and explains without throwing', () => {
    fc.assert(
      fc.property(
        fc.array(matcher, { minLength: 1, maxLength: 3 }),
        fc.array(matcher, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('allow', 'deny'),
        query,
        (headers, q, action, raw) => {
          const loaded = loadPolicy([
            {
              file: 'f.yaml',
              text: JSON.stringify({
                apiVersion: 'ward.dev/v1',
                kind: 'Intention',
                metadata: { name: 'f' },
                spec: {
                  destination: 'svc',
                  rules: [
                    { sources: ['*'], action, permissions: [{ http: { headers, query: q } }] },
                  ],
                },
              }),
            },
          ]);
          for (const d of loaded.diagnostics) {
            expect(d.code).toMatch(/^POLICY_(SCHEMA|GLOB|REGEX)_INVALID$/);
            expect(d.message).not.toMatch(/\n/);
          }
          const set = loaded.policySet;
          if (!set) return;
          const input = {
            destination: 'svc',
            source: { service: 'c' },
            request: { method: 'GET', path: '/', query: raw, headers: { 'x-a': raw, q: raw } },
          };
          const d = set.decide(input);
          expect(set.explain(input).decision).toEqual(d);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('runPolicyTests splits as the middleware does', () => {
  it('decides a case written with its query on the path alone, and fails a refused request', () => {
    const loaded = loadPolicy([
      {
        file: 't.yaml',
        text: `apiVersion: ward.dev/v1
kind: Intention
metadata: { name: t }
spec:
  destination: svc
  rules:
    - { sources: [c], action: allow, permissions: [{ http: { paths: [{ exact: /a }], query: [{ name: x, exact: "1" }] } }] }
---
apiVersion: ward.dev/v1
kind: PolicyTest
metadata: { name: t }
spec:
  cases:
    - { name: split, input: { destination: svc, source: { service: c }, request: { path: "/a?x=1#f" } }, expect: { effect: allow, rule: "t#0" } }
    - { name: refused, input: { destination: svc, source: { service: c }, request: { path: "/a%2F?x=1" } }, expect: { effect: deny } }
`,
      },
    ]);
    const report = runPolicyTests(loaded.policySet!, loaded.tests);
    expect(report.results.map((r) => [r.name, r.passed, r.failures])).toEqual([
      ['t/split', true, []],
      [
        't/refused',
        false,
        [
          'request refused (400): REQUEST_ENCODED_SLASH: encoded slash %2F at 2: a path segment cannot contain a slash',
        ],
      ],
    ]);
  });
});
