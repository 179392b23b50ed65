/**
 * Issue 9, item 2: passports that a compromised service cannot forge for the whole fleet. A real
 * control plane on loopback, real PDPs (`@ward/sdk`) pulling their bundles with `pdp` tokens, and
 * real node:http services behind `wardHttp`. The attacker owns one service and everything its
 * bundle holds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BundleV1, PassportKeyV1, SignedBundleV1 } from '@ward/api-types';
import { keyringFromBundleKeys, mintPassport, PassportKeyring } from '@ward/passport';
import { createPdp, type Pdp, wardHttp } from '@ward/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, intention, startTestServer, svc, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
const closers: (() => Promise<void>)[] = [];

/** `passport.present && <role check>`: a rule that reads the passport. */
const readsPassport = (name: string, destination: string, sources: string[]) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name },
  spec: {
    destination,
    rules: [
      {
        sources,
        action: 'allow',
        when: 'passport.present && passport.attrs.?role.orValue("") == "admin"',
      },
    ],
  },
});

async function apply(docs: object[]): Promise<number> {
  const res = await http(base, 'POST', '/v1/apply', {
    body: { files: [{ name: 't.yaml', content: yamlOf(docs) }] },
  });
  expect(res.status).toBe(200);
  return res.body.revision;
}

async function bundle(service: string): Promise<BundleV1> {
  const res = await http<SignedBundleV1>(base, 'GET', `/v1/bundles/${service}`);
  expect(res.status).toBe(200);
  return JSON.parse(res.body.payload) as BundleV1;
}

/** A real service: a PDP pulling `name`'s bundle, and wardHttp in front of a node:http handler. */
async function service(name: string): Promise<{ url: string; pdp: Pdp }> {
  const token = await http(base, 'POST', '/v1/tokens', {
    body: { name: `${name}-pdp`, scope: 'pdp', services: [name] },
  });
  expect(token.status).toBe(201);
  const pdp = createPdp({
    service: name,
    controlPlanes: [base],
    publicKey: server.publicKey,
    token: token.body.token,
    backoff: { initialMs: 50, maxMs: 500 },
  });
  await pdp.ready;
  const srv: Server = createServer(
    wardHttp({ decider: pdp, service: name, devIdentityHeader: 'x-ward-source' }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ passport: req.ward?.passport ?? null }));
    }),
  );
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    await new Promise((resolve) => srv.close(resolve));
    await pdp.close();
  });
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, pdp };
}

interface Answer {
  status: number;
  body: { code?: string; passport?: Record<string, unknown> | null };
}

async function callWith(url: string, passport: string): Promise<Answer> {
  const res = await fetch(`${url}/x`, {
    headers: { 'x-ward-source': 'web', 'x-ward-passport': passport },
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** Waits until the PDP runs at least `revision` (the push or the next poll brings it). */
async function at(pdp: Pdp, revision: number): Promise<void> {
  while (pdp.revision() < revision) await new Promise((r) => setTimeout(r, 20));
}

const admin = { sub: 'mallory', iss: 'web', attrs: { role: 'admin' } };
let orders: { url: string; pdp: Pdp };
let partner: { url: string; pdp: Pdp };

beforeAll(async () => {
  server = await startTestServer({ heartbeatMs: 200, trustDomain: 'shop.test' });
  base = server.url;
  // The partners zone gets its first key by its first rotation.
  const zone = await http(base, 'POST', '/v1/passport-keys/rotate', {
    body: { zone: 'partners' },
  });
  expect(zone.status).toBe(200);
  await apply([
    svc('web', { passport: { mint: true } }),
    svc('orders'),
    svc('reports'),
    svc('partner-api', { passport: { zone: 'partners' } }),
    readsPassport('orders', 'orders', ['web']),
    intention('reports', 'reports', ['web']),
    readsPassport('partner-api', 'partner-api', ['web']),
  ]);
  orders = await service('orders');
  partner = await service('partner-api');
});
afterAll(async () => {
  for (const close of closers) await close();
  await server.close();
  cleanupDirs();
});

function edgeKeys(b: BundleV1): PassportKeyring {
  return keyringFromBundleKeys(b.passportKeys);
}

describe('passport keys go only where they are used', () => {
  it('a service whose policy never reads the passport gets no key, and cannot mint', async () => {
    const reports = await bundle('reports');
    expect(reports.passportKeys).toEqual([]);
    expect(reports.passport).toMatchObject({ zone: 'default', verify: false, mint: false });
    // What the attacker who owns `reports` could try: a key of its own making.
    const own = new PassportKeyring([{ kid: 'pk_guess', key: Buffer.alloc(32, 7) }]);
    const forged = mintPassport({ ...admin, aud: 'orders' }, own);
    const r = await callWith(orders.url, forged);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PASSPORT_UNKNOWN_KEY');
  });

  it('a passport header to a service without keys is ignored, not verified or shown', async () => {
    const svcReports = await service('reports');
    const edge = mintPassport({ ...admin, aud: 'zone:default' }, edgeKeys(await bundle('web')));
    const r = await callWith(svcReports.url, edge);
    expect(r.status).toBe(200);
    expect(r.body.passport).toBeNull();
  });

  it('services that read the passport, and the edge, get their zone keys only', async () => {
    const [web, ord, part] = await Promise.all([
      bundle('web'),
      bundle('orders'),
      bundle('partner-api'),
    ]);
    const zones = (keys: PassportKeyV1[]) => [...new Set(keys.map((k) => k.zone))];
    expect(zones(web.passportKeys)).toEqual(['default']);
    expect(zones(ord.passportKeys)).toEqual(['default']);
    expect(zones(part.passportKeys)).toEqual(['partners']);
    expect(web.passport).toMatchObject({ mint: true, verify: true, maxLifetimeSec: 3600 });
    expect(ord.passport).toMatchObject({ mint: false, verify: true });
    const kids = new Set(part.passportKeys.map((k) => k.kid));
    expect(ord.passportKeys.some((k) => kids.has(k.kid))).toBe(false);
  });

  it('the edge mints; a passport for the zone or the service is accepted', async () => {
    const ring = edgeKeys(await bundle('web'));
    for (const aud of ['zone:default', 'orders', ['billing', 'orders']]) {
      const r = await callWith(orders.url, mintPassport({ ...admin, aud }, ring));
      expect(r.status).toBe(200);
      expect(r.body.passport).toMatchObject({ sub: 'mallory', attrs: { role: 'admin' } });
    }
  });
});

describe('who decides passport trust', () => {
  it('a team cannot give its own service the signing key or another zone', async () => {
    const team = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'team-reports', scope: 'team', services: ['reports'] },
    });
    expect(team.status).toBe(201);
    const as = (docs: object[]) =>
      http(base, 'POST', '/v1/apply', {
        token: team.body.token,
        body: { files: [{ name: 'r.yaml', content: yamlOf(docs) }] },
      });
    for (const passport of [{ mint: true }, { zone: 'partners' }, { verify: true }]) {
      const r = await as([svc('reports', { passport })]);
      expect(r.status).toBe(403);
      expect(r.body.errors[0]).toMatchObject({
        code: 'API_ADMIN_ONLY_FIELD',
        field: '/spec/passport',
      });
    }
    expect((await bundle('reports')).passportKeys).toEqual([]);
    // Its other fields stay the team's to change.
    expect((await as([svc('reports', { owner: 'team-reports' })])).status).toBe(200);
  });
});

describe('zones', () => {
  it('a passport minted in one zone does not verify in another', async () => {
    // The attacker owns partner-api (zone partners) and uses its keys against orders (default).
    const partnerRing = edgeKeys(await bundle('partner-api'));
    const fromPartners = mintPassport({ ...admin, aud: 'orders' }, partnerRing);
    const r = await callWith(orders.url, fromPartners);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PASSPORT_UNKNOWN_KEY');
    // And the other way round: a default-zone passport at partner-api.
    const fromDefault = mintPassport(
      { ...admin, aud: 'partner-api' },
      edgeKeys(await bundle('web')),
    );
    const back = await callWith(partner.url, fromDefault);
    expect(back.status).toBe(401);
    expect(back.body.code).toBe('PASSPORT_UNKNOWN_KEY');
  });

  it('rotating one zone leaves the other zone keys alone', async () => {
    const before = (await bundle('partner-api')).passportKeys.map((k) => k.kid);
    const res = await http(base, 'POST', '/v1/passport-keys/rotate', { body: { zone: 'default' } });
    expect(res.status).toBe(200);
    expect(res.body.zone).toBe('default');
    const after = await bundle('partner-api');
    expect(after.passportKeys.map((k) => k.kid)).toEqual(before);
    expect((await bundle('orders')).passportKeys[0]!.kid).toBe(res.body.kid);
    const listed = await http(base, 'GET', '/v1/passport-keys?zone=partners');
    expect(listed.body.items.map((k: { kid: string }) => k.kid)).toEqual(
      expect.arrayContaining(before),
    );
    expect(listed.body.items.every((k: { zone: string }) => k.zone === 'partners')).toBe(true);
    const bad = await http(base, 'POST', '/v1/passport-keys/rotate', { body: { zone: 'No Zone' } });
    expect(bad.status).toBe(400);
    await at(orders.pdp, res.body.revision);
  });
});

describe('lifetime and audience', () => {
  it('refuses a 100-year passport minted with the real edge key', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const century = mintPassport(
      { ...admin, aud: 'orders', iat, exp: iat + 100 * 365 * 86_400 },
      edgeKeys(await bundle('web')),
    );
    const r = await callWith(orders.url, century);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PASSPORT_LIFETIME');
  });

  it('refuses a passport minted for another audience, or for none', async () => {
    const ring = edgeKeys(await bundle('web'));
    for (const aud of ['billing', 'zone:partners', undefined]) {
      const r = await callWith(orders.url, mintPassport({ ...admin, aud }, ring));
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('PASSPORT_AUDIENCE');
    }
  });
});

describe('Ed25519 mode', () => {
  it('after a switch, only the edge holds the signing key; verifiers cannot mint', async () => {
    const res = await http(base, 'POST', '/v1/passport-keys/rotate', {
      body: { zone: 'default', alg: 'EdDSA', retirePrevious: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.alg).toBe('EdDSA');
    await at(orders.pdp, res.body.revision);
    const [web, ord, reports] = await Promise.all([
      bundle('web'),
      bundle('orders'),
      bundle('reports'),
    ]);
    expect(web.passportKeys).toHaveLength(1);
    expect(web.passportKeys[0]).toMatchObject({ kid: res.body.kid, alg: 'EdDSA' });
    expect(typeof web.passportKeys[0]!.privateKey).toBe('string');
    expect(ord.passportKeys).toEqual(
      [{ ...web.passportKeys[0], privateKey: undefined }].map(({ privateKey: _, ...k }) => k),
    );
    expect(reports.passportKeys).toEqual([]);
    // The attacker owning orders holds only the public key: it cannot mint.
    expect(() => mintPassport({ ...admin, aud: 'orders' }, edgeKeys(ord))).toThrow(/cannot mint/);
    // Nor can it use the public key as an HMAC secret under the same kid.
    const confused = mintPassport(
      { ...admin, aud: 'orders' },
      new PassportKeyring([
        { kid: res.body.kid, key: Buffer.from(ord.passportKeys[0]!.key, 'base64url') },
      ]),
    );
    expect((await callWith(orders.url, confused)).body.code).toBe('PASSPORT_UNKNOWN_KEY');
    // The edge's v2 passport verifies at orders, twice (the second from the cache).
    const token = mintPassport({ ...admin, aud: 'orders' }, edgeKeys(web));
    expect(token.startsWith('v2.')).toBe(true);
    for (let i = 0; i < 2; i++) {
      const r = await callWith(orders.url, token);
      expect(r.status).toBe(200);
      expect(r.body.passport).toMatchObject({ sub: 'mallory', kid: res.body.kid });
    }
    // The listing shows the public key, never the private one.
    const listed = await http(base, 'GET', '/v1/passport-keys?zone=default');
    expect(listed.text).not.toContain(web.passportKeys[0]!.privateKey!);
    expect(listed.text).toContain(web.passportKeys[0]!.key);
  });
});
