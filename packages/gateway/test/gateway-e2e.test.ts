/**
 * The gateway with every real part wired as `ward gateway` wires them: a REAL OpenID provider
 * (@ward/dev-idp, tokens through authorization code + PKCE), the authenticator the gateway builds
 * from its Gateway document, the Redis rate limiter shared by two replicas, and hot reload.
 */
import { randomBytes } from 'node:crypto';
import { type DevIdp, startDevIdp } from '@ward/dev-idp';
import { createPassportVerifier, keyringFromBundleKeys } from '@ward/passport';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClientUpstream,
  createGateway,
  type GatewayDocument,
  redisRateLimiter,
} from '../src/index.ts';
import { apiKeySpecs, gatewayDoc, routeDoc, type Seen, sha256, startStack } from './_fixture.ts';
import { deletePrefix, freePort, SHARED_REDIS, testPrefix } from './_redis.ts';

const AUDIENCE = 'https://shop.example.com';
const LIMIT = 5;

let idp: DevIdp;
let other: DevIdp;
const redis = new Redis(SHARED_REDIS, { lazyConnect: true });
const prefixes: string[] = [];

beforeAll(async () => {
  [idp, other] = await Promise.all([
    startDevIdp({
      users: { alice: { role: 'customer', tenant: 'eu', realm_access: { roles: ['buyer'] } } },
      audience: AUDIENCE,
    }),
    // Trusted below for AUDIENCE, but its tokens are for another resource.
    startDevIdp({ users: { alice: { role: 'admin' } }, audience: 'https://other.example.com' }),
  ]);
});
afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(redis, prefix);
  redis.disconnect();
  await Promise.all([idp?.close(), other?.close()]);
});

const gatewaySpec = (extra: Partial<GatewayDocument['spec']> = {}): GatewayDocument['spec'] => ({
  oidc: [
    { issuer: idp.issuer, audiences: [AUDIENCE] },
    { issuer: other.issuer, audiences: [AUDIENCE] },
  ],
  passport: { attrs: { role: 'role', tenant: 'tenant', groups: 'realm_access.roles' } },
  ...extra,
});

const routes = (upstream: string) => [
  routeDoc('api', {
    match: { pathPrefix: '/api/' },
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
  routeDoc('limited', {
    match: { path: '/limited' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
    rateLimits: [{ by: 'route', limit: LIMIT, windowSec: 3600 }],
  }),
];

async function call(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { headers });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

const until = async (check: () => boolean, what: string) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('gateway end to end', () => {
  it('a real access token becomes a passport from its claims; another audience is 401; API keys work', async () => {
    const s = await startStack((u) => [gatewayDoc(gatewaySpec()), ...routes(u)]);
    try {
      const token = await idp.userToken('alice');
      const ok = await call(s.gateway.url, '/api/me', { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      const passport = (ok.json as unknown as Seen).headers['x-ward-passport'] as string;
      const claims = createPassportVerifier({
        keyring: keyringFromBundleKeys(s.pdp.passportKeys()),
      }).verify(passport);
      expect(claims).toMatchObject({
        sub: 'alice',
        iss: 'shop/edge',
        attrs: { role: 'customer', tenant: 'eu', groups: ['buyer'] },
      });
      expect((ok.json as unknown as Seen).headers.authorization).toBeUndefined();

      const foreign = await other.userToken('alice');
      const refused = await call(s.gateway.url, '/api/me', { authorization: `Bearer ${foreign}` });
      expect(refused).toMatchObject({ status: 401, json: { code: 'GATEWAY_UNAUTHENTICATED' } });
      expect(refused.headers['www-authenticate']).toContain('invalid_token');

      const machine = await call(s.gateway.url, '/api/me', { 'x-api-key': 'key-root-0123456789' });
      expect(machine.status).toBe(200);
      const machinePassport = (machine.json as unknown as Seen).headers['x-ward-passport'];
      expect(machinePassport).toBeDefined();
      expect((await call(s.gateway.url, '/api/me')).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  it('hot reload adds an API key: it works at once, without a restart', async () => {
    const s = await startStack((u) => [gatewayDoc(gatewaySpec()), ...routes(u)]);
    try {
      const key = randomBytes(24).toString('base64url');
      expect((await call(s.gateway.url, '/api/x', { 'x-api-key': key })).status).toBe(401);
      const before = s.gateway.config();
      const apiKeys = [
        ...apiKeySpecs(),
        { id: 'ci-bot', sha256: sha256(key), subject: 'ci-bot', attrs: { role: 'machine' } },
      ];
      await until(() => s.control.streams() > 0, 'the PDP to watch');
      s.push([gatewayDoc(gatewaySpec({ apiKeys })), ...routes(s.upstream.url)]);
      await until(() => s.gateway.config() !== before, 'the new config');
      const ok = await call(s.gateway.url, '/api/x', { 'x-api-key': key });
      expect(ok.status).toBe(200);
      // The OIDC part of the rebuilt authenticator still works.
      const token = await idp.userToken('alice');
      const user = await call(s.gateway.url, '/api/x', { authorization: `Bearer ${token}` });
      expect(user.status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('two replicas sharing one Redis admit exactly `limit` together over a window', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const limiters = [
      redisRateLimiter({ url: SHARED_REDIS, prefix }),
      redisRateLimiter({ url: SHARED_REDIS, prefix }),
    ];
    expect(await Promise.all(limiters.map((l) => l.ready()))).toEqual([true, true]);
    const s = await startStack((u) => [gatewayDoc(gatewaySpec()), ...routes(u)], {
      rateLimiter: limiters[0],
    });
    const upstream = createClientUpstream({ self: s.pdp.service });
    const second = await createGateway({
      pdp: s.pdp,
      rateLimiter: limiters[1]!,
      upstream,
      logger: pino({ level: 'silent' }),
      listen: { host: '127.0.0.1', port: 0 },
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3 * LIMIT; i++) {
        const base = i % 2 === 0 ? s.gateway.url : second.url;
        statuses.push((await call(base, '/limited')).status);
      }
      expect(statuses.filter((x) => x === 200)).toHaveLength(LIMIT);
      expect(statuses.filter((x) => x === 429)).toHaveLength(2 * LIMIT);
      expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    } finally {
      await second.close();
      await upstream.close();
      await limiters[1]!.close();
      await s.close();
    }
  });

  it('Redis unreachable: the Gateway document decides, hot-reloaded (open 200, closed 503)', async () => {
    // The limiter's own mode says closed: the Gateway document's open must win.
    const limiter = redisRateLimiter({
      url: `redis://127.0.0.1:${await freePort()}`,
      failureMode: 'closed',
    });
    const s = await startStack(
      (u) => [gatewayDoc(gatewaySpec({ rateLimit: { failureMode: 'open' } })), ...routes(u)],
      { rateLimiter: limiter },
    );
    try {
      const open = await call(s.gateway.url, '/limited');
      expect(open.status).toBe(200);
      expect(open.headers.ratelimit).toBeUndefined(); // no real counts to report
      const before = s.gateway.config();
      await until(() => s.control.streams() > 0, 'the PDP to watch');
      s.push([
        gatewayDoc(gatewaySpec({ rateLimit: { failureMode: 'closed' } })),
        ...routes(s.upstream.url),
      ]);
      await until(() => s.gateway.config() !== before, 'the new config');
      const closed = await call(s.gateway.url, '/limited');
      expect(closed).toMatchObject({
        status: 503,
        json: { code: 'GATEWAY_RATE_LIMIT_UNAVAILABLE' },
      });
      expect(Number(closed.headers['retry-after'])).toBeGreaterThan(0);
      // Routes without limits do not depend on the store.
      const token = await idp.userToken('alice');
      expect(
        (await call(s.gateway.url, '/api/x', { authorization: `Bearer ${token}` })).status,
      ).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('an issuer whose keys cannot be had answers 503 GATEWAY_IDP_UNAVAILABLE, not 401', async () => {
    const gone = await startDevIdp({ users: { bob: {} }, audience: AUDIENCE });
    const token = await gone.userToken('bob');
    const issuer = gone.issuer;
    await gone.close();
    const s = await startStack((u) => [
      gatewayDoc(gatewaySpec({ oidc: [{ issuer, audiences: [AUDIENCE] }] })),
      ...routes(u),
    ]);
    try {
      const res = await call(s.gateway.url, '/api/x', { authorization: `Bearer ${token}` });
      expect(res).toMatchObject({ status: 503, json: { code: 'GATEWAY_IDP_UNAVAILABLE' } });
      expect(res.headers['content-type']).toBe('application/problem+json');
    } finally {
      await s.close();
    }
  });
});
