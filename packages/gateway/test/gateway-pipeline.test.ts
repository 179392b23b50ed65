import { Readable } from 'node:stream';
import { createPassportVerifier, keyringFromBundleKeys } from '@ward/passport';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passportMinter } from '../src/server/passport.ts';
import { gatewayDoc, rawSocket, routeDoc, type Seen, type Stack, startStack } from './_fixture.ts';

const ALICE = { 'x-api-key': 'key-alice-0123456789' };
const ROOT = { 'x-api-key': 'key-root-0123456789' };

const documents = (upstream: string) => [
  gatewayDoc({
    limits: { maxBodyBytes: 1024, maxHeaderBytes: 16384 },
    cors: {
      origins: ['https://shop.example.com'],
      methods: ['GET', 'POST'],
      headers: ['content-type', 'x-api-key'],
      maxAgeSec: 600,
    },
  }),
  routeDoc('api', {
    match: { pathPrefix: '/api/' },
    upstream: { service: 'catalog', endpoints: [upstream], stripPrefix: true },
  }),
  routeDoc('orders', {
    match: { path: '/api/orders', methods: ['POST'] },
    upstream: { service: 'orders', endpoints: [upstream] },
    requestSchema: {
      type: 'object',
      required: ['sku'],
      properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
    },
  }),
  routeDoc('health', {
    match: { path: '/health' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
  routeDoc('pub', {
    match: { pathPrefix: '/pub/' },
    auth: 'optional',
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
  routeDoc('hosted', {
    match: { pathPrefix: '/hosted/', hosts: ['shop.example.com'] },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
  routeDoc('slow', {
    match: { pathPrefix: '/slow' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream], timeoutMs: 300 },
  }),
  routeDoc('down', {
    match: { pathPrefix: '/down/' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: ['http://127.0.0.1:9'] },
  }),
  routeDoc('limited', {
    match: { path: '/limited' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
    rateLimits: [{ by: 'ip', limit: 2, windowSec: 3600 }],
  }),
  routeDoc('login', {
    match: { path: '/login' },
    upstream: { service: 'catalog', endpoints: [upstream] },
    rateLimits: [{ by: 'ip', limit: 2, windowSec: 3600 }],
  }),
  routeDoc('vary', {
    match: { pathPrefix: '/vary' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
  routeDoc('hop', {
    match: { pathPrefix: '/hop' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints: [upstream] },
  }),
];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack(documents);
});
afterAll(async () => {
  await stack?.close();
});

async function call(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Readable } = {},
) {
  const res = await request(`${stack.gateway.url}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
  });
  const text = await res.body.text();
  const json = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  return { status: res.statusCode, headers: res.headers, text, json };
}
const seen = (json: Record<string, unknown> | undefined) => json as unknown as Seen;

describe('routing', () => {
  it('matches by prefix, strips it, and keeps the query', async () => {
    const res = await call('/api/products/1?color=red', { headers: ALICE });
    expect(res.status).toBe(200);
    expect(seen(res.json).url).toBe('/products/1?color=red');
  });

  it('matches exact paths before prefixes, methods and hosts', async () => {
    const post = await call('/api/orders', {
      method: 'POST',
      headers: { ...ALICE, 'content-type': 'application/json' },
      body: '{"sku":"lamp","qty":1}',
    });
    expect(post.status).toBe(200);
    expect(seen(post.json).url).toBe('/api/orders'); // the orders route: no prefix stripped
    expect(seen(post.json).body).toBe('{"sku":"lamp","qty":1}');
    // GET is not a method of `orders`: the /api/ prefix route takes it.
    const get = await call('/api/orders', { headers: ALICE });
    expect(seen(get.json).url).toBe('/orders');
    expect((await call('/hosted/x', { headers: { host: 'other.example.com' } })).status).toBe(404);
    const hosted = await call('/hosted/x', { headers: { host: 'SHOP.example.com:8080' } });
    expect(hosted.status).toBe(200);
  });

  it('answers 404 with a problem body when nothing matches, 400 for hostile targets', async () => {
    const res = await call('/nothing/here');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json).toMatchObject({ status: 404, code: 'GATEWAY_NO_ROUTE' });
    const encoded = await call('/api/a%2Fb', { headers: ALICE });
    expect(encoded).toMatchObject({ status: 400, json: { code: 'GATEWAY_BAD_REQUEST' } });
  });

  it('routes and forwards the canonical path (dot segments and escapes resolved)', async () => {
    const res = await call('/pub/x/../%61dmin', { headers: ALICE });
    expect(res.status).toBe(200);
    expect(seen(res.json).url).toBe('/pub/admin');
    // `/pub/../api/admin` is `/api/admin`: decided (and denied) as such, not as a /pub/ path.
    const sneaky = await call('/pub/../api/admin', { headers: ALICE });
    expect(sneaky.status).toBe(403);
  });
});

describe('authentication', () => {
  it('required: 401 with WWW-Authenticate without or with a bad credential', async () => {
    const none = await call('/api/products');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="shop/edge"');
    const bad = await call('/api/products', { headers: { 'x-api-key': 'nope' } });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="shop/edge", error="invalid_token"');
    expect(bad.json).toMatchObject({ code: 'GATEWAY_UNAUTHENTICATED' });
  });

  it('refused credentials are charged to the route limits by client address: 401, 401, then 429', async () => {
    const bad = { 'x-api-key': 'guessed-key-0000000000' };
    const first = await call('/login', { headers: bad });
    const second = await call('/login', { headers: bad });
    const third = await call('/login', { headers: bad });
    expect([first.status, second.status, third.status]).toEqual([401, 401, 429]);
    expect(first.headers['ratelimit-policy']).toBe('"ip-3600s";q=2;w=3600');
    expect(third.json).toMatchObject({ code: 'GATEWAY_RATE_LIMITED' });
    // The same address with a valid key is limited too: it shares the anonymous caller's bucket.
    expect((await call('/login', { headers: ALICE })).status).toBe(429);
  });

  it('optional: anonymous callers pass without a passport; none: no passport and credentials kept', async () => {
    const anonymous = await call('/pub/x');
    expect(anonymous.status).toBe(200);
    expect(seen(anonymous.json).headers['x-ward-passport']).toBeUndefined();
    const signedIn = await call('/pub/x', { headers: ALICE });
    expect(seen(signedIn.json).headers['x-ward-passport']).toBeDefined();
    expect(seen(signedIn.json).headers['x-api-key']).toBeUndefined(); // consumed by the gateway
    const open = await call('/health', { headers: { ...ALICE, authorization: 'Basic abc' } });
    expect(open.status).toBe(200);
    expect(seen(open.json).headers['x-ward-passport']).toBeUndefined();
    expect(seen(open.json).headers.authorization).toBe('Basic abc');
  });
});

describe('passports and the edge decision', () => {
  it('strips an incoming passport; the upstream gets the minted one, verifiable with the bundle keys', async () => {
    const forged = 'v1.edge-1.eyJzdWIiOiJyb290In0.forged';
    const res = await call('/api/me', { headers: { ...ALICE, 'x-ward-passport': forged } });
    expect(res.status).toBe(200);
    const token = seen(res.json).headers['x-ward-passport'] as string;
    expect(token).not.toBe(forged);
    const verifier = createPassportVerifier({
      keyring: keyringFromBundleKeys(stack.pdp.passportKeys()),
    });
    const claims = verifier.verify(token);
    expect(claims).toMatchObject({ sub: 'alice', iss: 'shop/edge', attrs: { role: 'customer' } });
    expect(claims.aud).toEqual(['zone:default']);
    expect(claims.exp - claims.iat).toBe(60);
    // A forged passport on an anonymous call is dropped too.
    const anon = await call('/pub/x', { headers: { 'x-ward-passport': forged } });
    expect(seen(anon.json).headers['x-ward-passport']).toBeUndefined();
  });

  it('mints once a second per caller: same credential, same passport; other callers their own', () => {
    const mint = passportMinter(stack.pdp);
    // Authenticators return a fresh Principal per request: the memo must not depend on identity.
    const alice = () => ({
      kind: 'apiKey' as const,
      subject: 'alice',
      apiKeyId: 'alice',
      attrs: { role: 'customer' },
    });
    const now = Math.floor(Date.now() / 1000) * 1000 + 100; // now and now + 1 share a second
    const first = mint(alice(), 'shop/edge', 60, now);
    const again = mint(alice(), 'shop/edge', 60, now + 1);
    expect(first).toBeDefined();
    expect(again).toBe(first); // the memo's entry, not a second signature
    const bob = mint({ ...alice(), subject: 'bob', apiKeyId: 'bob' }, 'shop/edge', 60, now);
    expect(bob?.token).not.toBe(first?.token);
    expect(bob?.claims.sub).toBe('bob');
    const admin = mint({ ...alice(), attrs: { role: 'admin' } }, 'shop/edge', 60, now);
    expect(admin?.claims.attrs).toEqual({ role: 'admin' });
    const later = mint(alice(), 'shop/edge', 60, now + 1000);
    expect(later).not.toBe(first);
    expect(later?.claims.iat).toBe(Math.floor((now + 1000) / 1000));
  });

  it('403 with the rule when the PDP denies; the passport attributes decide', async () => {
    const denied = await call('/api/admin/users', { headers: ALICE });
    expect(denied.status).toBe(403);
    expect(denied.json).toMatchObject({
      code: 'GATEWAY_FORBIDDEN',
      rule: { policy: 'shop/edge-admin', index: 0, action: 'deny' },
    });
    expect((await call('/api/admin/users', { headers: ROOT })).status).toBe(200);
  });

  it('records every edge decision for the decision log: who, what, the rule, never the token', async () => {
    const denied = await call('/api/admin/users', { headers: ALICE });
    const allowed = await call('/api/admin/users', { headers: ROOT });
    expect([denied.status, allowed.status]).toEqual([403, 200]);
    const last = stack.decisions.slice(-2);
    expect(last[0]).toMatchObject({
      source: 'anonymous',
      destination: 'shop/edge',
      method: 'GET',
      path: '/api/admin/users',
      effect: 'deny',
      enforced: true,
      rule: { policy: 'shop/edge-admin', index: 0 },
      subject: 'alice',
    });
    expect(last[1]).toMatchObject({ effect: 'allow', destination: 'shop/edge' });
    expect(last[1]!.revision).toBe(stack.pdp.revision());
    expect(JSON.stringify(last)).not.toMatch(/key-alice|key-root|x-api-key/);
  });

  it('the decision sees the forwarded headers: a spoofed X-Forwarded-For from an untrusted peer meets no rule', async () => {
    const spoofed = await call('/api/internal/x', {
      headers: { ...ALICE, 'x-forwarded-for': '10.9.9.9' },
    });
    expect(spoofed.status).toBe(403);
    expect(spoofed.json).toMatchObject({ rule: { policy: 'shop/edge-internal', index: 0 } });
  });

  it('dry-run denials pass and are logged with their rule', async () => {
    const res = await call('/api/beta/x', { headers: ALICE });
    expect(res.status).toBe(200);
    const line = stack.logs.lines.find((l) => l.reqId === res.headers['x-request-id']);
    expect(line).toMatchObject({ dryRunDenied: true, rule: 'shop/edge-beta#0', status: 200 });
  });
});

describe('header hygiene', () => {
  it('strips hop-by-hop headers both ways', async () => {
    const socket = rawSocket(stack.gateway.url);
    try {
      const res = await socket.request(
        'GET /hop/x HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Private\r\nX-Private: hop\r\n' +
          'Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Public: yes\r\n\r\n',
      );
      expect(res.status).toBe(200);
      const upstream = JSON.parse(res.body) as Seen;
      for (const h of ['x-private', 'keep-alive', 'te', 'proxy-authorization']) {
        expect(upstream.headers[h]).toBeUndefined();
      }
      expect(upstream.headers['x-public']).toBe('yes');
      expect(res.headers['x-upstream-private']).toBeUndefined();
      expect(res.headers['proxy-authenticate']).toBeUndefined();
      expect(res.headers['x-upstream-public']).toBe('kept');
    } finally {
      socket.close();
    }
  });

  it('answers Expect: 100-continue itself and forwards the body without it', async () => {
    const socket = rawSocket(stack.gateway.url);
    try {
      const interim = await socket.request(
        'POST /health HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n',
      );
      expect(interim.status).toBe(100);
      const res = await socket.request('ok');
      expect(res.status).toBe(200);
      const upstream = JSON.parse(res.body) as Seen;
      expect(upstream.body).toBe('ok');
      expect(upstream.headers.expect).toBeUndefined();
    } finally {
      socket.close();
    }
  });

  it('replaces spoofed X-Forwarded-* and Forwarded from an untrusted peer', async () => {
    const res = await call('/health', {
      headers: {
        host: 'shop.example.com',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        forwarded: 'for=6.6.6.6',
        'x-request-id': 'spoofed-id',
      },
    });
    const h = seen(res.json).headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toBe('shop.example.com');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h.forwarded).toBe('for=127.0.0.1;proto=http;host="shop.example.com"');
    expect(res.headers['x-request-id']).not.toBe('spoofed-id');
    expect(h['x-request-id']).toBe(res.headers['x-request-id']);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('propagates a traceparent with a new span, or starts a trace', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await call('/health', {
      headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01`, tracestate: 'v=1' },
    });
    const h = seen(res.json).headers;
    expect(h.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    expect(h.traceparent).not.toContain('00f067aa0ba902b7');
    expect(h.tracestate).toBe('v=1');
    const fresh = await call('/health', { headers: { traceparent: 'garbage' } });
    expect(seen(fresh.json).headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});

describe('limits', () => {
  it('413 for a declared or a streamed (chunked) body over the limit', async () => {
    const declared = await call('/health', { method: 'POST', body: 'x'.repeat(2000) });
    expect(declared).toMatchObject({ status: 413, json: { code: 'GATEWAY_BAD_REQUEST' } });
    const chunked = await call('/health', {
      method: 'POST',
      body: Readable.from([Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')]),
    });
    expect(chunked.status).toBe(413);
    const small = await call('/health', {
      method: 'POST',
      body: Readable.from([Buffer.from('ok')]),
    });
    expect(seen(small.json).body).toBe('ok');
  });

  it('431 for header sections over the limit', async () => {
    const big = await call('/health', { headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(big).toMatchObject({ status: 431, json: { code: 'GATEWAY_BAD_REQUEST' } });
    const many: Record<string, string> = {};
    for (let i = 0; i < 150; i++) many[`x-h${i}`] = 'v';
    expect((await call('/health', { headers: many })).status).toBe(431);
    const huge = await call('/health', { headers: { 'x-huge': 'a'.repeat(80_000) } });
    expect(huge.status).toBe(431);
  });

  it('400 with bounded ajv errors for a body outside the route schema; 415 for non-JSON', async () => {
    const post = (body: string, type = 'application/json') =>
      call('/api/orders', { method: 'POST', headers: { ...ALICE, 'content-type': type }, body });
    const invalid = await post('{"qty":0}');
    expect(invalid.status).toBe(400);
    expect(invalid.json).toMatchObject({ code: 'GATEWAY_BAD_REQUEST' });
    const errors = invalid.json?.errors as { field: string; message: string }[];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(10);
    expect((await post('{not json')).status).toBe(400);
    expect((await post('{"sku":"x"}', 'text/plain')).status).toBe(415);
  });

  it('429 with RateLimit headers once a limit is exhausted', async () => {
    const first = await call('/limited');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"ip-3600s";q=2;w=3600');
    expect(first.headers.ratelimit).toMatch(/^"ip-3600s";r=1;t=\d+$/);
    await call('/limited');
    const refused = await call('/limited');
    expect(refused.status).toBe(429);
    expect(refused.json).toMatchObject({ code: 'GATEWAY_RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('CORS', () => {
  it('answers allowed preflights and refuses others', async () => {
    const ok = await call('/api/products', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-api-key',
      },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(ok.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(ok.headers['access-control-max-age']).toBe('600');
    const evil = await call('/api/products', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('adds CORS headers to answers for allowed origins only', async () => {
    const ok = await call('/health', { headers: { origin: 'https://shop.example.com' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(ok.headers.vary).toContain('Origin');
    const evil = await call('/health', { headers: { origin: 'https://evil.example' } });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  it("keeps the upstream's Vary (adding Origin) and drops its access-control-* headers", async () => {
    const ok = await call('/vary', { headers: { origin: 'https://shop.example.com' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.vary).toBe('Accept-Encoding, Origin');
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();
    expect(ok.headers['access-control-expose-headers']).not.toContain('x-upstream-secret');
    expect(ok.headers['access-control-expose-headers']).toContain('x-request-id');
    const evil = await call('/vary', { headers: { origin: 'https://evil.example' } });
    expect(evil.headers.vary).toBe('Accept-Encoding');
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    expect(evil.headers['access-control-expose-headers']).toBeUndefined();
  });
});

describe('upstream failures', () => {
  it('504 when the upstream does not answer in time; 502 when it is down', async () => {
    const slow = await call('/slow/x');
    expect(slow).toMatchObject({ status: 504, json: { code: 'GATEWAY_UPSTREAM_TIMEOUT' } });
    const down = await call('/down/x');
    expect(down).toMatchObject({ status: 502, json: { code: 'GATEWAY_UPSTREAM_UNAVAILABLE' } });
  });

  it('aborts the upstream request when the client goes away', async () => {
    const before = stack.upstream.abandoned;
    const controller = new AbortController();
    const pending = request(`${stack.gateway.url}/slow/abort`, { signal: controller.signal });
    while (!stack.upstream.seen.some((s) => s.url === '/slow/abort')) {
      await new Promise((r) => setTimeout(r, 10));
    }
    controller.abort();
    await expect(pending).rejects.toThrow();
    while (stack.upstream.abandoned === before) await new Promise((r) => setTimeout(r, 10));
    expect(stack.upstream.abandoned).toBe(before + 1);
  });
});

describe('access log', () => {
  it('one line per request: id, route, status, path without query values, no credentials', async () => {
    const res = await call('/api/things?token=s3cr3t-value&x=1', { headers: ALICE });
    const line = stack.logs.lines.find((l) => l.reqId === res.headers['x-request-id']);
    expect(line).toMatchObject({
      msg: 'request',
      route: 'shop/api',
      method: 'GET',
      path: '/api/things?token=&x=',
      status: 200,
      subject: 'alice',
    });
    expect(typeof line?.durationMs).toBe('number');
    expect(line?.aborted).toBeUndefined();
    expect(line?.upstream).toBe(stack.upstream.url);
    const passport = seen(res.json).headers['x-ward-passport'] as string;
    for (const raw of stack.logs.raw) {
      expect(raw).not.toContain('s3cr3t-value');
      expect(raw).not.toContain('key-alice-0123456789');
      expect(raw).not.toContain(passport);
    }
  });

  it('log lines cannot be forged through the path', async () => {
    const socket = rawSocket(stack.gateway.url);
    try {
      await socket.request('GET /nothing%0A%7B%22forged%22:1%7D HTTP/1.1\r\nHost: gw\r\n\r\n');
    } finally {
      socket.close();
    }
    expect(stack.logs.raw.every((l) => !l.startsWith('{"forged"'))).toBe(true);
  });
});
