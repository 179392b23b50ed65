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
const VIEWS = ['graph', 'rollout', 'policies', 'secrets', 'fleet', 'live'];

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
  const secret = await aSecret(fixture.url, fixture.adminToken);
  for (const view of VIEWS) {
    // The Secrets view is shot on one secret's detail (versions and their states).
    const page = await fixture.signedIn(
      view === 'secrets' ? `secrets?secret=${encodeURIComponent(secret)}` : view,
    );
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

/**
 * A secret to show: the first the demo has, else one declared here (random, rotated twice so
 * it has a current and a previous version). Its values are never on screen.
 */
async function aSecret(url: string, token: string): Promise<string> {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ items?: { secret: string }[] }>;
  };
  const existing = (await call('GET', '/v1/secrets')).items ?? [];
  if (existing[0]) return existing[0].secret;
  const doc = {
    apiVersion: 'ward.dev/v1',
    kind: 'Secret',
    metadata: { name: 'inventory-api-key', namespace: 'shop' },
    spec: {
      owner: 'inventory',
      readers: ['orders', 'inventory'],
      type: 'random',
      rotation: { every: '24h', grace: '1h', activation: '5s' },
    },
  };
  await call('POST', '/v1/apply', {
    files: [{ name: 'secret.json', content: JSON.stringify(doc) }],
  });
  for (let i = 0; i < 2; i++) await call('POST', '/v1/secrets/shop%2Finventory-api-key/rotate');
  return 'shop/inventory-api-key';
}
