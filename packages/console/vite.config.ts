/**
 * Builds the console into dist/web: one HTML page and hashed assets, no CDN, no inline script
 * (the control plane serves it with a strict Content-Security-Policy).
 */
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // Workspace packages (@ward/api-types: wire shapes and their constants) are read from src/,
  // as the tests read them, so the console builds without building them first.
  resolve: { conditions: ['ward-source', ...defaultClientConditions] },
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
    // One bundle (~600 kB, most of it sigma and graphology for the graph, the first view):
    // served by the control plane with an immutable cache header, so it loads once.
    chunkSizeWarningLimit: 1024,
  },
});
