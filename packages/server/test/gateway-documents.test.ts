/**
 * Gateway and Route documents in the control plane (issue 15): stored and served like the other
 * kinds, owned like the gateway's Service, carried by the gateway's own signed bundle (which a PDP
 * compiles: they change no decision), and a change to either moves that bundle and wakes its
 * watchers.
 */
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { importPublicKey, verifyBundle } from '@ward/bundle';
import { createPdp } from '@ward/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, revisionEvent, SseClient, startTestServer, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
/** The revision before any Gateway or Route existed. */
let seeded: number;
const tokens: Record<string, string> = {};

const HASH = '4b227777d4dd1fc61c6f884f48641d02b4d121d3fd328cb08b5531fcacdabf8a';
const EDGE = 'shop%2Fedge';

const service = (name: string, namespace: string, spec: object = {}) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec,
});
const gateway = (name = 'edge', namespace = 'shop', spec: object = {}) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Gateway',
  metadata: { name, namespace },
  spec: {
    oidc: [{ issuer: 'http://127.0.0.1:9000', audiences: ['shop'] }],
    apiKeys: [{ id: 'ci-bot', sha256: HASH, subject: 'ci-bot' }],
    ...spec,
  },
});
const route = (name: string, gatewayName = 'edge', namespace = 'shop', path = `/${name}/`) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Route',
  metadata: { name, namespace },
  spec: {
    gateway: gatewayName,
    match: { pathPrefix: path },
    upstream: { service: 'frontend', endpoints: ['http://127.0.0.1:8080'] },
  },
});

const apply = (docs: object[], token?: string) =>
  http(base, 'POST', '/v1/apply', {
    ...(token ? { token } : {}),
    body: { files: [{ name: 'gateway.yaml', content: yamlOf(docs) }] },
  });

async function bundleOf(key: string): Promise<BundleV1> {
  const res = await http<SignedBundleV1>(base, 'GET', `/v1/bundles/${key}`);
  expect(res.status).toBe(200);
  return verifyBundle(res.body, {
    keys: [importPublicKey(server.publicKey)],
    service: decodeURIComponent(key),
  }) as BundleV1;
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
    service('edge', 'shop', { passport: { mint: true } }),
    service('frontend', 'shop'),
    service('api', 'other'),
  ]);
  expect(seed.status).toBe(200);
  seeded = seed.body.revision as number;
  tokens.shop = await token('team-shop', { scope: 'team', namespaces: ['shop'] });
  tokens.other = await token('team-other', { scope: 'team', namespaces: ['other'] });
  tokens.frontend = await token('team-frontend', { scope: 'team', services: ['shop/frontend'] });
  tokens.pdpEdge = await token('pdp-edge', { scope: 'pdp', services: ['shop/edge'] });
  tokens.pdpFrontend = await token('pdp-frontend', { scope: 'pdp', services: ['shop/frontend'] });
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('Gateway and Route documents', () => {
  it('the owning team applies them; they are listed and read like intentions', async () => {
    const res = await apply([gateway(), route('products'), route('orders')], tokens.shop);
    expect(res.status).toBe(200);
    expect(
      res.body.results.map((r: { kind: string; name: string }) => `${r.kind} ${r.name}`),
    ).toEqual(['Gateway shop/edge', 'Route shop/products', 'Route shop/orders']);
    const gateways = await http(base, 'GET', '/v1/gateways', { token: tokens.shop });
    expect(gateways.status).toBe(200);
    expect(gateways.body.items.map((d: { name: string }) => d.name)).toEqual(['shop/edge']);
    const routes = await http(base, 'GET', `/v1/routes?gateway=${EDGE}`, { token: tokens.shop });
    expect(routes.body.items.map((d: { name: string }) => d.name)).toEqual([
      'shop/orders',
      'shop/products',
    ]);
    expect((await http(base, 'GET', '/v1/routes?gateway=shop%2Fother')).body.items).toEqual([]);
    const one = await http(base, 'GET', '/v1/routes/shop%2Fproducts');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ kind: 'Route', namespace: 'shop' });
    expect(one.headers.get('etag')).toMatch(/^"r\d+"$/);
    expect((await http(base, 'GET', '/v1/gateways/shop%2Fnope')).status).toBe(404);
  });

  it("the gateway's signed bundle carries its Gateway and Routes; a PDP compiles it", async () => {
    const bundle = await bundleOf(EDGE);
    expect(bundle.documents.map((d) => `${d.kind} ${d.metadata.name}`)).toEqual([
      'Service edge',
      'Gateway edge',
      'Route orders',
      'Route products',
    ]);
    // Another service's bundle carries none of them.
    const frontend = await bundleOf('shop%2Ffrontend');
    expect(frontend.documents.map((d) => d.kind)).toEqual(['Service']);
    const pdp = createPdp({
      service: 'shop/edge',
      controlPlanes: [base],
      publicKey: server.publicKey,
      token: tokens.pdpEdge!,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    try {
      await pdp.ready;
      expect(pdp.decide({ destination: 'shop/edge', source: {} }).allowed).toBe(false);
    } finally {
      await pdp.close();
    }
  });

  it('a change to a Route or the Gateway moves the bundle and wakes its watchers', async () => {
    const before = (await bundleOf(EDGE)).revision;
    const watch = await SseClient.open(`${base}/v1/watch?service=${EDGE}`, tokens.pdpEdge);
    expect(watch.status).toBe(200);
    const changed = await apply([route('products', 'edge', 'shop', '/catalog/')], tokens.shop);
    expect(changed.status).toBe(200);
    const rev = changed.body.revision as number;
    const event = await watch.next(revisionEvent(rev));
    expect(JSON.parse(event.data!)).toEqual({ revision: rev, services: ['shop/edge'] });
    const after = await bundleOf(EDGE);
    expect(after.revision).toBe(rev);
    expect(after.revision).toBeGreaterThan(before);
    const products = after.documents.find((d) => d.metadata.name === 'products');
    expect(products).toMatchObject({ spec: { match: { pathPrefix: '/catalog/' } } });

    const gw = await apply([gateway('edge', 'shop', { rateLimit: { failureMode: 'open' } })]);
    await watch.next(revisionEvent(gw.body.revision));
    expect((await bundleOf(EDGE)).revision).toBe(gw.body.revision);
    watch.close();
    // The history of the gateway's key lists both changes.
    const history = await http(base, 'GET', `/v1/history?service=${EDGE}&limit=5`);
    const kinds = history.body.items.flatMap((e: { changes: { kind: string }[] }) =>
      e.changes.map((c) => c.kind),
    );
    expect(kinds).toEqual(expect.arrayContaining(['Gateway', 'Route']));
  });

  it('a gateway has a bundle even with no Service document and no intention', async () => {
    const res = await apply([gateway('lone', 'other')]);
    expect(res.status).toBe(200);
    const bundle = await bundleOf('other%2Flone');
    expect(bundle.documents.map((d) => d.kind)).toEqual(['Gateway']);
  });

  it('a team that owns another namespace or service gets 403 for both kinds', async () => {
    for (const t of [tokens.other!, tokens.frontend!]) {
      for (const doc of [gateway(), route('sneaky')]) {
        const res = await apply([doc], t);
        expect(res.status).toBe(403);
        expect(res.body.errors).toEqual([expect.objectContaining({ code: 'API_NOT_OWNER' })]);
      }
      const put = await http(base, 'PUT', '/v1/routes/shop%2Fproducts', {
        token: t,
        body: route('products'),
      });
      expect(put.status).toBe(403);
      expect((await http(base, 'DELETE', `/v1/gateways/${EDGE}`, { token: t })).status).toBe(403);
      expect((await http(base, 'DELETE', '/v1/routes/shop%2Forders', { token: t })).status).toBe(
        403,
      );
    }
    // A Route names its gateway in its own namespace: `other`'s team cannot attach one to `shop`.
    const res = await apply([route('mine', 'edge', 'other')], tokens.other);
    expect(res.status).toBe(200); // it is on other/edge, a gateway `other` owns
    const bundle = await bundleOf('other%2Fedge');
    expect(bundle.documents.map((d) => `${d.kind} ${d.metadata.namespace}`)).toEqual([
      'Route other',
    ]);
    expect((await bundleOf(EDGE)).documents.some((d) => d.metadata.name === 'mine')).toBe(false);
  });

  it("a rollback of the gateway's key covers its Gateway and Routes, and only them", async () => {
    const dry = await http(base, 'POST', '/v1/rollback', {
      token: tokens.shop,
      body: { to: seeded, service: 'shop/edge', dryRun: true },
    });
    expect(dry.status, dry.text).toBe(200);
    const actions = dry.body.results.map(
      (r: { kind: string; name: string; action: string }) => `${r.kind} ${r.name} ${r.action}`,
    );
    expect(actions.sort()).toEqual([
      'Gateway shop/edge deleted',
      'Route shop/orders deleted',
      'Route shop/products deleted',
    ]);
  });

  it("a PDP token of another service cannot read the gateway's bundle or watch it", async () => {
    const res = await http(base, 'GET', `/v1/bundles/${EDGE}`, { token: tokens.pdpFrontend });
    expect(res.status).toBe(403);
    const watch = await SseClient.open(`${base}/v1/watch?service=${EDGE}`, tokens.pdpFrontend!);
    expect(watch.status).toBe(403);
    watch.close();
    const own = await http(base, 'GET', `/v1/bundles/${EDGE}`, { token: tokens.pdpEdge });
    expect(own.status).toBe(200);
  });

  it('refuses a raw API key and an insecure issuer, with file, field and position', async () => {
    const leaked = gateway();
    (leaked.spec.apiKeys[0] as Record<string, unknown>).key = 'ward-raw-secret';
    const res = await apply([leaked]);
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        code: 'POLICY_SCHEMA_INVALID',
        field: '/spec/apiKeys/0/key',
        file: 'gateway.yaml',
        line: 1,
      }),
    ]);
    expect(res.text).not.toContain('ward-raw-secret');
    const insecure = await apply([
      gateway('edge', 'shop', { oidc: [{ issuer: 'http://idp.example.com', audiences: ['x'] }] }),
    ]);
    expect(insecure.status).toBe(422);
    expect(insecure.body.errors).toEqual([
      expect.objectContaining({ code: 'POLICY_URL_INVALID', field: '/spec/oidc/0/issuer' }),
    ]);
  });
});
