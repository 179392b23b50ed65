import { defineConfig } from 'vitest/config';
// Tests run the TypeScript source of the @ward packages (see tools/source-mode.ts); this also
// puts the `ward-source` condition into NODE_OPTIONS, which the test workers and every Node
// process a test spawns (`node packages/cli/src/bin.ts …`) inherit.
import { SOURCE_CONDITION } from './tools/source-mode.ts';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'node', 'import', 'default'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
