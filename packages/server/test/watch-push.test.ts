/**
 * Bundles pushed through the watch stream (`ward-watch-include: bundle`, contract-3 "Changes"):
 * a real server, raw SSE clients verifying the pushed envelopes, and a real PDP from @ward/sdk
 * that takes a change from the stream without a bundle GET.
 */
import type { IncomingMessage } from 'node:http';
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { importPublicKey, verifyBundle } from '@ward/bundle';
import { createPdp, type Pdp, type PdpLogger } from '@ward/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardContext } from '../src/http/context.ts';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  http,
  intention,
  revisionEvent,
  SseClient,
  type SseEvent,
  startTestServer,
  svc,
  yamlOf,
} from './helpers.ts';

let server: RunningServer;
let base: string;
let ward: WardContext;
/** GET /v1/bundles/* requests the server received, counted on the raw HTTP server. */
let bundleGets = 0;
const PUSH = { 'ward-watch-include': 'bundle' };
const open: SseClient[] = [];

async function apply(docs: object[]): Promise<number> {
  const res = await http(base, 'POST', '/v1/apply', {
    body: { files: [{ name: 't.yaml', content: yamlOf(docs) }] },
  });
  expect(res.status).toBe(200);
  return res.body.revision;
}

async function watch(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await SseClient.open(`${base}${path}`, undefined, headers);
  open.push(c);
  expect(c.status).toBe(200);
  return c;
}

const bundleEvent = (rev: number) => (e: SseEvent) => e.event === 'bundle' && Number(e.id) >= rev;
const heartbeat = (e: SseEvent) => e.comment?.startsWith('heartbeat') === true;

/** Verifies a pushed event's data exactly as a PDP does a fetched bundle. */
function verified(e: SseEvent, service: string): BundleV1 {
  expect(e.data).not.toContain('\n');
  const envelope = JSON.parse(e.data!) as SignedBundleV1;
  const bundle = verifyBundle(envelope, { keys: [importPublicKey(server.publicKey)], service });
  expect(Number(e.id)).toBe(bundle.revision);
  return bundle;
}

beforeAll(async () => {
  server = await startTestServer({ heartbeatMs: 200, trustDomain: 'shop.test' });
  base = server.url;
  ward = (server.app as unknown as { ward: WardContext }).ward;
  server.app.server.on('request', (req: IncomingMessage) => {
    if (req.method === 'GET' && req.url?.startsWith('/v1/bundles/')) bundleGets++;
  });
  await apply([
    svc('web'),
    svc('orders'),
    svc('other', { passport: { verify: true } }),
    svc('payments'),
    intention('orders', 'orders', ['web']),
  ]);
});
afterAll(async () => {
  for (const c of open) c.close();
  await server.close();
  cleanupDirs();
});

describe('watch with ward-watch-include: bundle', () => {
  it('pushes the verified bundle on change; plain watchers still get revision events', async () => {
    const pushed = await watch('/v1/watch?service=orders', PUSH);
    const plain = await watch('/v1/watch?service=orders');
    const otherPush = await watch('/v1/watch?service=payments', PUSH);
    expect(pushed.headers.get('ward-watch-include')).toBe('bundle');
    expect(plain.headers.get('ward-watch-include')).toBeNull();
    // Connected without a resume point: live events only, so nothing before the change.
    const rev = await apply([intention('orders', 'orders', ['web', 'other'])]);

    const e = await pushed.next(bundleEvent(rev));
    const bundle = verified(e, 'orders');
    expect(bundle.revision).toBe(rev);
    expect(bundle.documents.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Service/orders',
      'Service/other',
      'Service/web',
      'Intention/orders',
    ]);
    // The pushed data is byte for byte what the GET serves.
    const got = await http(base, 'GET', '/v1/bundles/orders');
    expect(e.data).toBe(got.text);

    await plain.next(revisionEvent(rev));
    expect(plain.events.some((x) => x.event === 'bundle')).toBe(false);
    expect(JSON.parse(plain.events.find(revisionEvent(rev))!.data!)).toEqual({
      revision: rev,
      services: ['orders'],
    });

    // A change that does not touch orders reaches payments' stream, never orders'.
    const rev2 = await apply([intention('payments', 'payments', ['orders'])]);
    verified(await otherPush.next(bundleEvent(rev2)), 'payments');
    const rev3 = await apply([intention('orders', 'orders', ['web'])]);
    await pushed.next(bundleEvent(rev3));
    expect(pushed.events.filter((x) => x.event === 'bundle').map((x) => Number(x.id))).toEqual([
      rev,
      rev3,
    ]);
    expect(pushed.events.some((x) => x.event === 'revision')).toBe(false);
  });

  it('builds once per revision and writes the same bytes to every watcher of the service', async () => {
    const watchers = await Promise.all(
      [1, 2, 3].map(() => watch('/v1/watch?service=orders', PUSH)),
    );
    // Each stream is live once its first heartbeat arrived (heartbeats skip queuing watchers).
    await Promise.all(watchers.map((w) => w.next(heartbeat)));
    const builds = ward.bundles.builds;
    const pushedBefore = ward.hub.bundlesPushed;
    const gets = bundleGets;
    const rev = await apply([intention('orders', 'orders', ['web', 'payments'])]);
    const events = await Promise.all(watchers.map((w) => w.next(bundleEvent(rev))));
    expect(new Set(events.map((e) => e.data)).size).toBe(1);
    verified(events[0]!, 'orders');
    expect(ward.bundles.builds - builds).toBe(1);
    // Every push watcher of orders (the earlier test's stream too) got exactly one write.
    expect(ward.hub.bundlesPushed - pushedBefore).toBe(4);
    expect(bundleGets).toBe(gets);
  });

  it('pushes every bundle after a passport key rotation ("*")', async () => {
    const c = await watch('/v1/watch?service=other', PUSH);
    await c.next(heartbeat);
    const rotated = await http(base, 'POST', '/v1/passport-keys/rotate', { body: {} });
    expect(rotated.status).toBe(200);
    const bundle = verified(await c.next(bundleEvent(rotated.body.revision)), 'other');
    expect(bundle.passportKeys.map((k) => k.kid)).toContain(rotated.body.kid);
  });

  it('catches up on connect with the current bundle only when the client is behind', async () => {
    await apply([svc('bystander')]); // a revision that leaves orders' bundle as it is
    const current = (await http(base, 'GET', '/v1/revision')).body.revision as number;
    const orders = verifyBundle(JSON.parse((await http(base, 'GET', '/v1/bundles/orders')).text), {
      keys: [importPublicKey(server.publicKey)],
      service: 'orders',
    });
    // Behind (several revisions): ONE bundle event, the current one, never a replay.
    const behind = await watch('/v1/watch?service=orders&since=1', PUSH);
    await behind.next(heartbeat);
    const caught = behind.events.filter((x) => x.event === 'bundle');
    expect(caught).toHaveLength(1);
    expect(verified(caught[0]!, 'orders').revision).toBe(orders.revision);
    expect(behind.events.some((x) => x.event === 'revision')).toBe(false);
    // Up to date (Last-Event-ID = the bundle's revision, later revisions did not touch it).
    expect(current).toBeGreaterThan(orders.revision);
    const upToDate = await watch('/v1/watch?service=orders', {
      ...PUSH,
      'last-event-id': String(orders.revision),
    });
    await upToDate.next(heartbeat);
    expect(upToDate.events.filter((x) => x.event === 'bundle' || x.event === 'revision')).toEqual(
      [],
    );
  });

  it('ignores the header without ?service= and for unknown values', async () => {
    const all = await watch('/v1/watch', PUSH);
    const odd = await watch('/v1/watch?service=orders', { 'ward-watch-include': 'something-else' });
    expect(all.headers.get('ward-watch-include')).toBeNull();
    expect(odd.headers.get('ward-watch-include')).toBeNull();
    await Promise.all([all.next(heartbeat), odd.next(heartbeat)]);
    const rev = await apply([intention('orders', 'orders', ['web'])]);
    await all.next(revisionEvent(rev));
    await odd.next(revisionEvent(rev));
    expect([...all.events, ...odd.events].some((x) => x.event === 'bundle')).toBe(false);
  });

  it('pushes to a watcher of a service that only exists later', async () => {
    const c = await watch('/v1/watch?service=late&since=0', PUSH);
    await c.next(heartbeat);
    const rev = await apply([svc('late')]);
    const bundle = verified(await c.next(bundleEvent(rev)), 'late');
    expect(bundle.documents.map((d) => d.metadata.name)).toEqual(['late']);
  });
});

describe('a real PDP on the pushed path', () => {
  let pdp: Pdp | undefined;
  afterAll(async () => {
    await pdp?.close();
  });

  it('takes a change from the stream without fetching the bundle', async () => {
    const token = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'orders-pdp', scope: 'pdp', services: ['orders'] },
    });
    expect(token.status).toBe(201);
    const warnings: string[] = [];
    const logger: PdpLogger = { warn: (_f, m) => warnings.push(m) };
    pdp = createPdp({
      service: 'orders',
      controlPlanes: [base],
      publicKey: server.publicKey,
      token: token.body.token,
      logger,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    await pdp.ready;
    const p = pdp;
    const web = { source: { service: 'web' } } as const;
    const payments = { source: { service: 'payments' } } as const;
    expect(p.decide(web).allowed).toBe(true);
    expect(p.decide(payments).allowed).toBe(false);
    // Open means registered with the hub: a change from here on is queued for it, never lost.
    await until(() => p.status().connected === base, 'watch open');

    const gets = bundleGets;
    const pushed = ward.hub.bundlesPushed;
    const rev = await apply([intention('orders', 'orders', ['payments'])]);
    await until(() => p.revision() === rev, 'the change reaches the PDP');
    expect(p.decide(payments).allowed).toBe(true);
    expect(p.decide(web).allowed).toBe(false);
    expect(bundleGets).toBe(gets); // no GET: the bundle came through the stream
    expect(ward.hub.bundlesPushed).toBeGreaterThan(pushed);
    expect(p.status()).toMatchObject({ source: base, rejected: {}, lastError: null });
    expect(warnings).toEqual([]);
  });
});

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
