import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevIdp, startDevIdp } from '../src/index.ts';

const AUDIENCE = 'https://shop.example.com';
let idp: DevIdp;
const notices: string[] = [];

beforeAll(async () => {
  idp = await startDevIdp({
    users: {
      alice: { role: 'customer', tenant: 'eu', realm_access: { roles: ['buyer'] } },
      bob: {},
    },
    clients: { 'ci-bot': { role: 'machine' } },
    audience: AUDIENCE,
    logger: { warn: (message) => notices.push(message) },
  });
});
afterAll(async () => {
  await idp?.close();
});

async function json(path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${idp.issuer}${path}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('dev IdP', () => {
  it('serves a discovery document for its loopback issuer', async () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const discovery = await json('/.well-known/openid-configuration');
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.jwks_uri).toBe(`${idp.issuer}/jwks`);
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'client_credentials']),
    );
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('publishes public keys only, RS256 and ES256', async () => {
    const { keys } = (await json('/jwks')) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) {
      expect(key.d).toBeUndefined();
      expect(key.kid).toEqual(expect.any(String));
    }
  });

  it('issues a user token through code + PKCE that verifies against the JWKS and carries the claims', async () => {
    const token = await idp.userToken('alice');
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: idp.issuer,
      audience: AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['RS256'],
    });
    expect(protectedHeader.kid).toBe(idp.signingKid);
    expect(payload).toMatchObject({
      sub: 'alice',
      aud: AUDIENCE,
      role: 'customer',
      tenant: 'eu',
      realm_access: { roles: ['buyer'] },
      scope: 'api',
    });
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000);
    // Two sign-ins: two distinct tokens (no state leaks between flows).
    const second = await idp.userToken('bob');
    expect((await jwtVerify(second, jwks)).payload.sub).toBe('bob');
  });

  it('issues a machine token through client credentials', async () => {
    const token = await idp.clientToken('ci-bot');
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const { payload } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: AUDIENCE });
    expect(payload).toMatchObject({ sub: 'ci-bot', client_id: 'ci-bot', role: 'machine' });
  });

  it('refuses unknown users and clients', async () => {
    await expect(idp.userToken('mallory')).rejects.toThrow(TypeError);
    await expect(idp.clientToken('nobody')).rejects.toThrow(TypeError);
    await expect(idp.userToken('alice', { scope: 'admin' })).rejects.toThrow(TypeError);
  });

  it('rotates: the new key signs, the old stays published until dropped', async () => {
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const before = await idp.userToken('alice');
    const oldKid = decodeProtectedHeader(before).kid;
    const newKid = await idp.rotateKeys();
    expect(newKid).not.toBe(oldKid);
    expect(idp.signingKid).toBe(newKid);

    const after = await idp.userToken('alice');
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    const kids = ((await json('/jwks')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect((await jwtVerify(after, jwks)).payload.sub).toBe('alice');
    expect((await jwtVerify(before, jwks)).payload.sub).toBe('alice');

    const latest = await idp.rotateKeys({ dropPrevious: true });
    const remaining = ((await json('/jwks')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(remaining).toContain(latest);
    expect(remaining).not.toContain(oldKid);
    expect(remaining).not.toContain(newKid);
  });

  it('signs with ES256 when asked', async () => {
    const es = await startDevIdp({ users: { carol: {} }, audience: AUDIENCE, alg: 'ES256' });
    try {
      const token = await es.userToken('carol');
      expect(decodeProtectedHeader(token).alg).toBe('ES256');
      const jwks = createRemoteJWKSet(new URL(`${es.issuer}/jwks`));
      expect((await jwtVerify(token, jwks, { algorithms: ['ES256'] })).payload.sub).toBe('carol');
    } finally {
      await es.close();
    }
  });

  it('overlapping starts leave console.warn and console.info as they were', async () => {
    const { warn, info } = console;
    const ownWarn = (..._args: unknown[]) => {};
    const ownInfo = (..._args: unknown[]) => {};
    console.warn = ownWarn;
    console.info = ownInfo;
    try {
      const started = await Promise.all([
        startDevIdp({ users: { carol: {} }, audience: AUDIENCE }),
        startDevIdp({ users: { dave: {} }, audience: AUDIENCE }),
      ]);
      await Promise.all(started.map((s) => s.close()));
      expect(console.warn).toBe(ownWarn);
      expect(console.info).toBe(ownInfo);
    } finally {
      console.warn = warn;
      console.info = info;
    }
  });

  it('rejects misuse with TypeError', async () => {
    await expect(startDevIdp({ users: {}, audience: '' })).rejects.toThrow(TypeError);
    await expect(
      startDevIdp({ users: {}, audience: AUDIENCE, accessTokenTtlSec: 0 }),
    ).rejects.toThrow(TypeError);
  });
});
