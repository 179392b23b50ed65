/**
 * A store query that hangs does not hang the request: a table locked by another session (the
 * statement waits on the lock) and a store that stopped answering on open connections (frozen
 * server, packets dropped) both answer 503 STORE_UNREACHABLE with Retry-After within the
 * replica's query timeout, and a revision catch-up that hangs the same way marks the replica
 * stale so its watch streams end. Real PostgreSQL; the freeze is a TCP proxy in between.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { caPlugin, type RunningServer } from '../src/index.ts';
import { TcpProxy } from './_tcp-proxy.ts';
import {
  ADMIN,
  cleanupDirs,
  createPgSchema,
  FILE,
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
      // No safety poll during the tests: what checks the replica is what the tests trigger.
      revisionPollMs: 600_000,
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
      // A watch resuming from revision 0 needs the log for its backlog: it cannot be read, so
      // the stream ends (the client resumes from the same point later) rather than go live
      // with a hole in it.
      const resuming = await SseClient.open(`${b.url}/v1/watch?since=0`);
      expect(resuming.status).toBe(200);
      await Promise.race([
        resuming.ended,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('resuming stream not ended')), ANSWER_WITHIN_MS),
        ),
      ]);
      expect(resuming.revisions()).toEqual([]);
      // Ended for its own failed backlog, before the replica found itself stale.
      expect(b.app.ward.follower.healthy).toBe(true);
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

describe.skipIf(!PG)('every write path against an unreachable store', () => {
  let server: RunningServer;
  let drop: () => Promise<void>;
  const proxy = new TcpProxy(PG_URL);

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    await proxy.open();
    server = await startTestServer({
      database: proxy.via(schema.url),
      signingKeyFile: join(tempDir(), 'signing.key'),
      storeQueryTimeoutMs: TIMEOUT_MS,
      trustDomain: 'ward.test',
      plugins: [caPlugin()],
    });
  });
  afterAll(async () => {
    await proxy.cut();
    await server?.close();
    await drop?.();
    cleanupDirs();
  });

  it('answers 503 STORE_UNREACHABLE with Retry-After to documents, tokens, keys and CA writes', async () => {
    const url = server.url;
    const seed = await http(
      url,
      'POST',
      '/v1/apply',
      FILE(yamlOf([svc('orders'), svc('web'), intention('orders', 'orders', ['web'])])),
    );
    expect(seed.status).toBe(200);
    const token = await http(url, 'POST', '/v1/tokens', {
      body: { name: 'victim', scope: 'team', services: ['orders'] },
    });
    expect(token.status, JSON.stringify(token.body)).toBe(201);
    expect(
      (await http(url, 'POST', '/v1/ca/join-tokens', { body: { node: 'n1', ttlSeconds: 120 } }))
        .status,
    ).toBe(201);
    const entry = await http(url, 'POST', '/v1/ca/entries', {
      body: {
        spiffeId: 'spiffe://ward.test/ns/shop/sa/orders',
        node: 'n1',
        selectors: ['unix:uid:1000'],
      },
    });
    expect(entry.status).toBe(201);
    const writes: [string, string, unknown][] = [
      ['POST', '/v1/apply', FILE(yamlOf([svc('billing')])).body],
      ['POST', '/v1/services', svc('billing')],
      ['PUT', '/v1/services/web', svc('web')],
      ['DELETE', '/v1/services/web', undefined],
      ['POST', '/v1/intentions', intention('billing-in', 'orders', ['web'])],
      ['PUT', '/v1/intentions/orders', intention('orders', 'orders', ['web'], 'deny')],
      ['DELETE', '/v1/intentions/orders', undefined],
      ['POST', '/v1/tokens', { name: 'late', scope: 'team', services: ['orders'] }],
      ['DELETE', `/v1/tokens/${token.body.id}`, undefined],
      ['POST', '/v1/passport-keys/rotate', {}],
      [
        'POST',
        '/v1/ca/entries',
        {
          spiffeId: 'spiffe://ward.test/ns/shop/sa/web',
          node: 'n1',
          selectors: ['unix:uid:1001'],
        },
      ],
      ['DELETE', `/v1/ca/entries/${entry.body.id}`, undefined],
      ['POST', '/v1/ca/join-tokens', { node: 'n2', ttlSeconds: 120 }],
      ['POST', '/v1/ca/rotate', {}],
    ];
    // The admin token was just looked up: authentication answers from its cache, so each
    // request reaches its handler's store write.
    await proxy.cut();
    try {
      for (const [method, path, body] of writes) {
        const res = await http(url, method, path, body === undefined ? {} : { body });
        expect({ method, path, status: res.status, code: res.body?.code }).toEqual({
          method,
          path,
          status: 503,
          code: 'STORE_UNREACHABLE',
        });
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    } finally {
      await proxy.open();
    }
  });
});

describe.skipIf(!PG)('ward server --store-query-timeout-ms', () => {
  const BIN = join(import.meta.dirname, '..', '..', 'cli', 'src', 'bin.ts');
  afterAll(() => cleanupDirs());

  it('gives the replica its query deadline, and refuses a value that is not an integer >= 100', async () => {
    const schema = await createPgSchema();
    const env = { ...process.env, WARD_ADMIN_TOKEN: ADMIN, WARD_SEAL_KEY: '' };
    const proc = spawn(
      process.execPath,
      [
        BIN,
        'server',
        '--db',
        schema.url,
        '--data-dir',
        tempDir(),
        '--listen',
        '127.0.0.1:0',
      ].concat(['-o', 'json', '--store-query-timeout-ms', String(TIMEOUT_MS)]),
      { env, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const locker = new pg.Client({ connectionString: schema.url });
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: proc.stdout! }).once('line', resolve),
      );
      const url = (JSON.parse(line) as { url: string }).url;
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE documents IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const read = await http(url, 'GET', '/v1/services/orders');
      expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
      expect(read.status).toBe(503);
      expect(read.body.code).toBe('STORE_UNREACHABLE');
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end().catch(() => {});
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      await schema.drop();
    }
    const bad = await promisify(execFile)(process.execPath, [
      BIN,
      'server',
      '--store-query-timeout-ms',
      'soon',
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toContain(
      '--store-query-timeout-ms must be an integer >= 100',
    );
  });
});
