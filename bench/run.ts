/**
 * `npm run bench -- NAME [args…]` runs `bench/NAME.ts`. Every benchmark prints progress to stderr
 * and, as its last line on stdout, one JSON object with its figures and its peer's figures
 * measured in the same run.
 */
// Benchmarks import the @ward packages from their TypeScript source, like the tests.
import '../tools/source-mode.ts';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(
    `usage: npm run bench -- NAME [args]\nbenchmarks: ${available.join(', ') || '(none yet)'}\n`,
  );
  process.exit(name ? 2 : 0);
}
const mod = (await import(pathToFileURL(`${here}${name}.ts`).href)) as {
  run(args: string[]): Promise<Record<string, unknown>>;
};
const result = await mod.run(args);
process.stdout.write(`${JSON.stringify({ bench: name, node: process.version, ...result })}\n`);
