import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  analyze,
  detectInputType,
  GraphError,
  GraphIngest,
  type InputType,
  parseLayeringRules,
} from '../src/index.ts';
import { otlp } from './_helpers.ts';

/** Runs one input through a fresh ingest and the analyses; only a GraphError may escape. */
function survives(type: InputType, content: string | Uint8Array): void {
  try {
    const ingest = new GraphIngest({ maxPendingSpans: 64 });
    const sink = ingest.open(type, 'fuzz');
    // Split in two to exercise chunk boundaries.
    const mid = Math.floor(content.length / 2);
    sink.write(content.slice(0, mid));
    sink.write(content.slice(mid));
    sink.end();
    const { graph } = ingest.finish();
    analyze(graph);
  } catch (error) {
    if (!(error instanceof GraphError)) throw error;
    expect(error.code).toMatch(/^GRAPH_/);
    expect(error.message).toContain('fuzz');
  }
}

const RUNS = { numRuns: 150 };
const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const name = fc.constantFrom('a', 'b', 'c', 'orders', 'db', '', 'x y', '"q"');

const jsonTypes: InputType[] = [
  'otlp-json',
  'jaeger',
  'jaeger-deps',
  'zipkin',
  'decision-log',
  'graph-json',
];
const yamlTypes: InputType[] = ['kubernetes', 'compose', 'backstage', 'ward'];

describe('every reader survives arbitrary input (property)', () => {
  it('arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.constantFrom(...jsonTypes), fc.jsonValue(), (type, value) =>
        survives(type, JSON.stringify(value)),
      ),
      RUNS,
    );
  });

  it('arbitrary text, including JSON lines', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...jsonTypes, ...yamlTypes),
        fc.array(fc.string(), { maxLength: 5 }),
        (type, lines) => survives(type, lines.join('\n')),
      ),
      RUNS,
    );
  });

  it('arbitrary YAML-shaped documents', () => {
    const doc = fc.record(
      {
        apiVersion: fc.constantFrom('apps/v1', 'v1', 'backstage.io/v1alpha1', 'ward.dev/v1', 7),
        kind: fc.constantFrom(
          'Deployment',
          'Service',
          'ConfigMap',
          'Component',
          'Resource',
          'List',
          'CronJob',
        ),
        metadata: fc.record({ name, namespace: fc.option(name) }),
        spec: fc.anything(),
        services: fc.dictionary(name, fc.anything()),
        data: fc.dictionary(fc.string(), fc.string()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.constantFrom(...yamlTypes), fc.array(doc, { maxLength: 4 }), (type, docs) =>
        survives(type, docs.map((d) => stringify(d)).join('---\n')),
      ),
      RUNS,
    );
  });

  it('arbitrary bytes and mutated requests as OTLP/protobuf', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => survives('otlp-proto', bytes)),
      RUNS,
    );
  });

  it('structured OTLP spans: no crash, no internal self-loops, calls never exceed spans', () => {
    const span = fc.record({
      spanId: fc.oneof(hex(16), fc.constant('')),
      parent: fc.option(hex(16), { nil: undefined }),
      kind: fc.integer({ min: -1, max: 6 }),
      durationMs: fc.double({ noNaN: false }),
      attrs: fc.dictionary(
        fc.constantFrom('peer.service', 'db.system', 'server.address', 'db.namespace'),
        fc.string(),
      ),
      error: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(name, fc.array(span, { maxLength: 6 })), { maxLength: 4 }),
        (resources) => {
          const text = JSON.stringify(otlp(resources));
          survives('otlp-json', text);
          const ingest = new GraphIngest();
          try {
            ingest.add('otlp-json', 'fuzz', text);
          } catch (e) {
            if (!(e instanceof GraphError)) throw e;
            return;
          }
          const { graph, stats } = ingest.finish();
          const calls = graph.edges.reduce((n, e) => n + (e.metrics?.calls ?? 0), 0);
          expect(calls).toBeLessThanOrEqual(stats.spans);
          expect(graph.edges.every((e) => e.from !== e.to || stats.pairs > 0)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('layering rules and input detection', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (text, value) => {
        for (const input of [text, stringify(value)]) {
          try {
            parseLayeringRules(input, 'fuzz');
          } catch (e) {
            if (!(e instanceof GraphError)) throw e;
          }
          try {
            detectInputType('fuzz', input);
          } catch (e) {
            if (!(e instanceof GraphError)) throw e;
            expect(e.code).toBe('GRAPH_INPUT_UNKNOWN');
          }
        }
      }),
      RUNS,
    );
  });
});
