import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';
// Tests run the TypeScript source of the @ward packages (see tools/source-mode.ts); this also
// puts the `ward-source` condition into NODE_OPTIONS, which the test workers and every Node
// process a test spawns (`node packages/cli/src/bin.ts …`) inherit.
import { SOURCE_CONDITION } from './tools/source-mode.ts';

export default defineConfig({
  // Vite's own defaults after ours: it adds `import` or `require` per import itself (a CommonJS
  // `require('pg-pool')` must not get the ESM build).
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
