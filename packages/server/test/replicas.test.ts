/**
 * Two control-plane replicas on one PostgreSQL schema: a change through A wakes watchers on B
 * (LISTEN/NOTIFY), both serve byte-identical bundles, and concurrent writes get distinct,
 * ordered revisions. Skipped loudly when PostgreSQL is absent.
 */
import { join } from 'node:path';
import type { SignedBundleV1 } from '@ward/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeToken } from '../src/auth/tokens.ts';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  intention,
  pgAvailable,
  revisionEvent,
  SseClient,
  startTestServer,
  svc,
  tempDir,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('replicas.test.ts');

describe.skipIf(!PG)('replicas on PostgreSQL', () => {
  let a: RunningServer;
  let b: RunningServer;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    const key = join(tempDir(), 'shared-signing.key');
    // Start both at once: migrations, bootstrap and key creation must tolerate the race. A sweeps
    // for lost revocations often, B hardly ever (so on B only the notification can be at work).
    [a, b] = await Promise.all([
      startTestServer({ database: schema.url, signingKeyFile: key, revocationSweepMs: 300 }),
      startTestServer({ database: schema.url, signingKeyFile: key, revocationSweepMs: 600_000 }),
    ]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
    cleanupDirs();
  });

  it('share the signing key', () => {
    expect(a.publicKey).toBe(b.publicKey);
  });

  it('a change through A wakes a watcher on B, and both serve the same bundle', async () => {
    const watcher = await SseClient.open(`${b.url}/v1/watch?service=orders`);
    const res = await http(a.url, 'POST', '/v1/apply', {
      body: {
        files: [
          {
            name: 'x.yaml',
            content: yamlOf([svc('orders'), svc('web'), intention('orders', 'orders', ['web'])]),
          },
        ],
      },
    });
    expect(res.status).toBe(200);
    const e = await watcher.next(revisionEvent(res.body.revision));
    expect(JSON.parse(e.data!).services).toContain('orders');
    const fromA = await http<SignedBundleV1>(a.url, 'GET', '/v1/bundles/orders');
    const fromB = await http<SignedBundleV1>(b.url, 'GET', '/v1/bundles/orders');
    expect(fromB.body).toEqual(fromA.body);
    expect(fromB.headers.get('etag')).toBe(fromA.headers.get('etag'));
    // B's cache is invalidated by A's change.
    const rev2 = (
      await http(a.url, 'POST', '/v1/apply', {
        body: {
          files: [
            { name: 'y.yaml', content: yamlOf([intention('orders', 'orders', ['web'], 'deny')]) },
          ],
        },
      })
    ).body.revision;
    await watcher.next(revisionEvent(rev2));
    const after = await http<SignedBundleV1>(b.url, 'GET', '/v1/bundles/orders');
    expect(JSON.parse(after.body.payload).revision).toBe(rev2);
    watcher.close();
  });

  it('concurrent writes on both replicas get distinct revisions, delivered in order everywhere', async () => {
    const wa = await SseClient.open(`${a.url}/v1/watch`);
    const wb = await SseClient.open(`${b.url}/v1/watch`);
    const writes = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        http(i % 2 ? a.url : b.url, 'POST', '/v1/services', { body: svc(`conc-${i}`) }),
      ),
    );
    const revs = writes.map((w) => {
      expect(w.status).toBe(201);
      return w.body.revision as number;
    });
    expect(new Set(revs).size).toBe(6);
    const max = Math.max(...revs);
    await wa.next(revisionEvent(max));
    await wb.next(revisionEvent(max));
    for (const w of [wa, wb]) {
      const seen = w.revisions();
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      for (const r of revs) expect(seen).toContain(r);
    }
    wa.close();
    wb.close();
  });

  const pdpToken = async (name: string) => {
    const t = await http(a.url, 'POST', '/v1/tokens', {
      body: { name, scope: 'pdp', services: ['orders'] },
    });
    expect(t.status).toBe(201);
    return t.body as { token: string; id: string };
  };

  // Attack (issue 9): a token revoked on one replica kept its stream open on another.
  it('revoking a token on A ends its open stream on B at once (NOTIFY)', async () => {
    const leaked = await pdpToken('leaked-b');
    const kept = await pdpToken('kept-b');
    const onB = await SseClient.open(`${b.url}/v1/watch?service=orders`, leaked.token);
    const other = await SseClient.open(`${b.url}/v1/watch?service=orders`, kept.token);
    expect([onB.status, other.status]).toEqual([200, 200]);
    await onB.next((e) => e.comment === 'connected');
    expect((await http(a.url, 'DELETE', `/v1/tokens/${leaked.id}`)).status).toBe(200);
    await onB.ended;
    // B refuses the token at once too (its lookup cache was dropped), and keeps the other stream.
    expect((await http(b.url, 'GET', '/v1/bundles/orders', { token: leaked.token })).status).toBe(
      401,
    );
    const rev = (
      await http(a.url, 'PUT', '/v1/services/orders', { body: svc('orders', { owner: 'x' }) })
    ).body.revision as number;
    await other.next(revisionEvent(rev));
    other.close();
  });

  it('a revocation whose notification was lost is still caught by the sweep', async () => {
    const leaked = await pdpToken('leaked-sweep');
    const onA = await SseClient.open(`${a.url}/v1/watch?service=orders`, leaked.token);
    expect(onA.status).toBe(200);
    await onA.next((e) => e.comment === 'connected');
    // Revoked straight in the shared database: no NOTIFY is sent, no replica is told.
    await revokeToken(b.app.ward.db, leaked.id);
    await onA.ended;
  });
});
