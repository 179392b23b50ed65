/**
 * Secret documents in the control plane (issue 16): stored, versioned and served like the other
 * kinds under /v1/secretpolicies (/v1/secrets is the values API), owned through `spec.owner`
 * (a team must own the owner service before and after a change), and in no bundle: a
 * Secret-only apply moves no bundle revision.
 */
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { importPublicKey, verifyBundle } from '@ward/bundle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, startTestServer, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
let seeded: number;
const tokens: Record<string, string> = {};

const service = (name: string, namespace: string, spec: object = {}) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec,
});
const intention = (destination: string, source: string, namespace = 'shop') => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: destination, namespace },
  spec: { destination, rules: [{ sources: [source], action: 'allow' }] },
});
const secret = (name: string, spec: object, namespace = 'shop') => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Secret',
  metadata: { name, namespace },
  spec,
});
const apiKey = (spec: object = {}) =>
  secret('inventory-api-key', {
    owner: 'inventory',
    readers: ['orders', 'inventory'],
    type: 'random',
    random: { length: 40, alphabet: 'base64url' },
    rotation: { every: '24h', grace: '1h', activation: '5s' },
    ...spec,
  });

const apply = (docs: object[], token?: string) =>
  http(base, 'POST', '/v1/apply', {
    ...(token ? { token } : {}),
    body: { files: [{ name: 'secrets.yaml', content: yamlOf(docs) }] },
  });

async function bundleRevision(key: string): Promise<number> {
  const res = await http<SignedBundleV1>(base, 'GET', `/v1/bundles/${key}`);
  expect(res.status).toBe(200);
  const bundle = verifyBundle(res.body, {
    keys: [importPublicKey(server.publicKey)],
    service: decodeURIComponent(key),
  }) as BundleV1;
  expect(bundle.documents.some((d) => (d.kind as string) === 'Secret')).toBe(false);
  return bundle.revision;
}

async function token(name: string, body: object): Promise<string> {
  const res = await http(base, 'POST', '/v1/tokens', { body: { name, ...body } });
  expect(res.status).toBe(201);
  return res.body.token as string;
}

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  const seed = await apply([
    service('inventory', 'shop'),
    service('orders', 'shop'),
    service('api', 'other'),
    intention('inventory', 'orders'),
    intention('orders', 'inventory'),
  ]);
  expect(seed.status, seed.text).toBe(200);
  seeded = seed.body.revision as number;
  tokens.shop = await token('team-shop', { scope: 'team', namespaces: ['shop'] });
  tokens.inventory = await token('team-inventory', {
    scope: 'team',
    services: ['shop/inventory'],
  });
  tokens.orders = await token('team-orders', { scope: 'team', services: ['shop/orders'] });
  tokens.other = await token('team-other', { scope: 'team', namespaces: ['other'] });
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('Secret documents', () => {
  it("the owner's team applies one; no bundle moves; it round-trips", async () => {
    const before = {
      inventory: await bundleRevision('shop%2Finventory'),
      orders: await bundleRevision('shop%2Forders'),
    };
    const res = await apply([apiKey()], tokens.inventory);
    expect(res.status, res.text).toBe(200);
    expect(res.body.results).toEqual([
      expect.objectContaining({
        kind: 'Secret',
        name: 'shop/inventory-api-key',
        namespace: 'shop',
        action: 'created',
      }),
    ]);
    expect(res.body.revision).toBeGreaterThan(seeded);
    // In no bundle: neither the owner's nor a reader's bundle changes revision.
    expect(await bundleRevision('shop%2Finventory')).toBe(before.inventory);
    expect(await bundleRevision('shop%2Forders')).toBe(before.orders);
    const history = await http(base, 'GET', '/v1/history?limit=1');
    expect(history.body.items[0]).toMatchObject({ revision: res.body.revision, services: [] });

    const one = await http(base, 'GET', '/v1/secretpolicies/shop%2Finventory-api-key', {
      token: tokens.orders,
    });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      kind: 'Secret',
      name: 'shop/inventory-api-key',
      namespace: 'shop',
      createdRevision: res.body.revision,
    });
    expect(one.body.document).toEqual(apiKey());
    expect(one.headers.get('etag')).toBe(`"r${res.body.revision}"`);
    const list = await http(base, 'GET', '/v1/secretpolicies?owner=shop%2Finventory');
    expect(list.body.items.map((d: { name: string }) => d.name)).toEqual([
      'shop/inventory-api-key',
    ]);
    expect((await http(base, 'GET', '/v1/secretpolicies?owner=shop%2Forders')).body.items).toEqual(
      [],
    );
    // Applying the same document again is unchanged.
    const again = await apply([apiKey()], tokens.inventory);
    expect(again.body.results[0].action).toBe('unchanged');
  });

  it('a team that does not own the owner service is refused with the field', async () => {
    for (const t of [tokens.orders!, tokens.other!]) {
      const res = await apply([apiKey({ readers: ['orders', 'inventory', 'other/api'] })], t);
      expect(res.status).toBe(403);
      expect(res.body.errors).toEqual([
        expect.objectContaining({
          code: 'API_NOT_OWNER',
          field: '/spec/owner',
          file: 'secrets.yaml',
        }),
      ]);
      const del = await http(base, 'DELETE', '/v1/secretpolicies/shop%2Finventory-api-key', {
        token: t,
      });
      expect(del.status).toBe(403);
    }
    // Before and after: the owner's team cannot hand its secret to a service it does not own...
    const away = await apply([apiKey({ owner: 'orders' })], tokens.inventory);
    expect(away.status).toBe(403);
    expect(away.body.errors[0]).toMatchObject({ code: 'API_NOT_OWNER', field: '/spec/owner' });
    // ...and the orders team cannot take it over by naming its own service as the owner.
    const take = await http(base, 'PUT', '/v1/secretpolicies/shop%2Finventory-api-key', {
      token: tokens.orders,
      body: apiKey({ owner: 'orders' }),
    });
    expect(take.status).toBe(403);
    expect(take.body.errors[0]).toMatchObject({ code: 'API_NOT_OWNER', field: '/spec/owner' });
    // A team owning the whole namespace may.
    const ns = await apply([apiKey({ readers: ['orders'] })], tokens.shop);
    expect(ns.status, ns.text).toBe(200);
    expect(ns.body.results[0].action).toBe('updated');
    const stored = await http(base, 'GET', '/v1/secretpolicies/shop%2Finventory-api-key');
    expect(stored.body.document.spec.readers).toEqual(['orders']);
  });

  it('an invalid Secret is refused with its position; a raw value is never echoed', async () => {
    const res = await apply([
      apiKey({ value: 'hunter2-raw-value', rotation: { every: '30s' }, readers: ['*'] }),
    ]);
    expect(res.status).toBe(422);
    expect(res.text).not.toContain('hunter2-raw-value');
    expect(res.body.errors).toEqual([
      expect.objectContaining({ code: 'POLICY_SCHEMA_INVALID', field: '/spec/value' }),
    ]);
    const bad = await apply([apiKey({ type: 'static', rotation: { every: '1h' } })]);
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual(
      ['/spec/random', '/spec/rotation/every'].map((field) =>
        expect.objectContaining({
          code: 'POLICY_SECRET_INVALID',
          field,
          file: 'secrets.yaml',
          line: 1,
          col: expect.any(Number),
        }),
      ),
    );
  });

  it("history and rollback of the owner's key cover its Secrets", async () => {
    const history = await http(base, 'GET', '/v1/history?service=shop%2Finventory&limit=10');
    const kinds = history.body.items.flatMap((e: { changes: { kind: string }[] }) =>
      e.changes.map((c) => c.kind),
    );
    expect(kinds).toContain('Secret');
    const dry = await http(base, 'POST', '/v1/rollback', {
      token: tokens.inventory,
      body: { to: seeded, service: 'shop/inventory', dryRun: true },
    });
    expect(dry.status, dry.text).toBe(200);
    expect(
      dry.body.results
        .filter((r: { action: string }) => r.action !== 'unchanged')
        .map(
          (r: { kind: string; name: string; action: string }) => `${r.kind} ${r.name} ${r.action}`,
        ),
    ).toEqual(['Secret shop/inventory-api-key deleted']);
    const before = await bundleRevision('shop%2Finventory');
    const del = await http(base, 'DELETE', '/v1/secretpolicies/shop%2Finventory-api-key', {
      token: tokens.inventory,
    });
    expect(del.status, del.text).toBe(200);
    expect(await bundleRevision('shop%2Finventory')).toBe(before);
    expect((await http(base, 'GET', '/v1/secretpolicies/shop%2Finventory-api-key')).status).toBe(
      404,
    );
  });
});
