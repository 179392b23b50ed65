/**
 * A store query that hangs does not hang the request: a table locked by another session (the
 * statement waits on the lock) and a store that stopped answering on open connections (frozen
 * server, packets dropped) both answer 503 STORE_UNREACHABLE with Retry-After within the
 * replica's query timeout, and a revision catch-up that hangs the same way marks the replica
 * stale so its watch streams end. Real PostgreSQL; the freeze is a TCP proxy in between.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { TcpProxy } from './_tcp-proxy.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  intention,
  PG_URL,
  pgAvailable,
  SseClient,
  startTestServer,
  svc,
  tempDir,
  waitFor,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('store-deadline.test.ts');
const FILE = (content: string) => ({ body: { files: [{ name: 'x.yaml', content }] } });
/** The replica's query timeout here; the client-side deadline is one second later. */
const TIMEOUT_MS = 500;
/** Stated bound for an answer: the client deadline plus generous room for a loaded machine. */
const ANSWER_WITHIN_MS = TIMEOUT_MS + 1000 + 2500;

describe.skipIf(!PG)('a store query that hangs', () => {
  let b: RunningServer;
  let drop: () => Promise<void>;
  let schemaUrl: string;
  const proxy = new TcpProxy(PG_URL);

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    schemaUrl = schema.url;
    await proxy.open();
    b = await startTestServer({
      database: proxy.via(schema.url),
      signingKeyFile: join(tempDir(), 'signing.key'),
      storeQueryTimeoutMs: TIMEOUT_MS,
    });
    const res = await http(
      b.url,
      'POST',
      '/v1/apply',
      FILE(yamlOf([svc('orders'), svc('web'), intention('orders', 'orders', ['web'])])),
    );
    expect(res.status).toBe(200);
  });
  beforeEach(() => waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200));
  afterAll(async () => {
    await proxy.cut();
    await b?.close();
    await drop?.();
    cleanupDirs();
  });

  /** Runs `fn` while another session holds an ACCESS EXCLUSIVE lock on `table`. */
  async function whileLocked(table: string, fn: () => Promise<void>): Promise<void> {
    const locker = new pg.Client({ connectionString: schemaUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      await fn();
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
  }

  it('answers 503 with Retry-After to reads and applies of a locked table, then recovers', async () => {
    await whileLocked('documents', async () => {
      let started = Date.now();
      const read = await http(b.url, 'GET', '/v1/services/orders');
      expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
      expect(read.status).toBe(503);
      expect(read.body.code).toBe('STORE_UNREACHABLE');
      expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
      started = Date.now();
      const apply = await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('billing')])));
      expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
      expect(apply.status).toBe(503);
      expect(apply.body.code).toBe('STORE_UNREACHABLE');
      expect(Number(apply.headers.get('retry-after'))).toBeGreaterThan(0);
    });
    // Nothing half-written, and the replica answers again once the lock is gone.
    expect((await http(b.url, 'GET', '/v1/services/billing')).status).toBe(404);
    const apply = await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('billing')])));
    expect(apply.status).toBe(200);
  });

  it('marks the replica stale when its revision catch-up hangs: watches end, /readyz 503', async () => {
    const watch = await SseClient.open(`${b.url}/v1/watch?service=orders`);
    expect(watch.status).toBe(200);
    await whileLocked('revisions', async () => {
      // The apply waits on the revision log, times out, and makes the replica check itself:
      // its catch-up times out too, so it is stale and ends its streams.
      const apply = await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('ledger')])));
      expect(apply.status).toBe(503);
      await Promise.race([
        watch.ended,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('stream not ended')), ANSWER_WITHIN_MS),
        ),
      ]);
      expect(b.app.ward.follower.healthy).toBe(false);
      expect((await http(b.url, 'GET', '/readyz')).status).toBe(503);
    });
    // Lock gone: the next catch-up (a local apply, or the safety poll) makes it current again.
    const apply = await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('ledger')])));
    expect(apply.status).toBe(200);
    await waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200);
  });

  it('answers 503 when the store stops answering on open connections, then recovers', async () => {
    // Warm the pool so the next request runs on an open connection, then silence them all.
    expect((await http(b.url, 'GET', '/v1/services/orders')).status).toBe(200);
    proxy.freeze();
    try {
      const started = Date.now();
      const read = await http(b.url, 'GET', '/v1/services/orders');
      expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS + 5000);
      expect(read.status).toBe(503);
      expect(read.body.code).toBe('STORE_UNREACHABLE');
      expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await proxy.cut();
      await proxy.open();
    }
    // The silent connections were dropped, not handed out again: the next read answers.
    await waitFor(async () => (await http(b.url, 'GET', '/v1/services/orders')).status === 200);
  });
});
