/**
 * Issue 9: the middleware verifies passports for this service only (audience = its name or
 * `zone:<zone>` from the bundle), no longer than the bundle's maximum lifetime, and ignores a
 * passport when the bundle says the service does not verify passports (it holds no keys).
 * Real node:http servers behind `wardHttp`, real passports.
 */
import { createServer, type Server } from 'node:http';
import type { BundlePassportV1, PassportKeyV1 } from '@ward/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Decider, wardHttp } from '../src/index.ts';
import { call, close, listen } from './_http-client.ts';
import { fixtureDecider, passport } from './_policy-fixture.ts';

const servers: Server[] = [];

async function serve(decider: Decider): Promise<string> {
  const server = createServer(
    wardHttp({ decider, service: 'orders', devIdentityHeader: 'x-ward-source' }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ passport: req.ward?.passport ?? null }));
    }),
  );
  servers.push(server);
  return listen(server);
}

function withPolicy(policy: BundlePassportV1, keys?: readonly PassportKeyV1[]): Decider {
  const base = fixtureDecider();
  const k = keys ?? base.passportKeys!();
  return { ...base, passportKeys: () => k, passportPolicy: () => policy };
}

const send = (url: string, token: string) =>
  call(`${url}/orders/1`, { headers: { 'x-ward-source': 'frontend', 'x-ward-passport': token } });

let shop: string;
let keyless: string;
let legacy: string;

beforeAll(async () => {
  shop = await serve(withPolicy({ zone: 'shop', mint: false, verify: true, maxLifetimeSec: 600 }));
  keyless = await serve(
    withPolicy({ zone: 'default', mint: false, verify: false, maxLifetimeSec: 3600 }, []),
  );
  legacy = await serve(fixtureDecider()); // a bundle without passport settings
});
afterAll(async () => {
  for (const s of servers) await close(s);
});

describe('audience', () => {
  it('accepts a passport for this service or its zone, refuses one for another', async () => {
    for (const aud of ['orders', 'zone:shop', ['payments', 'orders']]) {
      const r = await send(shop, passport({ sub: 'alice', aud }));
      expect(r.status).toBe(200);
      expect(r.body.passport).toMatchObject({ sub: 'alice' });
    }
    for (const aud of ['payments', 'zone:default', 'shop']) {
      const r = await send(shop, passport({ sub: 'alice', aud }));
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('PASSPORT_AUDIENCE');
    }
  });

  it('a bundle without zone settings means the default zone', async () => {
    expect((await send(legacy, passport({ sub: 'alice', aud: 'zone:default' }))).status).toBe(200);
    expect((await send(legacy, passport({ sub: 'alice', aud: 'zone:shop' }))).body.code).toBe(
      'PASSPORT_AUDIENCE',
    );
  });
});

describe('lifetime', () => {
  it("enforces the bundle's maxLifetimeSec, and the 1 h default", async () => {
    const now = Math.floor(Date.now() / 1000);
    const tenMinutes = passport({ sub: 'a', aud: 'orders', iat: now, exp: now + 600 });
    const more = passport({ sub: 'a', aud: 'orders', iat: now, exp: now + 601 });
    expect((await send(shop, tenMinutes)).status).toBe(200);
    expect((await send(shop, more)).body.code).toBe('PASSPORT_LIFETIME');
    const century = passport({ sub: 'a', iat: now, exp: now + 100 * 365 * 86_400 });
    const r = await send(legacy, century);
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('PASSPORT_LIFETIME');
  });
});

describe('services without passport keys', () => {
  it('ignore the passport: not verified, not shown to the handler', async () => {
    for (const token of [passport({ sub: 'alice' }), 'garbage']) {
      const r = await send(keyless, token);
      expect(r.status).toBe(200);
      expect(r.body.passport).toBeNull();
    }
  });

  it('still refuse when the bundle says verify but brings no keys (fail closed)', async () => {
    const url = await serve(
      withPolicy({ zone: 'default', mint: false, verify: true, maxLifetimeSec: 3600 }, []),
    );
    const r = await send(url, passport({ sub: 'alice' }));
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('MIDDLEWARE_PASSPORT_REJECTED');
  });
});
