/**
 * One problem-details format (RFC 9457) everywhere Ward answers an error: the control plane's
 * own routes, Fastify's errors (404, schema validation, 413, 415, bad JSON), the CA routes, the
 * ingest and watch routes, and the enforcement middleware on node:http, Express, Fastify and
 * gRPC. Each row asserts the exact set of members, the `type` prefix and that `type` names the
 * code, and that no `statusCode` appears.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { PROBLEM_TYPE_BASE, problemType } from '@ward/api-types';
import { wardExpress, wardFastify, wardGrpc, wardHttp } from '@ward/sdk';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureDecider } from '../packages/sdk/test/_policy-fixture.ts';
import { caPlugin, ingestPlugin, type RunningServer } from '../packages/server/src/index.ts';
import { cleanupDirs, http, startTestServer } from '../packages/server/test/helpers.ts';

const DEV = 'x-ward-source';
const SERVER_MEMBERS = ['code', 'detail', 'instance', 'status', 'title', 'type'];
const MIDDLEWARE_MEMBERS = ['code', 'detail', 'reason', 'rule', 'status', 'title', 'type'];

interface Answer {
  status: number;
  contentType: string | null;
  body: Record<string, unknown>;
}

function expectFormat(a: Answer, status: number, code: string, members: string[]): void {
  expect(a.status).toBe(status);
  expect(a.contentType).toMatch(/^application\/problem\+json/);
  expect(Object.keys(a.body).sort()).toEqual(members);
  expect(a.body).toMatchObject({ status, code, type: problemType(code) });
  expect(String(a.body.type).startsWith(PROBLEM_TYPE_BASE)).toBe(true);
  expect(typeof a.body.title).toBe('string');
  expect(a.body).not.toHaveProperty('statusCode');
}

async function fetchAnswer(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe('control plane: server core, Fastify errors, CA, ingest and watch', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer({ plugins: [caPlugin(), ingestPlugin()] });
  });
  afterAll(async () => {
    await server.close();
    cleanupDirs();
  });

  const call = async (
    method: string,
    path: string,
    opts: Parameters<typeof http>[3] = {},
  ): Promise<Answer> => {
    const r = await http(server.url, method, path, opts);
    return { status: r.status, contentType: r.headers.get('content-type'), body: r.body };
  };
  const withErrors = [...SERVER_MEMBERS, 'errors'].sort();

  it.each([
    // [what, method, path, options, status, code, members]
    [
      'core: no token',
      'GET',
      '/v1/services',
      { token: null },
      401,
      'API_UNAUTHENTICATED',
      withErrors,
    ],
    ['core: unknown service', 'GET', '/v1/services/nope', {}, 404, 'API_NOT_FOUND', withErrors],
    ['404: no route', 'GET', '/v1/no-such-route', {}, 404, 'API_NOT_FOUND', withErrors],
    ['bad URL encoding', 'GET', '/v1/services/%zz', {}, 400, 'API_VALIDATION', SERVER_MEMBERS],
    [
      'validation',
      'POST',
      '/v1/tokens',
      { body: { name: 42, scope: 'pdp' } },
      400,
      'API_VALIDATION',
      withErrors,
    ],
    ['bad JSON', 'POST', '/v1/tokens', { raw: '{"name":' }, 400, 'API_MALFORMED_BODY', withErrors],
    [
      '413',
      'POST',
      '/v1/tokens',
      { body: { name: 'x'.repeat(70 * 1024), scope: 'pdp' } },
      413,
      'API_PAYLOAD_TOO_LARGE',
      withErrors,
    ],
    [
      '415',
      'POST',
      '/v1/tokens',
      { raw: '<name/>', contentType: 'application/xml' },
      415,
      'API_UNSUPPORTED_MEDIA_TYPE',
      withErrors,
    ],
    [
      'CA: bad join-token request',
      'POST',
      '/v1/ca/join-tokens',
      { body: { node: 'Bad Node!' } },
      400,
      'CA_BAD_ENTRY',
      withErrors,
    ],
    [
      'CA: agent route without proof',
      'GET',
      '/v1/agent/sync',
      { token: null },
      401,
      'CA_AGENT_PROOF',
      withErrors,
    ],
    [
      'ingest: bad batch',
      'POST',
      '/v1/decision-logs',
      { body: { records: 'no' } },
      400,
      'API_VALIDATION',
      withErrors,
    ],
    [
      'watch: no token',
      'GET',
      '/v1/watch?services=orders',
      { token: null },
      401,
      'API_UNAUTHENTICATED',
      withErrors,
    ],
    [
      'watch: bad query',
      'GET',
      '/v1/watch?services=Bad%20Name',
      {},
      400,
      'API_VALIDATION',
      withErrors,
    ],
  ] as const)('%s', async (_what, method, path, opts, status, code, members) => {
    const a = await call(method, path, { ...opts });
    expectFormat(a, status, code, [...members].sort());
    expect(a.body.instance).toBe(path.split('?')[0]);
  });

  it.each([
    ['a request line that is not HTTP', 'NOT HTTP AT ALL\r\n\r\n', 400, 'API_MALFORMED_REQUEST'],
    [
      'headers past the limit',
      `GET /v1/services HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'API_HEADERS_TOO_LARGE',
    ],
  ] as const)('raw HTTP: %s', async (_what, raw, status, code) => {
    const { port } = new URL(server.url);
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
      socket.on('data', (d) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expectFormat(
      {
        status,
        contentType: /content-type: ([^\r]+)/i.exec(head ?? '')?.[1] ?? null,
        body: JSON.parse(body ?? ''),
      },
      status,
      code,
      ['code', 'detail', 'status', 'title', 'type'],
    );
  });
});

describe('enforcement middleware: a denied caller gets the same format on every framework', () => {
  const servers: { close(): Promise<void> | void }[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const options = { decider: fixtureDecider(), service: 'orders', devIdentityHeader: DEV };
  const listen = async (server: Server): Promise<string> => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const denied = (base: string) =>
    fetchAnswer(`${base}/orders/42`, { headers: { [DEV]: 'monitoring' } });

  it('node:http', async () => {
    const base = await listen(createHttpServer(wardHttp(options, (_q, s) => s.end('ok'))));
    expectFormat(await denied(base), 403, 'MIDDLEWARE_DENIED', MIDDLEWARE_MEMBERS);
  });

  it('Express', async () => {
    const app = express();
    app.use(wardExpress(options));
    app.get('/orders/:id', (_q, s) => void s.send('ok'));
    const base = await listen(createHttpServer(app));
    expectFormat(await denied(base), 403, 'MIDDLEWARE_DENIED', MIDDLEWARE_MEMBERS);
  });

  it('Fastify', async () => {
    const app: FastifyInstance = Fastify();
    await app.register(wardFastify, options);
    app.get('/orders/:id', async () => 'ok');
    await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push({ close: () => app.close() });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    expectFormat(await denied(base), 403, 'MIDDLEWARE_DENIED', MIDDLEWARE_MEMBERS);
  });

  it('gRPC (the ward-problem-bin trailer)', async () => {
    const json = {
      serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
      deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
    };
    const def: grpc.ServiceDefinition = {
      get: {
        path: '/shop.orders.v1.Orders/Get',
        requestStream: false,
        responseStream: false,
        requestSerialize: json.serialize,
        requestDeserialize: json.deserialize,
        responseSerialize: json.serialize,
        responseDeserialize: json.deserialize,
      },
    };
    const server = new grpc.Server({ interceptors: [wardGrpc(options)] });
    server.addService(def, { get: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}) });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    servers.push({ close: () => new Promise<void>((r) => server.tryShutdown(() => r())) });
    const Client = grpc.makeGenericClientConstructor(def, 'Orders');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    servers.push({ close: () => client.close() });
    const metadata = new grpc.Metadata();
    metadata.set(DEV, 'monitoring');
    const error = await new Promise<grpc.ServiceError>((resolve) =>
      (client as unknown as Record<string, (...a: unknown[]) => void>).get!(
        { id: 1 },
        metadata,
        (e: grpc.ServiceError | null) => resolve(e!),
      ),
    );
    expect(error.code).toBe(grpc.status.PERMISSION_DENIED);
    const bin = error.metadata.get('ward-problem-bin')[0] as Buffer;
    expectFormat(
      { status: 403, contentType: 'application/problem+json', body: JSON.parse(bin.toString()) },
      403,
      'MIDDLEWARE_DENIED',
      MIDDLEWARE_MEMBERS,
    );
  });
});
