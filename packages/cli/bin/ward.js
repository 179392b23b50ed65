#!/usr/bin/env node
// The `ward` command. An installed package runs the compiled CLI from dist/. In the Ward
// repository, where the TypeScript source sits beside this file, it runs the source with the
// `ward-source` export condition on, so `npx ward` works there without a build. Plain
// JavaScript so that it runs from node_modules, where Node does not strip types.
import { existsSync } from 'node:fs';

const source = new URL('../src/bin.ts', import.meta.url);
if (existsSync(source)) {
  await import(new URL('../../../tools/source-mode.ts', import.meta.url).href);
  await import(source.href);
} else {
  await import('../dist/bin.js');
}
