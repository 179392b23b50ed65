import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  checkGateway,
  checkRoute,
  DIAGNOSTIC_CODES,
  type Diagnostic,
  type GatewayDocument,
  loadPolicy,
  type RouteDocument,
} from '../src/index.ts';

/**
 * Untrusted-input properties of the edge's kinds: random Gateway and Route documents (well-formed
 * parts, hostile parts and random JSON mixed) never crash the validator, and every problem is a
 * coded diagnostic with a position.
 */
const codes = new Set<string>(DIAGNOSTIC_CODES);

function assertClean(diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) {
    expect(d.file).toBe('f.yaml');
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(codes.has(d.code), d.code).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toMatch(/\n/);
  }
}

const pick = <T>(...values: T[]) => fc.constantFrom(...values);
const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 10 }));
const urlish = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  pick(
    'https://idp.example.com',
    'http://127.0.0.1:9000',
    'http://[::1]',
    'http://localhost.evil.com',
    'https://u:p@h',
    'javascript:alert(1)',
    'https://h/\u0000',
    '//no-scheme',
  ),
  text,
);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const list = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 4 });
const method = fc.oneof(pick('GET', 'POST', 'get', 'FETCH', ''), text);
const jsonSchema = fc.oneof(
  fc.boolean(),
  fc.record({
    type: maybe(pick('object', 'string', 'integer', 'nope')),
    pattern: maybe(fc.oneof(pick('^[a-z]+$', '(a)\\1', '(a+)+$', '['), text)),
    properties: maybe(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }))),
    $ref: maybe(pick('#/nowhere', 'https://evil.example/schema.json', '#')),
    format: maybe(pick('email', 'date-time')),
  }),
  fc.jsonValue({ maxDepth: 3 }),
);

const gateway = fc.record({
  apiVersion: fc.constant('ward.dev/v1'),
  kind: fc.constant('Gateway'),
  metadata: fc.record({ name: pick('edge', 'Edge', 'e'), namespace: maybe(pick('shop', 'x_y')) }),
  spec: fc.record(
    {
      oidc: list(
        fc.record(
          {
            issuer: urlish,
            audiences: list(text),
            algorithms: maybe(list(pick('RS256', 'none', 'HS256', 'EdDSA', 'rs256', ''))),
            jwksUri: maybe(urlish),
            clockSkewSec: maybe(fc.integer({ min: -5, max: 500 })),
          },
          { requiredKeys: ['issuer', 'audiences'] },
        ),
      ),
      apiKeys: list(
        fc.record({
          id: pick('a', 'a', 'B!', ''),
          sha256: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), text),
          subject: text,
          key: maybe(text),
        }),
      ),
      cors: maybe(
        fc.record({
          origins: list(fc.oneof(pick('*', 'https://a.example', 'https://A.example/'), urlish)),
          methods: maybe(list(method)),
          credentials: maybe(fc.boolean()),
        }),
      ),
      trustedProxies: list(
        fc.oneof(pick('10.0.0.0/8', '::1/129', '1.2.3.4/', 'fe80::1%eth0', '[::1]'), text),
      ),
    },
    { requiredKeys: [] },
  ),
});

const route = fc.record({
  apiVersion: fc.constant('ward.dev/v1'),
  kind: fc.constant('Route'),
  metadata: fc.record({ name: pick('r', 'R'), namespace: maybe(pick('shop')) }),
  spec: fc.record(
    {
      gateway: pick('edge', 'Edge', 'a/b'),
      match: fc.record(
        {
          path: maybe(fc.oneof(pick('/a', 'a'), text)),
          pathPrefix: maybe(fc.oneof(pick('/api/', 'api'), text)),
          methods: maybe(list(method)),
          hosts: maybe(list(fc.oneof(fc.domain(), pick('A.example', 'h:80'), text))),
        },
        { requiredKeys: [] },
      ),
      auth: maybe(pick('required', 'optional', 'none', 'maybe')),
      upstream: fc.record(
        {
          service: pick('frontend', 'shop/frontend', 'a/b/c', ''),
          endpoints: list(urlish),
          stripPrefix: maybe(fc.boolean()),
        },
        { requiredKeys: ['service', 'endpoints'] },
      ),
      rateLimits: maybe(
        list(
          fc.record({
            by: pick('ip', 'user', 'x'),
            limit: fc.integer({ min: -1, max: 2e9 }),
            windowSec: fc.integer({ min: 0, max: 1e5 }),
          }),
        ),
      ),
      requestSchema: maybe(jsonSchema),
    },
    { requiredKeys: ['gateway', 'match', 'upstream'] },
  ),
});

/** Strips `undefined` (YAML would write it as null, which is a different document). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('Gateway and Route validation on random documents', () => {
  it('never crashes; every problem is a coded diagnostic with a position', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(gateway, route), { minLength: 1, maxLength: 3 }), (docs) => {
        const text = docs.map((d) => stringify(plain(d))).join('---\n');
        const loaded = loadPolicy([{ file: 'f.yaml', text }]);
        assertClean(loaded.diagnostics);
        if (!loaded.policySet) {
          expect(loaded.diagnostics.some((d) => d.severity === 'error')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the semantic checks survive any JSON in place of a schema-valid spec part', () => {
    const seen: string[] = [];
    const report = (code: string) => seen.push(code);
    fc.assert(
      fc.property(route, jsonSchema, (r, schema) => {
        const doc = plain(r) as RouteDocument;
        doc.spec.requestSchema = schema as RouteDocument['spec']['requestSchema'];
        if (!doc.spec.match || !Array.isArray(doc.spec.upstream?.endpoints)) return;
        checkRoute(doc, report);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(gateway, (g) => {
        const doc = plain(g) as GatewayDocument;
        try {
          checkGateway(doc, report);
        } catch (error) {
          // Only a TypeError on a structure the schema would have refused (checks trust it).
          expect(error).toBeInstanceOf(TypeError);
        }
      }),
      { numRuns: 200 },
    );
    expect(seen.every((c) => codes.has(c))).toBe(true);
  });
});
