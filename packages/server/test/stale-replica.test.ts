/**
 * A replica cut off from PostgreSQL knows it: its applies and reads answer 503 with Retry-After
 * (not 500), `/readyz` is not ready, and once the store answers again so does the replica. The
 * cut is a TCP proxy on loopback between the replica and PostgreSQL, closed with every socket
 * it carries (what a partition or a PostgreSQL restart looks like to the replica).
 */
import { join } from 'node:path';
import { createPdp } from '@ward/sdk';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { TcpProxy } from './_tcp-proxy.ts';
import {
  cleanupDirs,
  createPgSchema,
  FILE,
  http,
  intention,
  PG_URL,
  pgAvailable,
  revisionEvent,
  SseClient,
  startTestServer,
  svc,
  tempDir,
  waitFor,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('stale-replica.test.ts');

describe.skipIf(!PG)('a replica cut off from PostgreSQL', () => {
  let a: RunningServer;
  let b: RunningServer;
  let drop: () => Promise<void>;
  let schemaUrl: string;
  const proxy = new TcpProxy(PG_URL);

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    schemaUrl = schema.url;
    await proxy.open();
    const key = join(tempDir(), 'shared-signing.key');
    a = await startTestServer({ database: schema.url, signingKeyFile: key, heartbeatMs: 200 });
    b = await startTestServer({
      database: proxy.via(schema.url),
      signingKeyFile: key,
      revisionPollMs: 250,
    });
    const res = await http(
      a.url,
      'POST',
      '/v1/apply',
      FILE(yamlOf([svc('orders'), svc('web'), intention('orders', 'orders', ['web'])])),
    );
    expect(res.status).toBe(200);
  });
  // Each test starts from a replica that follows the log (the one before may have cut it).
  beforeEach(() => waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200));
  afterAll(async () => {
    await proxy.cut();
    await a?.close();
    await b?.close();
    await drop?.();
    cleanupDirs();
  });

  it('answers 503 with Retry-After to applies, reads and /readyz, then recovers', async () => {
    expect((await http(b.url, 'GET', '/readyz')).status).toBe(200);
    await proxy.cut();
    const apply = await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('billing')])));
    expect(apply.status).toBe(503);
    expect(apply.body.code).toBe('STORE_UNREACHABLE');
    expect(Number(apply.headers.get('retry-after'))).toBeGreaterThan(0);
    const read = await http(b.url, 'GET', '/v1/services');
    expect(read.status).toBe(503);
    expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
    const ready = await http(b.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(Number(ready.headers.get('retry-after'))).toBeGreaterThan(0);
    // A stays healthy meanwhile.
    expect((await http(a.url, 'GET', '/readyz')).status).toBe(200);
    await proxy.open();
    // Ready again once its LISTEN connection is back (retried each second) and it caught up.
    await waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200);
    expect((await http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('billing')])))).status).toBe(
      200,
    );
  });

  it('answers 503 to an apply whose connection drops mid-query', async () => {
    // Hold the revision log locked so B's apply waits on PostgreSQL, then cut B off.
    const locker = new pg.Client({ connectionString: schemaUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE revisions IN ACCESS EXCLUSIVE MODE');
      const pending = http(b.url, 'POST', '/v1/apply', FILE(yamlOf([svc('ledger')])));
      await waitFor(async () => {
        const r = await locker.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'revisions'::regclass AND NOT granted",
        );
        return r.rows[0].n > 0;
      });
      await proxy.cut();
      const apply = await pending;
      expect(apply.status).toBe(503);
      expect(apply.body.code).toBe('STORE_UNREACHABLE');
      expect(Number(apply.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
      await proxy.open();
    }
  });

  it('ends its watch streams and refuses new ones with 503 until it has caught up', async () => {
    const onB = await SseClient.open(`${b.url}/v1/watch?service=orders`);
    expect(onB.status).toBe(200);
    const cutAt = Date.now();
    await proxy.cut();
    // The LISTEN connection's loss is seen at once; 5 s bounds it with room for a slow machine.
    await Promise.race([
      onB.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('stream not ended')), 5000)),
    ]);
    expect(Date.now() - cutAt).toBeLessThan(5000);
    const refused = await http(b.url, 'GET', '/v1/watch?service=orders');
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('STORE_UNREACHABLE');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await http(b.url, 'GET', '/readyz')).status).toBe(503);
    // Meanwhile A moves on; B must catch up to it before it serves a watch again.
    const res = await http(
      a.url,
      'POST',
      '/v1/apply',
      FILE(yamlOf([svc('stock'), intention('orders', 'orders', ['web', 'stock'])])),
    );
    expect(res.status).toBe(200);
    await proxy.open();
    await waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200);
    expect(b.app.ward.follower.revision).toBeGreaterThanOrEqual(res.body.revision);
    const again = await SseClient.open(`${b.url}/v1/watch?service=orders&since=0`);
    expect(again.status).toBe(200);
    await again.next(revisionEvent(res.body.revision));
    again.close();
  });

  it('moves a PDP that knows both replicas off the cut one, onto the latest revision', async () => {
    const token = await http(a.url, 'POST', '/v1/tokens', {
      body: { name: 'orders-pdp-stale', scope: 'pdp', services: ['orders'] },
    });
    expect(token.status).toBe(201);
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [b.url, a.url],
      publicKey: b.publicKey,
      token: token.body.token,
      logger: { warn: () => {} },
      backoff: { initialMs: 50, maxMs: 500 },
    });
    try {
      await pdp.ready;
      await waitFor(async () => pdp.status().connected === b.url);
      await proxy.cut();
      const res = await http(
        a.url,
        'POST',
        '/v1/apply',
        FILE(yamlOf([svc('audit'), intention('orders', 'orders', ['web', 'audit'])])),
      );
      expect(res.status).toBe(200);
      // Before: B kept heartbeating, so the PDP stayed on it, stale, until B's store came back.
      await waitFor(
        async () => pdp.status().connected === a.url && pdp.revision() >= res.body.revision,
      );
      expect(pdp.decide({ source: { service: 'audit' } }).allowed).toBe(true);
    } finally {
      await pdp.close();
      await proxy.open();
    }
  });

  it("heartbeats carry the replica's current revision", async () => {
    const w = await SseClient.open(`${a.url}/v1/watch`);
    const latest = (await http(a.url, 'GET', '/readyz')).body.revision as number;
    const beat = await w.next((e) => e.comment?.startsWith('heartbeat ') === true);
    expect(Number(beat.comment?.split(' ')[1])).toBeGreaterThanOrEqual(latest);
    expect(Number(beat.comment?.split(' ')[1])).toBe(a.app.ward.follower.revision);
    w.close();
  });

  it('moves a PDP off a frozen replica after three missed heartbeats, not the 45 s read timeout', async () => {
    const toA = new TcpProxy(a.url);
    await toA.open();
    const viaA = `http://127.0.0.1:${toA.port}`;
    const token = await http(a.url, 'POST', '/v1/tokens', {
      body: { name: 'orders-pdp-frozen', scope: 'pdp', services: ['orders'] },
    });
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [viaA, b.url],
      publicKey: a.publicKey,
      token: token.body.token,
      logger: { warn: () => {} },
      backoff: { initialMs: 50, maxMs: 500 },
    });
    try {
      await pdp.ready;
      await waitFor(async () => pdp.status().connected === viaA);
      toA.freeze();
      // A heartbeats every 200 ms, so the PDP gives up on it after 600 ms of silence.
      await waitFor(async () => pdp.status().connected === b.url, 5000);
      const res = await http(
        b.url,
        'POST',
        '/v1/apply',
        FILE(yamlOf([svc('fraud'), intention('orders', 'orders', ['web', 'fraud'])])),
      );
      expect(res.status).toBe(200);
      await waitFor(async () => pdp.revision() >= res.body.revision);
    } finally {
      await pdp.close();
      await toA.cut();
    }
  });

  it('ends its watch streams when its store freezes (connections open, nothing answers)', async () => {
    const onB = await SseClient.open(`${b.url}/v1/watch?service=orders`);
    expect(onB.status).toBe(200);
    proxy.freeze();
    try {
      // Polls every 250 ms; a catch-up unfinished after two polls marks the replica stale.
      await Promise.race([
        onB.ended,
        new Promise((_, reject) => setTimeout(() => reject(new Error('stream not ended')), 5000)),
      ]);
      // /readyz says so without asking the frozen store (requests that authenticate against
      // the store wait on it: no query timeout is set, see docs/operations.md).
      expect(b.app.ward.follower.healthy).toBe(false);
      expect((await http(b.url, 'GET', '/readyz')).status).toBe(503);
    } finally {
      // Mend: drop the frozen connections (as a restarted store would) and accept new ones.
      await proxy.cut();
      await proxy.open();
    }
  });
});
