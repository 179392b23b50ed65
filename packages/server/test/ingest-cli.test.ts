/** `ward report …` and `ward promote` as real processes against a real server (SQLite). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, cleanupDirs } from './helpers.ts';
import {
  applyDocs,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  SHOP,
  startIngestServer,
} from './ingest-fixture.ts';

const bin = fileURLToPath(new URL('../../cli/src/bin.ts', import.meta.url));

function ward(
  url: string,
  args: string[],
  token = ADMIN,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, WARD_SERVER: url, WARD_TOKEN: token },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const [sqlite] = await ingestSuite('ingest-cli.test.ts');

describe('ward report and ward promote', () => {
  let s: IngestServer;
  beforeAll(async () => {
    s = await startIngestServer(sqlite!);
    await applyDocs(s.url, SHOP);
    const r = await postBatch(s.url, await s.pdp('payments'), {
      records: [
        ...Array.from({ length: 5 }, () =>
          rec({
            destination: 'payments',
            effect: 'deny',
            enforced: false,
            rule: 'orders-tighten#1',
            method: 'POST',
            path: '/charge',
          }),
        ),
      ],
    });
    expect(r.status).toBe(200);
    const o = await postBatch(s.url, s.pdpToken, {
      records: [
        rec({ source: 'monitoring', destination: 'orders', effect: 'deny', rule: 'default' }),
      ],
    });
    expect(o.status).toBe(200);
  });
  afterAll(async () => s?.close());

  it('prints the dry-run report as a table and as JSON', async () => {
    const text = await ward(s.url, ['report', 'dry-run', '--since', '1h']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/frontend\s+payments\s+orders-tighten#1\s+5\s/);
    expect(text.stdout).toContain('POST /charge');
    const json = await ward(s.url, ['report', 'dry-run', '--service', 'payments', '-o', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).items[0]).toMatchObject({ destination: 'payments', count: 5 });
    const bad = await ward(s.url, ['report', 'dry-run', '--since', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('query.since');
  });

  it('prints unused and unapproved edges', async () => {
    const unused = await ward(s.url, ['report', 'unused']);
    expect(unused.code).toBe(0);
    expect(unused.stdout).toMatch(/orders\s+frontend\s+metrics#0 \(wildcard\)/);
    const unapproved = await ward(s.url, ['report', 'unapproved', '-o', 'json']);
    expect(unapproved.code).toBe(0);
    const pairs = JSON.parse(unapproved.stdout).items.map(
      (i: any) => `${i.source}->${i.destination}`,
    );
    expect(pairs).toEqual(['monitoring->orders', 'frontend->payments']);
  });

  it('promote exits 1 with the denials, then --force enforces', async () => {
    const refused = await ward(s.url, ['promote', 'payments']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'frontend → payments: 5 call(s) denied in dry-run by orders-tighten#1',
    );
    const forced = await ward(s.url, ['promote', 'payments', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('payments: enforcing orders-tighten at revision');
    expect(forced.stdout).toContain('forced: 5 call(s)');
  });
});
