/**
 * The gateway over `createClientUpstream` (the SDK's resilient client): real loopback upstream
 * instances, the real gateway and PDP, real SVIDs for mTLS.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { compile, type PolicyDocument } from '@ward/policy';
import { createEgressGuard } from '@ward/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClientUpstream, createClientUpstream } from '../src/index.ts';
import { testCa } from './_ca.ts';
import {
  GATEWAY_KEY,
  gatewayDoc,
  logCapture,
  rawSocket,
  routeDoc,
  type Stack,
  startStack,
} from './_fixture.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * One upstream instance: answers its name; `hang` makes it never answer, `reset` cuts the
 * connection of that many next requests, `hold` delays answers until it settles.
 */
interface Instance {
  name: string;
  url: string;
  hits: number;
  hang: boolean;
  reset: number;
  hold: Promise<void> | undefined;
  /** Connections open now. */
  connections: number;
  close(): Promise<void>;
}

async function instance(
  name: string,
  tls?: { key: string; cert: string; ca: string },
): Promise<Instance> {
  const state: Instance = {
    name,
    url: '',
    hits: 0,
    hang: false,
    reset: 0,
    hold: undefined,
    connections: 0,
    close: async () => {},
  };
  const handler = (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => {
    req.resume();
    req.on('end', async () => {
      state.hits++;
      if (state.hang) return;
      if (state.reset > 0) {
        state.reset--;
        req.socket.destroy();
        return;
      }
      await state.hold;
      const body = JSON.stringify({
        name,
        url: req.url,
        passport: 'x-ward-passport' in req.headers,
      });
      // A length, not chunked: rawSocket frames responses by Content-Length.
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
      });
      res.end(body);
    });
  };
  const server: Server =
    tls === undefined
      ? createHttpServer(handler)
      : (createHttpsServer(
          { ...tls, requestCert: true, rejectUnauthorized: true },
          handler,
        ) as unknown as Server);
  server.on(tls === undefined ? 'connection' : 'secureConnection', (socket) => {
    state.connections++;
    socket.once('close', () => state.connections--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = tls === undefined ? `http://127.0.0.1:${port}` : `https://localhost:${port}`;
  let closed = false;
  state.close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(state.close);
  return state;
}

/** An origin with nothing listening (a server started and closed). */
async function deadOrigin(): Promise<string> {
  const dead = await instance('dead');
  await dead.close();
  return dead.url;
}

const route = (endpoints: string[], extra: Record<string, unknown> = {}) =>
  routeDoc('api', {
    match: { pathPrefix: '/api/' },
    auth: 'none',
    upstream: { service: 'catalog', endpoints, ...extra },
  });

async function stackWith(
  documents: unknown[],
  upstream: ClientUpstream | undefined = undefined,
  gateway: Parameters<typeof gatewayDoc>[0] = {},
): Promise<Stack> {
  const stack = await startStack(() => [gatewayDoc(gateway), ...documents], {
    upstream: upstream ?? defaultUpstream(),
  });
  cleanups.push(() => stack.close());
  return stack;
}

const defaultUpstream = () =>
  createClientUpstream({
    self: GATEWAY_KEY,
    defaults: {
      retry: { initialDelayMs: 1, maxDelayMs: 20 },
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 200 },
    },
  });

const until = async (check: () => boolean | Promise<boolean>, what: string) => {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function get(stack: Stack, path = '/api/x') {
  const res = await fetch(`${stack.gateway.url}${path}`);
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, body };
}

describe('createClientUpstream', () => {
  it('sends a minted passport to an http upstream only with insecure: true', async () => {
    const plain = await instance('plain');
    const authed = routeDoc('api', {
      match: { pathPrefix: '/api/' },
      upstream: { service: 'catalog', endpoints: [plain.url] },
    });
    const alice = { headers: { 'x-api-key': 'key-alice-0123456789' } };
    const refused = await stackWith([authed], createClientUpstream({ self: GATEWAY_KEY }));
    const res = await fetch(`${refused.gateway.url}/api/x`, alice);
    expect(res.status).toBe(502);
    await res.body?.cancel();
    expect(plain.hits).toBe(0);
    const dev = await stackWith(
      [authed],
      createClientUpstream({ self: GATEWAY_KEY, insecure: true }),
    );
    const ok = await fetch(`${dev.gateway.url}/api/x`, alice);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'plain', passport: true });
  });

  it('spreads load over the instances; the access log names the endpoint', async () => {
    const instances = await Promise.all(['a', 'b', 'c'].map((n) => instance(n)));
    const stack = await stackWith([route(instances.map((i) => i.url))]);
    for (let i = 0; i < 60; i++) expect((await get(stack)).status).toBe(200);
    for (const i of instances) expect(i.hits).toBeGreaterThan(0);
    const logged = stack.logs.lines.filter((l) => l.msg === 'request').map((l) => l.upstream);
    expect(logged).toHaveLength(60);
    expect(new Set(logged)).toEqual(new Set(instances.map((i) => i.url)));
  });

  it('a down instance: GETs still succeed, retried on the live one', async () => {
    const live = await instance('live');
    const stack = await stackWith([route([await deadOrigin(), live.url])]);
    for (let i = 0; i < 20; i++) {
      const res = await get(stack);
      expect(res.status).toBe(200);
      expect(res.body.name).toBe('live');
    }
  });

  it('a hanging upstream: 504, then the breaker opens (503 + Retry-After), then recovers', async () => {
    const slow = await instance('slow');
    slow.hang = true;
    const stack = await stackWith([route([slow.url], { timeoutMs: 100 })]);
    const first = await get(stack);
    expect(first.status).toBe(504);
    expect(first.body.code).toBe('GATEWAY_UPSTREAM_TIMEOUT');
    expect(first.body.detail).toMatch(/within 100 ms/);
    let open: Awaited<ReturnType<typeof get>> | undefined;
    await until(async () => {
      open = await get(stack);
      return open.status === 503;
    }, 'the circuit to open');
    expect(open?.body.code).toBe('GATEWAY_UPSTREAM_UNAVAILABLE');
    expect(open?.headers.get('retry-after')).toBe('1');
    const hits = slow.hits;
    expect((await get(stack)).status).toBe(503); // failing fast: the upstream is not called
    expect(slow.hits).toBe(hits);
    slow.hang = false;
    await until(async () => (await get(stack)).status === 200, 'the circuit to close');
  });

  it('mTLS with the gateway SVID; an upstream with another SPIFFE ID is refused (502)', async () => {
    const ca = await testCa();
    const gatewaySvid = await ca.issue('spiffe://test.local/ns/shop/sa/edge');
    const good = await ca.issue('spiffe://test.local/ns/shop/sa/catalog', ['localhost']);
    const wrong = await ca.issue('spiffe://test.local/ns/shop/sa/impostor', ['localhost']);
    const tlsOf = (s: typeof good) => ({ key: s.keyPem, cert: s.certChainPem, ca: ca.bundlePem });
    const catalog = await instance('catalog', tlsOf(good));
    const impostor = await instance('impostor', tlsOf(wrong));
    const stack = await stackWith(
      [
        route([catalog.url]),
        routeDoc('other', {
          match: { pathPrefix: '/other/' },
          auth: 'none',
          upstream: { service: 'catalog', endpoints: [impostor.url] },
        }),
      ],
      createClientUpstream({ self: GATEWAY_KEY, identity: { svid: gatewaySvid } }),
    );
    const ok = await get(stack);
    expect(ok.status).toBe(200);
    expect(ok.body.name).toBe('catalog');
    const refused = await get(stack, '/other/x');
    expect(refused.status).toBe(502);
    expect(refused.body.code).toBe('GATEWAY_UPSTREAM_UNAVAILABLE');
    expect(refused.body.detail).toMatch(/TLS identity/);
    expect(impostor.hits).toBe(0);
  });

  it('answers 502 for an https upstream when the gateway has no identity', async () => {
    const stack = await stackWith([route(['https://localhost:9'])]);
    const res = await get(stack);
    expect(res.status).toBe(502);
    expect(res.body.detail).toMatch(/no gateway identity/);
  });

  it('with an egress guard, the upstream intentions decide before any call (403)', async () => {
    const catalog = await instance('catalog');
    const policy = compile(
      [
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name: 'edge', namespace: 'shop' },
          spec: {},
        },
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name: 'catalog', namespace: 'shop' },
          spec: {},
        },
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'catalog-readers', namespace: 'shop' },
          spec: {
            destination: 'catalog',
            rules: [
              { sources: ['edge'], action: 'allow', permissions: [{ http: { methods: ['GET'] } }] },
            ],
          },
        },
      ] as PolicyDocument[],
      { trustDomain: 'test.local' },
    );
    const stack = await stackWith(
      [route([catalog.url])],
      createClientUpstream({
        self: GATEWAY_KEY,
        guard: createEgressGuard({ decider: policy, self: GATEWAY_KEY }),
      }),
    );
    expect((await get(stack)).status).toBe(200);
    const denied = await fetch(`${stack.gateway.url}/api/x`, { method: 'DELETE' });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { code: string }).code).toBe('GATEWAY_FORBIDDEN');
    expect(catalog.hits).toBe(1);
  });

  it('retries a buffered (validated) body, never a streamed one', async () => {
    const one = await instance('one');
    const stack = await stackWith([
      route([one.url]),
      routeDoc('validated', {
        match: { pathPrefix: '/validated/' },
        auth: 'none',
        upstream: { service: 'catalog', endpoints: [one.url] },
        requestSchema: { type: 'object' },
      }),
    ]);
    const put = (path: string) =>
      fetch(`${stack.gateway.url}${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
    one.reset = 1;
    expect((await put('/api/x')).status).toBe(502); // streamed to the upstream: sent once
    expect(one.hits).toBe(1);
    one.reset = 1;
    expect((await put('/validated/x')).status).toBe(200); // buffered: retried
    expect(one.hits).toBe(3);
  });

  it('a request in flight during a reload finishes on the retired destination', async () => {
    const before = await instance('before');
    const after = await instance('after');
    let release = () => {};
    before.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stack = await stackWith([route([before.url])]);
    const pending = get(stack);
    await until(() => before.hits === 1, 'the request to reach the upstream');
    const config = stack.gateway.config();
    stack.push([gatewayDoc({}), route([after.url])]);
    await until(() => stack.gateway.config() !== config, 'the new config');
    expect((await get(stack)).body.name).toBe('after');
    release();
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.name).toBe('before');
  });

  it('a reload that changes the endpoints moves traffic, keeping client connections', async () => {
    const before = await instance('before');
    const after = await instance('after');
    const limits = { limits: { requestTimeoutMs: 300 } };
    const logs = logCapture();
    const upstream = createClientUpstream({ self: GATEWAY_KEY, logger: logs.logger });
    const stack = await stackWith([route([before.url])], upstream, limits);
    const socket = rawSocket(stack.gateway.url);
    cleanups.push(async () => socket.close());
    const ask = async () =>
      JSON.parse((await socket.request('GET /api/x HTTP/1.1\r\nHost: gw\r\n\r\n')).body) as {
        name: string;
      };
    expect((await ask()).name).toBe('before');
    const config = stack.gateway.config();
    stack.push([gatewayDoc(limits), route([after.url])]);
    await until(() => stack.gateway.config() !== config, 'the new config');
    for (let i = 0; i < 5; i++) expect((await ask()).name).toBe('after'); // same socket
    expect(before.hits).toBe(1);
    // The old destination is closed once the old config's requests are over.
    await until(
      () => logs.lines.some((l) => l.msg === 'retired upstream destination closed'),
      'the retired destination to close',
    );
    await until(() => before.connections === 0, 'its connections to close');
  });
});
