/**
 * PDPs against real replicas on PostgreSQL that are not fit to serve them:
 * - a replica whose feed of the revision log went silent without it knowing (its LISTEN
 *   connection frozen, its safety poll far off) keeps heartbeating an old revision; a PDP that
 *   knows another replica compares the two and moves to the fresher one;
 * - a replica that answers 503 (store cut off) or 429 (watch limit) with Retry-After is not
 *   asked again before that time.
 */
import { join } from 'node:path';
import { createPdp, type PdpLogger } from '@ward/sdk';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  SseClient,
  startTestServer,
  svc,
  tempDir,
  waitFor,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('pdp-replicas.test.ts');

/** A logger that keeps the time of each 'control plane unavailable' warning, by URL. */
function failureLog(): PdpLogger & { at: (url: string) => number[]; codes: () => string[] } {
  const times: { url: string; at: number; code: string }[] = [];
  return {
    warn(fields, message) {
      if (message === 'control plane unavailable') {
        const f = fields as { url: string; code: string };
        times.push({ url: f.url, at: Date.now(), code: f.code });
      }
    },
    at: (url) => times.filter((t) => t.url === url).map((t) => t.at),
    codes: () => times.map((t) => t.code),
  };
}

describe.skipIf(!PG)('PDPs and replicas unfit to serve them', () => {
  let a: RunningServer;
  let b: RunningServer;
  let drop: () => Promise<void>;
  let schemaUrl: string;
  let key: string;
  const proxy = new TcpProxy(PG_URL);

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    schemaUrl = schema.url;
    await proxy.open();
    key = join(tempDir(), 'shared-signing.key');
    a = await startTestServer({ database: schema.url, signingKeyFile: key, heartbeatMs: 200 });
    // B's safety poll is far off: once its LISTEN feed is silenced, nothing tells it.
    b = await startTestServer({
      database: proxy.via(schema.url),
      signingKeyFile: key,
      heartbeatMs: 200,
      revisionPollMs: 600_000,
    });
    const res = await http(
      a.url,
      'POST',
      '/v1/apply',
      FILE(yamlOf([svc('orders'), svc('web'), intention('orders', 'orders', ['web'])])),
    );
    expect(res.status).toBe(200);
    await waitFor(async () => b.app.ward.follower.revision >= res.body.revision);
  });
  afterAll(async () => {
    await proxy.cut();
    await a?.close();
    await b?.close();
    await drop?.();
    cleanupDirs();
  });

  const pdpToken = async (name: string): Promise<string> => {
    const token = await http(a.url, 'POST', '/v1/tokens', {
      body: { name, scope: 'pdp', services: ['orders'] },
    });
    expect(token.status).toBe(201);
    return token.body.token;
  };

  it('GET /v1/watch/revision answers the revision the replica has caught up to, to pdp credentials', async () => {
    const token = await pdpToken('orders-pdp-revision');
    const res = await http(a.url, 'GET', '/v1/watch/revision', { token });
    expect(res.status).toBe(200);
    expect(res.body.revision).toBe(a.app.ward.follower.revision);
    expect((await http(a.url, 'GET', '/v1/watch/revision', { token: '' })).status).toBe(401);
  });

  it('keeps a PDP on a current replica under steady writes elsewhere (no false lag)', async () => {
    const token = await pdpToken('orders-pdp-steady');
    const log = failureLog();
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [b.url, a.url],
      publicKey: a.publicKey,
      token,
      logger: log,
      // Grace 1 s: room for a loaded machine, still far shorter than the 3 s of steady writes.
      crossCheck: { intervalMs: 200, graceMs: 1000 },
    });
    try {
      await pdp.ready;
      await waitFor(async () => pdp.status().connected === b.url);
      // 3 s of writes through A, one every ~100 ms: A is always a little ahead of B's last
      // heartbeat, but B reaches each revision A reported within milliseconds.
      let last = 0;
      const until = Date.now() + 3000;
      for (let i = 0; Date.now() < until; i++) {
        const res = await http(a.url, 'POST', '/v1/apply', FILE(yamlOf([svc(`steady-${i}`)])));
        expect(res.status).toBe(200);
        last = res.body.revision;
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitFor(async () => b.app.ward.follower.revision >= last);
      // Only lag is judged here: on a loaded machine a 200 ms-heartbeat stream may also be
      // dropped for silence, which is another mechanism.
      expect(log.codes()).not.toContain('PDP_REPLICA_STALE');
    } finally {
      await pdp.close();
    }
  });

  it('moves a PDP off a replica that lags without knowing it, onto the latest revision', async () => {
    const token = await pdpToken('orders-pdp-lag');
    const log = failureLog();
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [b.url, a.url],
      publicKey: a.publicKey,
      token,
      logger: log,
      crossCheck: { intervalMs: 200 },
    });
    try {
      await pdp.ready;
      await waitFor(async () => pdp.status().connected === b.url);
      // Silence B's LISTEN connection (open, nothing flows): B misses every notification.
      const admin = new pg.Client({ connectionString: schemaUrl });
      await admin.connect();
      const listeners = await admin.query(
        "SELECT client_port FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'",
      );
      await admin.end();
      const frozen = listeners.rows.filter((r) => proxy.freezeConnection(r.client_port));
      expect(frozen).toHaveLength(1);

      const res = await http(
        a.url,
        'POST',
        '/v1/apply',
        FILE(yamlOf([svc('audit'), intention('orders', 'orders', ['web', 'audit'])])),
      );
      expect(res.status).toBe(200);
      const appliedAt = Date.now();
      // Bound: a probe (200 ms) + grace (2 heartbeats, 400 ms) + a fetch; 5 s leaves room.
      await waitFor(
        async () => pdp.status().connected === a.url && pdp.revision() >= res.body.revision,
        5000,
      );
      const movedIn = Date.now() - appliedAt;
      console.log(`lagging replica left, latest bundle in use after ${movedIn} ms`);
      expect(movedIn).toBeLessThan(5000);
      expect(pdp.decide({ source: { service: 'audit' } }).allowed).toBe(true);
      expect(pdp.status().lastError?.code).toBe('PDP_REPLICA_STALE');
      // B still lags and believes itself healthy: only the cross-check could tell.
      expect(b.app.ward.follower.healthy).toBe(true);
      expect(b.app.ward.follower.revision).toBeLessThan(res.body.revision);
    } finally {
      await pdp.close();
      // Mend B: its LISTEN connection drops and reconnects.
      await proxy.cut();
      await proxy.open();
    }
  });

  it('waits out Retry-After of a replica whose store is cut off (503) before asking it again', async () => {
    const token = await pdpToken('orders-pdp-503');
    await proxy.cut();
    await waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 503);
    const watch = await http(b.url, 'GET', '/v1/watch?service=orders', { token });
    expect(watch.status).toBe(503);
    const retryAfterMs = Number(watch.headers.get('retry-after')) * 1000;
    expect(retryAfterMs).toBeGreaterThan(0);
    const log = failureLog();
    // Default backoff (250 ms, doubling): without Retry-After it would ask again within 250 ms.
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: b.url,
      publicKey: b.publicKey,
      token,
      logger: log,
    });
    try {
      await waitFor(async () => log.at(b.url).length >= 3, retryAfterMs * 3 * 1.2 + 5000);
      const times = log.at(b.url);
      for (let i = 1; i < times.length; i++) {
        expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(retryAfterMs);
      }
    } finally {
      await pdp.close();
      await proxy.open();
      await waitFor(async () => (await http(b.url, 'GET', '/readyz')).status === 200);
    }
  });

  it('waits out Retry-After of a replica at its watch limit (429), trying the other meanwhile', async () => {
    const limited = await startTestServer({
      database: schemaUrl,
      signingKeyFile: key,
      watchLimits: { perCredential: 1 },
    });
    const token = await pdpToken('orders-pdp-429');
    const holder = await SseClient.open(`${limited.url}/v1/watch?service=orders`, token);
    expect(holder.status).toBe(200);
    const refused = await http(limited.url, 'GET', '/v1/watch?service=orders', { token });
    expect(refused.status).toBe(429);
    const retryAfterMs = Number(refused.headers.get('retry-after')) * 1000;
    const log = failureLog();
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: [limited.url, a.url],
      publicKey: a.publicKey,
      token,
      logger: log,
      crossCheck: false,
    });
    try {
      await pdp.ready;
      await waitFor(async () => log.at(limited.url).length === 1);
      // The other replica serves meanwhile.
      await waitFor(async () => pdp.status().connected === a.url);
      // A fails: the PDP must not go back to the refusing replica before its Retry-After.
      const failedAt = Date.now();
      const stop = Math.min(retryAfterMs - 1000, 3000);
      await a.app.ward.hub.closeWhere(() => true);
      await new Promise((r) => setTimeout(r, stop));
      const retried = log.at(limited.url).filter((t) => t > failedAt);
      expect(retried).toEqual([]);
      expect(log.at(a.url).length).toBeGreaterThanOrEqual(1);
    } finally {
      await pdp.close();
      holder.close();
      await limited.close();
    }
  });
});
