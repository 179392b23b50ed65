/**
 * Metrics seen from outside the server object: `ward server --metrics-listen` as a real process
 * (the scrape URL it prints, no token needed there), and a request the store fails (PostgreSQL,
 * a table locked by another session) counted in `ward_store_errors_total`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseProm, sumOf } from './_prom-text.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  pgAvailable,
  startTestServer,
  tempDir,
} from './helpers.ts';

afterAll(() => cleanupDirs());

async function scrape(url: string) {
  const r = await http(url, 'GET', '/metrics');
  expect(r.status).toBe(200);
  return parseProm(r.text).samples;
}

describe('ward server --metrics-listen', () => {
  it('prints metricsUrl and serves the scrape there without a token', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');
    const env = { ...process.env };
    delete env.WARD_ADMIN_TOKEN;
    const proc = spawn(
      process.execPath,
      [
        bin,
        'server',
        '--data-dir',
        tempDir(),
        '--listen',
        '127.0.0.1:0',
        '--metrics-listen',
        '127.0.0.1:0',
        '-o',
        'json',
      ],
      { env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).once('line', resolve);
        proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
      const info = JSON.parse(first) as { url: string; metricsUrl: string };
      expect(info.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(info.metricsUrl).port).not.toBe(new URL(info.url).port);
      const r = await fetch(info.metricsUrl);
      expect(r.status).toBe(200);
      expect(sumOf(parseProm(await r.text()).samples, 'ward_server_build_info')).toBe(1);
    } finally {
      proc.kill('SIGTERM');
      expect(await new Promise((r) => proc.once('exit', r))).toBe(0);
    }
  });
});

const PG = await pgAvailable('metrics.test.ts');

describe.skipIf(!PG)('store errors (PostgreSQL)', () => {
  it('counts a request the store failed as STORE_UNREACHABLE', async () => {
    const schema = await createPgSchema();
    const server = await startTestServer({ database: schema.url, storeQueryTimeoutMs: 300 });
    const locker = new pg.Client({ connectionString: schema.url });
    try {
      expect((await http(server.url, 'GET', '/v1/services')).status).toBe(200);
      const before = await scrape(server.url);
      await locker.connect();
      await locker.query('BEGIN');
      // The documents table locked by another session: the read waits past its deadline.
      await locker.query('LOCK TABLE documents IN ACCESS EXCLUSIVE MODE');
      const r = await http(server.url, 'GET', '/v1/services');
      expect(r.status).toBe(503);
      expect(r.body.code).toBe('STORE_UNREACHABLE');
      await locker.query('ROLLBACK');
      const after = await scrape(server.url);
      const code = { code: 'STORE_UNREACHABLE' };
      expect(
        sumOf(after, 'ward_store_errors_total', code) -
          sumOf(before, 'ward_store_errors_total', code),
      ).toBe(1);
    } finally {
      await locker.end().catch(() => {});
      await server.close();
      await schema.drop();
    }
  });
});
