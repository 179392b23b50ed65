import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, lintPolicy, loadPolicy, runPolicyTests } from '../src/index.ts';

const root = join(import.meta.dirname, '..', '..', '..', 'examples', 'policies');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? walk(join(dir, e.name))
      : /\.(ya?ml|json)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
}

describe('examples/policies', () => {
  const loaded = loadPolicy(walk(root).map((file) => ({ file, text: readFileSync(file, 'utf8') })));

  it('compiles without diagnostics and lints clean', () => {
    expect(loaded.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(lintPolicy(loaded.documents).map(formatDiagnostic)).toEqual([]);
    expect(loaded.policySet!.destinations()).toEqual([
      'inventory',
      'notifications',
      'orders',
      'pci/payments',
    ]);
  });

  it('passes its own policy tests', () => {
    const report = runPolicyTests(loaded.policySet!, loaded.tests);
    expect(report.results.filter((r) => !r.passed)).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(10);
  });
});
