import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';
// Tests run the TypeScript source of the @ward packages (see tools/source-mode.ts); this also
// puts the `ward-source` condition into NODE_OPTIONS, which the test workers and every Node
// process a test spawns (`node packages/cli/src/bin.ts …`) inherit.
import { SOURCE_CONDITION } from './tools/source-mode.ts';

const CONDITIONS = [SOURCE_CONDITION, ...defaultServerConditions.filter((c) => c !== 'module')];

export default defineConfig({
  // Vitest's defaults after ours (Vite's server conditions without `module`, whose builds are
  // for bundlers); Vite adds `import` or `require` per import itself, and Vitest passes these
  // to its workers as `--conditions`.
  resolve: { conditions: CONDITIONS },
  ssr: { resolve: { conditions: CONDITIONS } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A private TMPDIR per run; the run fails if a test leaves anything in it.
    globalSetup: ['./test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
