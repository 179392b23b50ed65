import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DIAGNOSTIC_CODES, type Diagnostic, lintPolicy, loadPolicy } from '../src/index.ts';

type ArbType<A> = A extends fc.Arbitrary<infer T> ? T : never;

/**
 * Untrusted-input properties: random and mutated documents never crash or hang the parser, the
 * compiler or the linter, and every problem comes back as a clean diagnostic.
 */
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'policies');
const seeds = readdirSync(examples)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => readFileSync(join(examples, f), 'utf8'));
const codes = new Set<string>(DIAGNOSTIC_CODES);

function assertClean(diagnostics: Diagnostic[], file: string): void {
  for (const d of diagnostics) {
    expect(d.file).toBe(file);
    expect(Number.isInteger(d.line) && d.line >= 1).toBe(true);
    expect(Number.isInteger(d.col) && d.col >= 1).toBe(true);
    expect(codes.has(d.code)).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toMatch(/\n|at .*\.js:\d+/);
    expect(typeof d.path).toBe('string');
  }
  const sorted = [...diagnostics].sort((a, b) => a.line - b.line || a.col - b.col);
  expect(diagnostics.map((d) => d.line)).toEqual(sorted.map((d) => d.line));
}

function loadAndLint(text: string): void {
  const loaded = loadPolicy([{ file: 'f.yaml', text }]);
  assertClean(loaded.diagnostics, 'f.yaml');
  if (loaded.policySet) {
    assertClean(lintPolicy(loaded.documents), 'f.yaml');
    for (const dest of loaded.policySet.destinations()) {
      const d = loaded.policySet.decide({ destination: dest, source: { service: 'frontend' } });
      expect(['allow', 'deny']).toContain(d.effect);
    }
  } else {
    expect(loaded.diagnostics.some((d) => d.severity === 'error')).toBe(true);
  }
}

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 20 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({ maxLength: 12 }),
  }),
  fc.record({
    kind: fc.constant('token' as const),
    at: fc.nat(),
    text: fc.constantFrom(
      ': ',
      '- ',
      '{',
      '}',
      '[',
      ']',
      '"',
      "'",
      '&a ',
      '*a',
      '\n',
      '  ',
      '#',
      '---\n',
      '!!str ',
      '|\n',
      'when: x\n',
      '*',
      '**',
    ),
  }),
);

function mutate(text: string, ms: ReadonlyArray<ArbType<typeof mutation>>): string {
  let t = text;
  for (const m of ms) {
    const at = t.length === 0 ? 0 : m.at % t.length;
    t =
      m.kind === 'delete'
        ? t.slice(0, at) + t.slice(at + m.len)
        : t.slice(0, at) + m.text + t.slice(at);
  }
  return t;
}

/** Replaces the value at a random path of a JS value. */
function replaceAt(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[path[0]! % keys.length]!;
  const copy: Record<string, unknown> = Array.isArray(value) ? ([...value] as never) : { ...value };
  copy[key] = replaceAt((value as Record<string, unknown>)[key], path.slice(1), replacement);
  return copy;
}

describe('parser and compiler properties', () => {
  it('random text never crashes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => loadAndLint(text)),
      { numRuns: 300 },
    );
  });

  it('mutated example files never crash', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        (seed, ms) => loadAndLint(mutate(seed, ms)),
      ),
      { numRuns: 300 },
    );
  });

  it('structurally mutated documents (YAML and JSON) never crash', () => {
    const docs = seeds.flatMap((s) =>
      loadPolicy([{ file: 'x', text: s }]).documents.map((d) => d.document),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...docs),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.jsonValue({ maxDepth: 3 }),
        fc.boolean(),
        (doc, path, replacement, asJson) => {
          const mutated = replaceAt(doc, path, replacement);
          loadAndLint(asJson ? JSON.stringify(mutated, null, 1) : stringify(mutated));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary CEL conditions are accepted or rejected, never thrown', () => {
    const cel = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc
        .array(
          fc.constantFrom(
            'source',
            '.service',
            '.labels',
            '["x"]',
            ' == ',
            '"a"',
            ' && ',
            ' || ',
            '(',
            ')',
            '!',
            'passport.attrs',
            '.exists(r, r == 1)',
            'time.getHours()',
            ' < ',
            '3',
            'env',
            '.?x',
            '.orValue("")',
            'request.headers',
            'has(',
            'size(',
            '1 / 0',
          ),
          { maxLength: 12 },
        )
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(cel, (when) => {
        const text = stringify({
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'i' },
          spec: {
            destination: 'd',
            rules: [
              { sources: ['*'], action: 'allow', when },
              { sources: ['*'], action: 'deny', when },
            ],
          },
        });
        loadAndLint(text);
      }),
      { numRuns: 300 },
    );
  });
});
