import { afterEach, describe, expect, it } from 'vitest';
import { createClientUpstream, type Upstream } from '../src/index.ts';
import {
  apiKeySpecs,
  gatewayDoc,
  rawSocket,
  routeDoc,
  type Seen,
  type Stack,
  startStack,
} from './_fixture.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const until = async (check: () => boolean, what: string) => {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 20_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const routesFor = (upstream: string, paths: string[]) =>
  paths.map((p) =>
    routeDoc(p.slice(1), {
      match: { path: p },
      auth: 'none',
      upstream: { service: 'catalog', endpoints: [upstream] },
    }),
  );

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: gw\r\n${extra}\r\n`;

describe('hot reload', () => {
  it('swaps the config on a bundle update without dropping keep-alive connections', async () => {
    const s = await startStack((u) => [gatewayDoc({}), ...routesFor(u, ['/a'])]);
    stack = s;
    const socket = rawSocket(s.gateway.url);
    try {
      expect((await socket.request(get('/a'))).status).toBe(200);
      expect((await socket.request(get('/b'))).status).toBe(404);
      // An in-flight request: its headers are in (route /a matched), its body is still coming.
      socket.socket.write(
        'POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
      );
      await new Promise((r) => setTimeout(r, 100));
      const before = s.gateway.config();
      s.push([gatewayDoc({}), ...routesFor(s.upstream.url, ['/b'])]); // /a is gone
      await until(() => s.gateway.config() !== before, 'the new config');
      socket.socket.write('0\r\n\r\n');
      const inFlight = await socket.request('');
      expect(inFlight.status).toBe(200); // finished on the config it started with
      expect((JSON.parse(inFlight.body) as Seen).body).toBe('hello');
      // Same socket, new config.
      expect((await socket.request(get('/b'))).status).toBe(200);
      expect((await socket.request(get('/a'))).status).toBe(404);
      expect(socket.socket.destroyed).toBe(false);
    } finally {
      socket.close();
    }
  });

  it('refuses an invalid config and keeps serving the last good one, until a good one comes', async () => {
    const s = await startStack((u) => [gatewayDoc({}), ...routesFor(u, ['/a'])]);
    stack = s;
    const socket = rawSocket(s.gateway.url);
    try {
      expect((await socket.request(get('/a'))).status).toBe(200);
      const good = s.gateway.config();
      const before = s.pdp.revision();
      // An endpoint with a path: @ward/policy refuses it as the gateway would, so the PDP refuses
      // the bundle (it could never be applied either) and the gateway stays on its config.
      const broken = routeDoc('broken', {
        match: { path: '/x' },
        upstream: { service: 'catalog', endpoints: [`${s.upstream.url}/base`] },
      });
      s.push([gatewayDoc({}), ...routesFor(s.upstream.url, ['/b']), broken]);
      await until(
        () => (s.pdp.status().rejected.PDP_COMPILE_FAILED ?? 0) > 0,
        'the PDP to refuse the bundle',
      );
      expect(s.pdp.revision()).toBe(before);
      expect(s.gateway.config()).toBe(good);
      expect((await socket.request(get('/a'))).status).toBe(200);
      expect((await socket.request(get('/b'))).status).toBe(404);
      // The next good bundle applies: one bad change never freezes the gateway.
      const revision = s.push([gatewayDoc({}), ...routesFor(s.upstream.url, ['/b'])]);
      await until(() => s.pdp.revision() === revision, 'the PDP to take the good bundle');
      expect((await socket.request(get('/b'))).status).toBe(200);
      expect(s.gateway.config()).not.toBe(good);
    } finally {
      socket.close();
    }
  });
});

describe('a reload the upstream refuses', () => {
  it('leaves the config, the authenticator and its identity all on the ones in use', async () => {
    // Loopback http upstreams carry the minted passports here: insecure, as in the fixture.
    const client = createClientUpstream({ self: 'shop/edge', insecure: true });
    let refuse = false;
    const upstream: Upstream = {
      forward: (route, request) => client.forward(route, request),
      reload(config) {
        if (refuse) throw new Error('no room for the new destinations');
        client.reload(config);
      },
      close: () => client.close(),
    };
    const keyed = (u: string, path: string) =>
      routeDoc(path.slice(1), {
        match: { path },
        upstream: { service: 'catalog', endpoints: [u] },
      });
    const s = await startStack((u) => [gatewayDoc({}), keyed(u, '/a')], { upstream });
    stack = s;
    const alice = 'GET /a HTTP/1.1\r\nHost: gw\r\nX-Api-Key: key-alice-0123456789\r\n\r\n';
    const socket = rawSocket(s.gateway.url);
    try {
      expect((await socket.request(alice)).status).toBe(200);
      const good = s.gateway.config();
      refuse = true;
      // Alice's key is withdrawn and the route changes: neither may take effect.
      const onlyRoot = apiKeySpecs().filter((k) => k.id === 'root');
      const revision = s.push([gatewayDoc({ apiKeys: onlyRoot }), keyed(s.upstream.url, '/b')]);
      await until(() => s.pdp.revision() === revision, 'the PDP to take the bundle');
      expect(s.gateway.config()).toBe(good);
      expect((await socket.request(alice)).status).toBe(200); // the old authenticator still serves
      expect(() => s.gateway.reload()).toThrow(/upstream refused the routes/);
      // Once the upstream takes it, the whole config switches, authenticator included (the
      // identity fields were not recorded as in use by the refused reload).
      refuse = false;
      s.gateway.reload();
      expect((await socket.request(alice)).status).toBe(404);
      const alicesB = alice.replace('/a', '/b');
      expect((await socket.request(alicesB)).status).toBe(401);
    } finally {
      socket.close();
    }
  });
});

describe('connection limits', () => {
  it('closes a connection whose header section does not arrive within headersTimeoutMs', async () => {
    const s = await startStack((u) => [gatewayDoc({}), ...routesFor(u, ['/a'])], {
      server: { headersTimeoutMs: 200 },
    });
    stack = s;
    const socket = rawSocket(s.gateway.url);
    try {
      socket.socket.write('GET /a HTTP/1.1\r\nHost: gw\r\nX-Slow: '); // never finished
      const closed = await new Promise<string>((resolve) => {
        let got = '';
        socket.socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
        });
        socket.socket.on('close', () => resolve(got));
      });
      expect(closed).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      socket.close();
    }
  });

  it('serves at most maxConnections connections at once', async () => {
    const s = await startStack((u) => [gatewayDoc({}), ...routesFor(u, ['/a'])], {
      server: { maxConnections: 1 },
    });
    stack = s;
    const first = rawSocket(s.gateway.url);
    const second = rawSocket(s.gateway.url);
    try {
      expect((await first.request(get('/a'))).status).toBe(200);
      await expect(second.request(get('/a'))).rejects.toThrow(/socket closed/);
      expect((await first.request(get('/a'))).status).toBe(200);
    } finally {
      first.close();
      second.close();
    }
  });
});

describe('trusted proxies', () => {
  it('extends X-Forwarded-For / Forwarded and keeps the request id from a trusted peer', async () => {
    const s = await startStack((u) => [
      gatewayDoc({ trustedProxies: ['127.0.0.0/8'] }),
      ...routesFor(u, ['/a']),
    ]);
    stack = s;
    const socket = rawSocket(s.gateway.url);
    try {
      const res = await socket.request(
        get(
          '/a',
          'X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Request-Id: edge-lb-42\r\n',
        ),
      );
      const h = (JSON.parse(res.body) as Seen).headers;
      expect(h['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(h.forwarded).toBe('for=203.0.113.7, for=127.0.0.1;proto=http;host="gw"');
      expect(h['x-forwarded-proto']).toBe('https');
      expect(res.headers['x-request-id']).toBe('edge-lb-42');
    } finally {
      socket.close();
    }
  });
});

describe('close', () => {
  it('lets in-flight requests finish, then stops listening', async () => {
    const s = await startStack((u) => [gatewayDoc({}), ...routesFor(u, ['/a'])]);
    stack = s;
    const socket = rawSocket(s.gateway.url);
    try {
      socket.socket.write(
        'POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n',
      );
      await new Promise((r) => setTimeout(r, 100));
      const closed = s.gateway.close();
      socket.socket.write('0\r\n\r\n');
      expect((await socket.request('')).status).toBe(200);
      await closed;
      await expect(fetch(`${s.gateway.url}/a`)).rejects.toThrow();
    } finally {
      socket.close();
    }
  });
});

describe('request timeout', () => {
  it('answers 504 when the whole request outlives limits.requestTimeoutMs', async () => {
    const s = await startStack((u) => [
      gatewayDoc({ limits: { requestTimeoutMs: 200 } }),
      routeDoc('slow', {
        match: { pathPrefix: '/slow' },
        auth: 'none',
        upstream: { service: 'catalog', endpoints: [u], timeoutMs: 60_000 },
      }),
    ]);
    stack = s;
    const res = await fetch(`${s.gateway.url}/slow/x`);
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'GATEWAY_UPSTREAM_TIMEOUT' });
    // The upstream request was cut too.
    await until(() => s.upstream.abandoned === 1, 'the upstream request to be aborted');
  });
});
