/**
 * The control plane's TLS listener and client-SVID authentication: a PDP that presents its
 * X.509-SVID is the service its SPIFFE ID names (default `spiffe://<td>/ns/<ns>/sa/<name>`, or
 * the Service's `spec.spiffeId`), reads only that service's bundle and stream, and its stream
 * ends when the certificate expires. Real TLS on loopback, certificates from Ward's own CA.
 */
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { type TestCa, type TestSvid, testCa } from './_svids.ts';
import { ADMIN, cleanupDirs, intention, startTestServer, svc, yamlOf } from './helpers.ts';

const TD = 'ward.test';
let ca: TestCa;
let server: RunningServer;
let port: number;
let orders: TestSvid;
let payments: TestSvid;
let ghost: TestSvid;
let rogue: TestSvid;

interface Reply {
  status: number;
  body: string;
  /** Resolves when the response ends (for streams). */
  ended: Promise<void>;
  close(): void;
}

/**
 * GET over TLS to `localhost`, checking the server against the Ward CA bundle, presenting
 * `svid` and/or a bearer token. For a stream, resolves at the headers (`body` is then empty).
 */
function get(
  path: string,
  opts: { svid?: TestSvid; token?: string; stream?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        ca: ca.bundle,
        ...(opts.svid ? { cert: opts.svid.cert, key: opts.svid.key } : {}),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        const ended = new Promise<void>((done) => res.on('close', done));
        res.on('data', (c: string) => {
          body += c;
        });
        const reply = () => ({
          status: res.statusCode ?? 0,
          body,
          ended,
          close: () => req.destroy(),
        });
        if (opts.stream) resolve(reply());
        else void ended.then(() => resolve(reply()));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  ca = await testCa(TD);
  const serving = await ca.issue(`spiffe://${TD}/ward/control-plane`, { dnsNames: ['localhost'] });
  server = await startTestServer({
    trustDomain: TD,
    tls: { cert: serving.cert, key: serving.key, clientCa: ca.bundle },
  });
  port = Number(new URL(server.url).port);
  expect(server.url.startsWith('https://')).toBe(true);
  const seed = yamlOf([
    svc('orders'),
    svc('payments', { spiffeId: `spiffe://${TD}/custom/payments` }),
    intention('orders', 'orders', ['payments']),
    intention('payments', 'payments', ['orders']),
  ]);
  const applied = await get('/v1/revision', { token: ADMIN });
  expect(applied.status).toBe(200);
  const res = await fetchAdmin('POST', '/v1/apply', { files: [{ name: 's.yaml', content: seed }] });
  expect(res).toBe(200);
  orders = await ca.issue(`spiffe://${TD}/ns/default/sa/orders`);
  payments = await ca.issue(`spiffe://${TD}/custom/payments`);
  ghost = await ca.issue(`spiffe://${TD}/ns/default/sa/ghost`);
  rogue = await (await testCa(TD)).issue(`spiffe://${TD}/ns/default/sa/orders`);
});
afterAll(async () => {
  await server?.close();
  cleanupDirs();
});

/** An admin POST with a JSON body over the TLS listener; resolves with the status. */
function fetchAdmin(method: string, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method,
        ca: ca.bundle,
        agent: false,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('client SVID authentication', () => {
  it("authenticates the default SPIFFE ID shape as that service's pdp", async () => {
    const own = await get('/v1/bundles/orders', { svid: orders });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body).payload).toBeTypeOf('string');
    const other = await get('/v1/bundles/payments', { svid: orders });
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body)).toMatchObject({ code: 'API_FORBIDDEN' });
  });

  it("maps a Service's explicit spec.spiffeId", async () => {
    expect((await get('/v1/bundles/payments', { svid: payments })).status).toBe(200);
    expect((await get('/v1/bundles/orders', { svid: payments })).status).toBe(403);
  });

  it('a SPIFFE ID that is no service authenticates to nothing', async () => {
    const res = await get('/v1/bundles/orders', { svid: ghost });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).detail ?? JSON.parse(res.body).title).toContain('no service');
  });

  it('an SVID from another CA authenticates to nothing', async () => {
    expect((await get('/v1/bundles/orders', { svid: rogue })).status).toBe(401);
  });

  it('an SVID is a pdp principal only: no admin or team routes', async () => {
    expect((await get('/v1/services', { svid: orders })).status).toBe(403);
    expect((await get('/v1/tokens', { svid: orders })).status).toBe(403);
  });

  it('tokens keep working on the TLS listener, without a client certificate', async () => {
    expect((await get('/v1/bundles/payments', { token: ADMIN })).status).toBe(200);
    expect((await get('/v1/bundles/orders')).status).toBe(401);
  });

  it("watches only its own service's stream", async () => {
    const own = await get('/v1/watch?service=orders', { svid: orders, stream: true });
    expect(own.status).toBe(200);
    own.close();
    const other = await get('/v1/watch?service=payments', { svid: orders });
    expect(other.status).toBe(403);
  });

  it("an SVID's stream ends when its identity is revoked: the Service gets another spiffeId", async () => {
    const stream = await get('/v1/watch?service=payments', { svid: payments, stream: true });
    expect(stream.status).toBe(200);
    const kept = await get('/v1/watch?service=orders', { svid: orders, stream: true });
    expect(kept.status).toBe(200);
    const changed = await fetchAdmin('PUT', '/v1/services/payments', {
      ...svc('payments', { spiffeId: `spiffe://${TD}/custom/payments-v2` }),
    });
    expect(changed).toBe(200);
    await stream.ended;
    expect((await get('/v1/bundles/payments', { svid: payments })).status).toBe(401);
    // The orders stream is not touched by the change.
    let ordersEnded = false;
    void kept.ended.then(() => {
      ordersEnded = true;
    });
    expect((await get('/v1/bundles/orders', { svid: orders })).status).toBe(200);
    expect(ordersEnded).toBe(false);
    kept.close();
  });

  it('an extra TLS listener beside a plain one (listenTls) takes SVIDs too', async () => {
    const plain = await startTestServer({ trustDomain: TD });
    try {
      const seeded = await fetch(`${plain.url}/v1/services`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(svc('orders')),
      });
      expect(seeded.status).toBe(201);
      const serving = await ca.issue(`spiffe://${TD}/ward/control-plane`, {
        dnsNames: ['localhost'],
      });
      const extra = await plain.listenTls({ ...serving, clientCa: ca.bundle });
      const saved = port;
      port = Number(new URL(extra.url).port);
      try {
        expect((await get('/v1/bundles/orders', { svid: orders })).status).toBe(200);
        expect((await get('/v1/bundles/payments', { svid: orders })).status).toBe(403);
        // A rotated serving certificate is used for new connections.
        const next = await ca.issue(`spiffe://${TD}/ward/control-plane`, {
          dnsNames: ['localhost'],
        });
        extra.setCertificate(next.cert, next.key);
        expect((await get('/v1/bundles/orders', { svid: orders })).status).toBe(200);
      } finally {
        port = saved;
      }
    } finally {
      await plain.close();
    }
  });

  it('a stream opened with an SVID ends when the certificate expires', async () => {
    const brief = await ca.issue(`spiffe://${TD}/ns/default/sa/orders`, { ttlSeconds: 2 });
    const stream = await get('/v1/watch?service=orders', { svid: brief, stream: true });
    expect(stream.status).toBe(200);
    await stream.ended;
    expect(Date.now()).toBeGreaterThanOrEqual(brief.notAfter - 50);
  });
});
