/** Signed bundles (ETag/304, revisions, cache), the watch stream, passport-key rotation. */
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { importPublicKey, verifyBundle } from '@ward/bundle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  http,
  intention,
  revisionEvent,
  SseClient,
  startTestServer,
  svc,
  yamlOf,
} from './helpers.ts';

let server: RunningServer;
let base: string;

async function apply(docs: object[]): Promise<number> {
  const res = await http(base, 'POST', '/v1/apply', {
    body: { files: [{ name: 't.yaml', content: yamlOf(docs) }] },
  });
  expect(res.status).toBe(200);
  return res.body.revision;
}

function payload(signed: SignedBundleV1): BundleV1 {
  return JSON.parse(signed.payload) as BundleV1;
}

beforeAll(async () => {
  server = await startTestServer({ heartbeatMs: 200, trustDomain: 'shop.test' });
  base = server.url;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('bundles', () => {
  it('serves a verifiable signed bundle with ETag and 304', async () => {
    // `other` declares that it verifies passports; no rule on orders reads one.
    await apply([
      svc('web'),
      svc('orders'),
      svc('other', { passport: { verify: true } }),
      intention('orders', 'orders', ['web']),
    ]);
    const keys = await http(base, 'GET', '/v1/keys/bundle', { token: null });
    expect(keys.body.keys[0]).toEqual({
      keyId: server.keyId,
      alg: 'Ed25519',
      publicKey: server.publicKey,
    });
    const res = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/orders');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${res.body.hash}"`);
    const b = verifyBundle(res.body, {
      keys: [importPublicKey(server.publicKey)],
      service: 'orders',
    });
    expect(b).toMatchObject({ service: 'orders', trustDomain: 'shop.test', kind: 'Bundle' });
    expect(b.documents.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Service/orders',
      'Service/web',
      'Intention/orders',
    ]);
    // Issue 9: no rule of orders reads the passport, so its bundle carries no passport key.
    expect(b.passportKeys).toEqual([]);
    expect(b.passport).toEqual({
      zone: 'default',
      mint: false,
      verify: false,
      maxLifetimeSec: 3600,
    });
    const again = await http(base, 'GET', '/v1/bundles/orders', {
      headers: { 'if-none-match': res.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
  });

  it('404s an unknown service but serves an empty bundle for a known one without intentions', async () => {
    const res = await http(base, 'GET', '/v1/bundles/nosuch');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('API_NOT_FOUND');
    const other = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/other');
    expect(other.status).toBe(200);
    expect(payload(other.body).documents.map((d) => d.kind)).toEqual(['Service']);
  });

  it('bumps only the bundles a change touches; the ETag is stable otherwise; GETs hit the cache', async () => {
    const orders1 = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/orders');
    const other1 = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/other');
    const builds = server.app.ward.bundles.builds;
    for (let i = 0; i < 5; i++) await http(base, 'GET', '/v1/bundles/orders');
    expect(server.app.ward.bundles.builds).toBe(builds);
    const rev = await apply([intention('orders', 'orders', ['web', 'other'])]);
    const orders2 = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/orders');
    const other2 = await http<SignedBundleV1>(base, 'GET', '/v1/bundles/other');
    expect(payload(orders2.body).revision).toBe(rev);
    expect(payload(orders2.body).revision).toBeGreaterThan(payload(orders1.body).revision);
    expect(other2.body.hash).toBe(other1.body.hash);
    expect(payload(orders2.body).documents.map((d) => d.metadata.name)).toContain('other');
    // A change to a Service referenced by orders' rules changes orders' bundle too.
    const rev2 = await apply([svc('web', { owner: 'storefront' })]);
    expect(
      payload((await http<SignedBundleV1>(base, 'GET', '/v1/bundles/orders')).body).revision,
    ).toBe(rev2);
  });

  it('rotating passport keys changes every bundle and keeps the previous key', async () => {
    const before = payload((await http<SignedBundleV1>(base, 'GET', '/v1/bundles/other')).body);
    const res = await http(base, 'POST', '/v1/passport-keys/rotate', { body: {} });
    expect(res.status).toBe(200);
    const after = payload((await http<SignedBundleV1>(base, 'GET', '/v1/bundles/other')).body);
    expect(after.revision).toBe(res.body.revision);
    expect(after.passportKeys.map((k) => k.kid)).toEqual([
      res.body.kid,
      before.passportKeys[0]!.kid,
    ]);
    const listed = await http(base, 'GET', '/v1/passport-keys');
    expect(listed.text).not.toContain(after.passportKeys[0]!.key);
  });
});

describe('watch', () => {
  it('streams revisions, heartbeats, and filters by service', async () => {
    const all = await SseClient.open(`${base}/v1/watch`);
    const onlyOther = await SseClient.open(`${base}/v1/watch?service=other`);
    expect(all.status).toBe(200);
    const rev = await apply([intention('orders', 'orders', ['web'])]);
    const e = await all.next(revisionEvent(rev));
    expect(JSON.parse(e.data!)).toEqual({ revision: rev, services: ['orders'] });
    const rev2 = await apply([svc('other', { owner: 'x', passport: { verify: true } })]);
    await onlyOther.next(revisionEvent(rev2));
    expect(onlyOther.revisions()).toEqual([rev2]); // the orders-only revision was filtered out
    await all.next((x) => x.comment?.startsWith('heartbeat') === true);
    all.close();
    onlyOther.close();
  });

  it('resumes from Last-Event-ID (which wins over ?since) and from ?since', async () => {
    const current = (await http(base, 'GET', '/v1/revision')).body.revision as number;
    const r1 = await apply([svc('resume-a')]);
    const r2 = await apply([svc('resume-b')]);
    const c = await SseClient.open(`${base}/v1/watch?since=0`, undefined, {
      'last-event-id': String(current),
    });
    await c.next(revisionEvent(r2));
    expect(c.revisions()).toEqual([r1, r2]);
    c.close();
    const d = await SseClient.open(`${base}/v1/watch?since=${r1}`);
    await d.next(revisionEvent(r2));
    expect(d.revisions()).toEqual([r2]);
    const r3 = await apply([svc('resume-c')]);
    await d.next(revisionEvent(r3));
    expect(d.revisions()).toEqual([r2, r3]);
    d.close();
  });

  it('sends one "*" event to a client too far behind', async () => {
    // Rotations are the cheapest revisions; push the store past the replay limit (100).
    for (let i = 0; i < 101; i++)
      await http(base, 'POST', '/v1/passport-keys/rotate', { body: {} });
    const current = (await http(base, 'GET', '/v1/revision')).body.revision as number;
    const c = await SseClient.open(`${base}/v1/watch?since=0`);
    await c.next(revisionEvent(current));
    expect(c.events.filter((x) => x.event === 'revision').map((x) => JSON.parse(x.data!))).toEqual([
      { revision: current, services: ['*'] },
    ]);
    c.close();
  });

  it('requires a pdp or admin token', async () => {
    const res = await http(base, 'GET', '/v1/watch', { token: null });
    expect(res.status).toBe(401);
  });
});
