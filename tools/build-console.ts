/**
 * Builds the web console (packages/console/web → packages/console/dist/web) with Vite.
 * `--if-stale` skips the build when the output is newer than every source file, so
 * `npm start` pays for a build only after the console changed (a fresh clone builds once).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const pkg = fileURLToPath(new URL('../packages/console/', import.meta.url));
// The console bundles @ward/api-types from its sources (vite.config.ts): a change there is a
// change to the console too.
const apiTypes = fileURLToPath(new URL('../packages/api-types/src/', import.meta.url));
const output = join(pkg, 'dist/web/index.html');

/** Newest modification time under `dir` (0 when it does not exist). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

function stale(): boolean {
  let built: number;
  try {
    built = statSync(output).mtimeMs;
  } catch {
    return true;
  }
  const sources = Math.max(
    newest(join(pkg, 'web')),
    newest(apiTypes),
    statSync(join(pkg, 'vite.config.ts')).mtimeMs,
  );
  return sources > built;
}

/** Builds the console; with `ifStale`, only when the output is missing or older than its sources. */
export async function buildConsole(options: { ifStale: boolean }): Promise<void> {
  if (options.ifStale && !stale()) return;
  const started = Date.now();
  await build({ configFile: join(pkg, 'vite.config.ts') });
  process.stderr.write(`console built in ${Date.now() - started} ms\n`);
}

if (import.meta.main) await buildConsole({ ifStale: process.argv.includes('--if-stale') });
