import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPolicyTests, loadPolicy, policySchema, runPolicyTests } from '../src/index.ts';

const text = `apiVersion: ward.dev/v1
kind: Intention
metadata: {name: i}
spec:
  destination: d
  rules:
    - {sources: [a], action: allow}
    - {sources: [b], action: allow}
---
apiVersion: ward.dev/v1
kind: PolicyTest
metadata: {name: t}
spec:
  cases:
    - {name: passes, input: {destination: d, source: {service: a}}, expect: {effect: allow, rule: "i#0"}}
    - {name: wrong effect, input: {destination: d, source: {service: c}}, expect: {effect: allow}}
    - {name: wrong rule, input: {destination: d, source: {service: a}}, expect: {effect: allow, rule: "i#1", enforced: false}}
    - {name: unknown rule, input: {destination: d, source: {service: a}}, expect: {effect: allow, rule: "i#7"}}
`;

describe('runPolicyTests', () => {
  const loaded = loadPolicy([{ file: 't.yaml', text }]);

  it('reports each case with what differed, and uncovered rules', () => {
    const report = runPolicyTests(loaded.policySet!, loaded.tests);
    expect(report.results.map((r) => [r.name, r.passed, r.failures, r.location?.line])).toEqual([
      ['t/passes', true, [], 15],
      ['t/wrong effect', false, ['effect: want allow, got deny'], 16],
      ['t/wrong rule', false, ['rule: want i#1, got i#0', 'enforced: want false, got true'], 17],
      ['t/unknown rule', false, ['rule: want i#7, got i#0'], 18],
    ]);
    expect([report.passed, report.failed]).toEqual([1, 3]);
    expect(report.covered).toEqual(['i#0']);
    expect(report.uncovered).toEqual(['i#1']);
  });

  it('flags expected rules that do not exist', () => {
    expect(
      checkPolicyTests(loaded.policySet!, loaded.tests).map((d) => `${d.line}:${d.col} ${d.code}`),
    ).toEqual(['18:105 POLICY_TEST_RULE_UNKNOWN']);
  });

  it('accepts plain test cases too', () => {
    const report = runPolicyTests(loaded.policySet!, [
      {
        name: 'plain',
        cases: [
          {
            name: 'b',
            input: { destination: 'd', source: { service: 'b' } },
            expect: { effect: 'allow', rule: 'i#1' },
          },
        ],
      },
    ]);
    expect(report.failed).toBe(0);
  });
});

describe('docs/policy-schema.json', () => {
  // Regenerate: node packages/cli/src/bin.ts policy schema > docs/policy-schema.json
  //             && npx biome format --write docs/policy-schema.json
  it('is the exported schema', () => {
    const file = join(import.meta.dirname, '..', '..', '..', 'docs', 'policy-schema.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(policySchema)),
    );
  });
});
