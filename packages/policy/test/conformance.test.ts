import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPolicyTests, formatDiagnostic, loadPolicy, runPolicyTests } from '../src/index.ts';

/** Runs every conformance vector (policies + PolicyTest cases as data, shared with SDK and CLI). */
const dir = join(import.meta.dirname, 'conformance');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('conformance vectors', () => {
  it('has vectors', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });
  for (const name of files) {
    it(name, () => {
      const text = readFileSync(join(dir, name), 'utf8');
      const options = /^# options: (.*)$/m.exec(text);
      const loaded = loadPolicy([{ file: name, text }], options ? JSON.parse(options[1]!) : {});
      expect(loaded.diagnostics.map(formatDiagnostic)).toEqual([]);
      expect(loaded.tests.length).toBeGreaterThan(0);
      expect(checkPolicyTests(loaded.policySet!, loaded.tests)).toEqual([]);
      const report = runPolicyTests(loaded.policySet!, loaded.tests);
      const failures = report.results
        .filter((r) => !r.passed)
        .map((r) => `${r.name}: ${r.failures.join('; ')}`);
      expect(failures).toEqual([]);
      expect(report.passed).toBeGreaterThan(0);
    });
  }
});
