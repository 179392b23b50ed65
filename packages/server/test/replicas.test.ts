/**
 * Two control-plane replicas on one PostgreSQL schema: a change through A wakes watchers on B
 * (LISTEN/NOTIFY), both serve byte-identical bundles, and concurrent writes get distinct,
 * ordered revisions. Skipped loudly when PostgreSQL is absent.
 */
import { join } from 'node:path';
import type { SignedBundleV1 } from '@ward/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    // Start both at once: migrations, bootstrap and key creation must tolerate the race.
    [a, b] = await Promise.all([
      startTestServer({ database: schema.url, signingKeyFile: key }),
      startTestServer({ database: schema.url, signingKeyFile: key }),
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
});
