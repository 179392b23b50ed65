import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Scalar, stringify } from 'yaml';
import {
  DIAGNOSTIC_CODES,
  type Diagnostic,
  lintPolicy,
  loadPolicy,
  parseDocuments,
} from '../src/index.ts';
import { scalarPosition } from '../src/position.ts';

/**
 * Attribute schemas under untrusted input: random attribute names, types and conditions never
 * crash the compiler or the linter (only diagnostics come back), and positions inside conditions
 * always land inside the condition, on the very character for scalars without escapes.
 */
const codes = new Set<string>(DIAGNOSTIC_CODES);

function assertClean(diagnostics: Diagnostic[]): void {
  for (const d of diagnostics) {
    expect(codes.has(d.code)).toBe(true);
    expect(Number.isInteger(d.line) && d.line >= 1).toBe(true);
    expect(Number.isInteger(d.col) && d.col >= 1).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
  }
}

const scalar = fc.constantFrom('string', 'number', 'integer', 'boolean');
const attributeType = fc.oneof(
  { arbitrary: fc.record({ type: scalar }), weight: 8 },
  {
    arbitrary: fc.record({ type: fc.constant('array'), items: fc.record({ type: scalar }) }),
    weight: 3,
  },
  fc.record({
    type: scalar,
    enum: fc.array(fc.oneof(fc.string(), fc.integer(), fc.boolean()), {
      minLength: 1,
      maxLength: 3,
    }),
  }),
  // Invalid on purpose: arrays without items, items on scalars.
  fc.record({ type: fc.constant('array') }),
  fc.record({ type: scalar, items: fc.record({ type: scalar }) }),
);
const name = fc.oneof(
  fc.constantFrom(
    'tier',
    'level',
    'in',
    'true',
    'null',
    '__proto__',
    'constructor',
    'x-team',
    'a.b',
    'ward.dev/role',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const literal = fc.oneof(
  fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
  fc.integer({ min: -5, max: 5 }).map(String),
  fc.constantFrom('1.5', 'true', 'null', '[]', '{}'),
);
const read = (n: string) =>
  fc.constantFrom(
    `passport.attrs[${JSON.stringify(n)}]`,
    /^[a-z_][a-z0-9_]*$/i.test(n) ? `passport.attrs.${n}` : `passport.attrs[${JSON.stringify(n)}]`,
    `source.labels[${JSON.stringify(n)}]`,
    `has(passport.attrs.${/^[a-z_][a-z0-9_]*$/i.test(n) ? n : 'x'})`,
  );
const condition = fc
  .tuple(name, fc.constantFrom('==', '!=', '<', 'in', '+'), literal)
  .chain(([n, op, lit]) =>
    read(n).map((r) => (op === 'in' ? `${lit} in ${r}` : `${r} ${op} ${lit}`)),
  );

describe('attribute schemas: property', () => {
  it('random attribute names, types and conditions give diagnostics, never a crash', () => {
    fc.assert(
      fc.property(
        fc.dictionary(name, attributeType, { maxKeys: 6 }),
        fc.dictionary(name, fc.record({ type: fc.constantFrom('string', 'integer') }), {
          maxKeys: 3,
        }),
        fc.option(fc.constantFrom('default', 'edge'), { nil: undefined }),
        fc.array(condition, { minLength: 1, maxLength: 4 }),
        (attributes, labels, zone, conditions) => {
          const docs = [
            {
              apiVersion: 'ward.dev/v1',
              kind: 'AttributeSchema',
              metadata: { name: 's' },
              spec: {
                ...(zone ? { zone } : {}),
                attributes: { properties: attributes },
                labels: { properties: labels },
              },
            },
            {
              apiVersion: 'ward.dev/v1',
              kind: 'Intention',
              metadata: { name: 'i' },
              spec: {
                destination: 'orders',
                rules: conditions.map((when) => ({ sources: ['web'], action: 'allow', when })),
              },
            },
          ];
          const text = docs.map((d) => stringify(d)).join('---\n');
          const loaded = loadPolicy([{ file: 'f.yaml', text }]);
          assertClean(loaded.diagnostics);
          assertClean(lintPolicy(loaded.documents));
          if (loaded.policySet) {
            const d = loaded.policySet.decide({
              destination: 'orders',
              source: { service: 'web' },
            });
            expect(['allow', 'deny']).toContain(d.effect);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a declared attribute compiles wherever it is read, whatever its name', () => {
    fc.assert(
      fc.property(name, scalar, (key, type) => {
        const k = JSON.stringify(key);
        const when = `has(passport.attrs.x) || ${k} in passport.attrs || passport.attrs[?${k}].hasValue()`;
        const text = [
          stringify({
            apiVersion: 'ward.dev/v1',
            kind: 'AttributeSchema',
            metadata: { name: 's' },
            spec: { attributes: { properties: { [key]: { type }, x: { type: 'string' } } } },
          }),
          stringify({
            apiVersion: 'ward.dev/v1',
            kind: 'Intention',
            metadata: { name: 'i' },
            spec: { destination: 'orders', rules: [{ sources: ['web'], action: 'allow', when }] },
          }),
        ].join('---\n');
        const loaded = loadPolicy([{ file: 'f.yaml', text }]);
        expect(loaded.diagnostics).toEqual([]);
        const d = loaded.policySet!.decide({
          destination: 'orders',
          source: { service: 'web' },
          passport: { sub: 'u', attrs: { [key]: 'v' }, iat: 1, exp: 2, iss: 'i', kid: 'k' },
        });
        expect(['allow', 'deny']).toContain(d.effect); // run time is as without a schema
      }),
      { numRuns: 200 },
    );
  });

  it('a position inside a condition is the character itself (plain, quoted, block scalars)', () => {
    const styles = [
      Scalar.PLAIN,
      Scalar.QUOTE_SINGLE,
      Scalar.QUOTE_DOUBLE,
      Scalar.BLOCK_LITERAL,
      Scalar.BLOCK_FOLDED,
    ] as const;
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z .=()"[\]]{0,60}[a-z)]$/),
        fc.constantFrom(...styles),
        fc.nat(),
        (value, type, n) => {
          const text = `apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: i }\nspec:\n  destination: d\n  rules:\n    - sources: [web]\n      action: allow\n      when: ${stringify(
            new Scalar(value),
            { defaultStringType: type, lineWidth: 20, minContentWidth: 10 } as never,
          )
            .trimEnd()
            .split('\n')
            .join('\n        ')}\n`;
          const parsed = parseDocuments(text, 'f.yaml');
          const sd = parsed.documents[0];
          if (!sd) return; // a form the YAML library writes but the schema refuses: not our case
          const when = (sd.document as { spec: { rules: { when: string }[] } }).spec.rules[0]!.when;
          if (when !== value) return; // folding changed the value: positions are then near only
          const scalar = sd.scalars?.get('/spec/rules/0/when');
          expect(scalar).toBeDefined();
          const offset = n % value.length;
          const at = scalarPosition(scalar!, value, offset);
          const line = text.split('\n')[at.line - 1] ?? '';
          expect(at.line).toBeGreaterThanOrEqual(scalar!.line);
          if (value[offset] !== ' ' && !(value[offset] === '"' && type === Scalar.QUOTE_DOUBLE)) {
            expect(line[at.col - 1]).toBe(value[offset]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a schema changes no decision: the same set with and without it decides alike', () => {
    const text = readFileSync(join(import.meta.dirname, 'conformance', 'schemas.yaml'), 'utf8');
    const typed = loadPolicy([{ file: 's.yaml', text }]);
    const withSchema = typed.policySet!;
    const withoutSchema = loadPolicy([
      {
        file: 's.yaml',
        text: text
          .split('\n---\n')
          .filter((d) => !d.includes('kind: AttributeSchema'))
          .join('\n---\n'),
      },
    ]).policySet!;
    const value = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.integer({ min: -3, max: 5 }),
      fc.boolean(),
      fc.double({ noNaN: true }),
      fc.array(fc.constantFrom('admin', 'x'), { maxLength: 2 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('svc', 'kiosk'),
        fc.constantFrom('bot', 'user-api', 'levels', 'gold', 'team', 'staff', 'web', 'other'),
        fc.option(
          fc.dictionary(
            fc.constantFrom(
              'tier',
              'level',
              'score',
              'staff',
              'roles',
              'x-team',
              'device',
              'other',
            ),
            value,
          ),
          { nil: undefined },
        ),
        (destination, service, attrs) => {
          const input = {
            destination,
            source: { service },
            ...(attrs ? { passport: { sub: 'u', attrs, iat: 1, exp: 2, iss: 'i', kid: 'k' } } : {}),
          };
          expect(withSchema.decide(input)).toEqual(withoutSchema.decide(input));
        },
      ),
      { numRuns: 500 },
    );
  });
});
