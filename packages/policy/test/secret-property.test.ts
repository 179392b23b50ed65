import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  checkSecret,
  DIAGNOSTIC_CODES,
  type Diagnostic,
  grantProblem,
  lintPolicy,
  loadPolicy,
  type SecretDocument,
  secretReaderKeys,
  secretSettings,
} from '../src/index.ts';

/**
 * Untrusted-input properties of the Secret kind: random Secret documents (well-formed parts,
 * hostile parts and random JSON mixed) never crash the validator or lint; every problem is a
 * coded, one-line diagnostic with a position; a document that compiles yields settings within
 * the documented bounds.
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
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const list = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 5 });
const ref = fc.oneof(
  pick('inventory', 'orders', 'shop/orders', 'default/reports', '*', 'ns/*', 'a/b/c', 'Up', ''),
  text,
);
const duration = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 2_000_000_000 }), pick('ms', 's', 'm', 'h', 'd'))
    .map(([n, u]) => `${n}${u}`),
  pick('0s', '1m', '59s', '1h', '24h', '30d', '31d', '1.5h', '-1s', '1w', ''),
  text,
);
const grant = fc.oneof(
  pick(
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{name}}',
    'GRANT x TO {{name}}; DROP ROLE y',
    'GRANT x TO {{ name }}',
    'GRANT x TO {{name}} {{owner}}',
    'GRANT x TO {{name}} }}{{',
    'GRANT x TO app',
  ),
  fc.tuple(text, text).map(([a, b]) => `${a}{{name}}${b}`),
  text,
);

const secret = fc.record({
  apiVersion: fc.constant('ward.dev/v1'),
  kind: fc.constant('Secret'),
  metadata: fc.record(
    { name: pick('k', 'api-key', 'K', 'pg'), namespace: maybe(pick('shop', 'x_y', 'default')) },
    { requiredKeys: ['name'] },
  ),
  spec: fc.record(
    {
      owner: ref,
      readers: list(ref),
      type: fc.oneof(pick('static', 'random', 'keypair', 'postgres', 'vault'), text),
      random: fc.record(
        {
          length: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.double()),
          alphabet: pick('base64url', 'hex', 'alphanumeric', 'emoji'),
        },
        { requiredKeys: [] },
      ),
      keypair: fc.record({ algorithm: pick('ed25519', 'ecdsa-p256', 'rsa-2048', 'rsa-512') }),
      rotation: fc.record(
        { every: duration, grace: duration, activation: duration },
        { requiredKeys: [] },
      ),
      postgres: fc.record(
        {
          connection: ref,
          ttl: duration,
          maxTtl: duration,
          grants: fc.array(grant, { maxLength: 34 }),
        },
        { requiredKeys: ['connection', 'grants'] },
      ),
      value: text,
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: [] },
  ),
});

/** Strips `undefined` (YAML would write it as null, which is a different document). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('Secret validation on random documents', () => {
  it('never crashes; every problem is a coded diagnostic with a position', () => {
    fc.assert(
      fc.property(fc.array(secret, { minLength: 1, maxLength: 3 }), (docs) => {
        const text = docs.map((d) => stringify(plain(d))).join('---\n');
        const loaded = loadPolicy([{ file: 'f.yaml', text }]);
        assertClean(loaded.diagnostics);
        assertClean(lintPolicy(loaded.documents));
        if (!loaded.policySet) {
          expect(loaded.diagnostics.some((d) => d.severity === 'error')).toBe(true);
          return;
        }
        // Every Secret that compiled has settings inside the documented bounds.
        for (const sd of loaded.documents) {
          if (sd.document.kind !== 'Secret') continue;
          const s = secretSettings(sd.document);
          expect(s.rotation.graceMs).toBeLessThanOrEqual(30 * 86_400_000);
          expect(s.rotation.activationMs).toBeLessThanOrEqual(3_600_000);
          if (s.rotation.everyMs !== null)
            expect(s.rotation.everyMs).toBeGreaterThanOrEqual(60_000);
          if (s.random) expect(s.random.length).toBeGreaterThanOrEqual(16);
          if (s.postgres) {
            expect(s.postgres.ttlMs).toBeGreaterThanOrEqual(60_000);
            expect(s.postgres.maxTtlMs).toBeGreaterThanOrEqual(s.postgres.ttlMs);
            for (const g of s.postgres.grants) {
              expect(grantProblem(g)).toBeUndefined();
              expect(g).not.toContain(';');
            }
          }
          expect(secretReaderKeys(sd.document)).not.toContain('*');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the semantic check survives a spec of the right shape with hostile values', () => {
    const seen: string[] = [];
    fc.assert(
      fc.property(secret, (s) => {
        const doc = plain(s) as SecretDocument;
        try {
          checkSecret(doc, (code) => seen.push(code));
        } catch (error) {
          // Only a TypeError on a structure the schema would have refused (checks trust it).
          expect(error).toBeInstanceOf(TypeError);
        }
      }),
      { numRuns: 300 },
    );
    expect(seen.every((c) => codes.has(c))).toBe(true);
  });
});
