/**
 * Takes the screenshots of the web console that docs/console.md and the README show: the real
 * demo (control plane, mesh, traffic) and headless Chromium, one PNG per view in
 * docs/images/console-<view>.png. Run after changing a view: `npm run screenshots`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { browserUnavailable, startConsoleFixture } from '../test/console/_browser.ts';
import { buildConsole } from './build-console.ts';

const out = fileURLToPath(new URL('../docs/images/', import.meta.url));
const VIEWS = ['graph', 'rollout', 'policies', 'fleet', 'live'];

const missing = browserUnavailable();
if (missing) {
  process.stderr.write(`console-screenshots: ${missing}\n`);
  process.exit(1);
}
await buildConsole({ ifStale: true });
mkdirSync(out, { recursive: true });
const fixture = await startConsoleFixture({ rps: 20 });
try {
  // Some traffic first, so the graph, the reports and the live tail have something to show.
  await sleep(8_000);
  for (const view of VIEWS) {
    const page = await fixture.signedIn(view);
    await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => {});
    await sleep(2_500);
    const file = join(out, `console-${view}.png`);
    await page.screenshot({ path: file });
    process.stdout.write(`${file}\n`);
    await page.close();
  }
} finally {
  await fixture.close();
}
