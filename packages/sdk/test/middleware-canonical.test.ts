import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  canonicalRequest,
  compile,
  type DecisionInput,
  type PolicyDocument,
  RequestTargetError,
  type RouterRules,
} from '@ward/policy';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestVectors } from '../../policy/test/request-vectors/vectors.ts';
import type { Decider, EnforcementOptions } from '../src/index.ts';
import { wardExpress, wardFastify, wardGrpc, wardHttp } from '../src/index.ts';
import { close, listen } from './_http-client.ts';

/**
 * The handler a request reaches and the rule that decided it must agree, on real servers built
 * with each adapter, for every conformance vector (packages/policy/test/request-vectors), sent as
 * raw bytes on a socket (HTTP clients normalise paths themselves, so they cannot send these).
 *
 * Policy on `svc` for caller `client`: #0 denies GET on `/admin` and below; #1 allows GET under
 * `/orders/`; #2 allows GET on `/`; everything else (e.g. the `/public` handler) is denied by
 * default. So a 200 from the `admin` or `public` handler is a bypass, and every 200 must come
 * from the handler that the decided path routes to.
 */
const DOCUMENTS: PolicyDocument[] = [
  ...['svc', 'client'].map(
    (name): PolicyDocument => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name, namespace: 'test' },
      spec: {},
    }),
  ),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'guard' },
    spec: {
      destination: 'svc',
      rules: [
        {
          sources: ['client'],
          action: 'deny',
          permissions: [
            { http: { methods: ['GET'], paths: [{ exact: '/admin' }, { prefix: '/admin/' }] } },
            { grpc: { service: 'pkg.Svc', methods: ['Admin'] } },
          ],
        },
        {
          sources: ['client'],
          action: 'allow',
          permissions: [
            { http: { methods: ['GET'], paths: [{ prefix: '/orders/' }, { exact: '/' }] } },
            { grpc: { service: 'pkg.Svc', methods: ['Get'] } },
          ],
        },
      ],
    },
  },
];

/**
 * The policy of the reproductions: a deny-list (#0 denies GET on `/admin`, #1 allows the rest),
 * where a path that escapes the deny rule is admitted.
 */
const DENY_LIST: PolicyDocument[] = DOCUMENTS.map((d) =>
  d.kind !== 'Intention'
    ? d
    : {
        ...d,
        spec: {
          ...d.spec,
          rules: [
            {
              sources: ['client'],
              action: 'deny' as const,
              permissions: [{ http: { methods: ['GET'], paths: [{ exact: '/admin' }] } }],
            },
            { sources: ['client'], action: 'allow' as const },
          ],
        },
      },
);

/** A decider that remembers what it decided (method, path, gRPC method). */
function recordingDecider(documents: PolicyDocument[] = DOCUMENTS) {
  const policy = compile(documents, { trustDomain: 'ward.test' });
  const seen: { method?: string; path?: string; grpc?: string }[] = [];
  const decider: Decider = {
    decide(input: DecisionInput) {
      const r = input.request;
      seen.push({
        method: r?.method,
        path: r?.path,
        grpc: r?.grpc && `${r.grpc.service}/${r.grpc.method}`,
      });
      return policy.decide(input);
    },
  };
  return { decider, seen };
}

const OPTIONS = { service: 'svc', devIdentityHeader: 'x-ward-source' } as const;

/** Which handler a path (as the router compares it) routes to, in every server below. */
function handlerFor(match: string): string {
  if (match === '/admin') return 'admin';
  if (match === '/public') return 'public';
  if (match === '/') return 'root';
  if (/^\/orders\/[^/]+$/.test(match)) return 'orders';
  return 'none';
}

/** Each handler says who it is, and what the middleware decided, in headers (HEAD has no body). */
function answer(res: ServerResponse, handler: string, req: IncomingMessage): void {
  const decided = req.ward?.request;
  res.setHeader('x-handler', handler);
  res.setHeader('x-decided', decided ? `${decided.method} ${decided.match}` : 'unknown');
  res.end(handler);
}

interface Target {
  name: string;
  rules: RouterRules;
  url: string;
  seen: { method?: string; path?: string }[];
  close(): Promise<void>;
}

async function nodeHttp(documents?: PolicyDocument[]): Promise<Target> {
  const { decider, seen } = recordingDecider(documents);
  // Routes with `new URL()`, as the reproduced vulnerable service did.
  const server = createServer(
    wardHttp({ ...OPTIONS, decider }, (req, res) => {
      const path = new URL(req.url!, 'http://x').pathname;
      const handler = req.method === 'GET' || req.method === 'HEAD' ? handlerFor(path) : 'none';
      if (handler === 'none') {
        res.statusCode = 404;
        res.end();
      } else answer(res, handler, req);
    }),
  );
  return {
    name: 'node:http',
    rules: {},
    url: await listen(server),
    seen,
    close: () => close(server),
  };
}

async function expressApp(documents?: PolicyDocument[]): Promise<Target> {
  const { decider, seen } = recordingDecider(documents);
  const app = express();
  app.use(wardExpress({ ...OPTIONS, decider }));
  for (const [path, handler] of [
    ['/admin', 'admin'],
    ['/public', 'public'],
    ['/', 'root'],
    ['/orders/:id', 'orders'],
  ] as const) {
    app.get(path, (req, res) => answer(res as ServerResponse, handler, req as IncomingMessage));
  }
  const server = createServer(app);
  return {
    name: 'Express 5',
    rules: { caseSensitive: false, ignoreTrailingSlash: true },
    url: await listen(server),
    seen,
    close: () => close(server),
  };
}

async function fastifyApp(
  name: string,
  options: object,
  rules: RouterRules,
  documents?: PolicyDocument[],
): Promise<Target> {
  const { decider, seen } = recordingDecider(documents);
  const app: FastifyInstance = Fastify({ logger: false, ...options });
  await app.register(wardFastify, { ...OPTIONS, decider });
  for (const [path, handler] of [
    ['/admin', 'admin'],
    ['/public', 'public'],
    ['/', 'root'],
    ['/orders/:id', 'orders'],
  ] as const) {
    app.get(path, (request, reply) => {
      answer(reply.raw, handler, Object.assign(request.raw, { ward: request.ward! }));
      reply.hijack();
    });
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { name, rules, url, seen, close: () => app.close() };
}

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes one request line exactly as given and reads the reply until the server closes. */
function rawRequest(url: string, method: string, target: string): Promise<RawReply> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.end(
      Buffer.from(
        `${method} ${target} HTTP/1.1\r\nHost: x\r\nx-ward-source: client\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
    );
  });
}

/** The canonical form under a router's rules, or the refusal code. */
function expected(method: string, target: string, rules: RouterRules) {
  try {
    return canonicalRequest(method, target, rules);
  } catch (error) {
    if (!(error instanceof RequestTargetError)) throw error;
    return { error: error.code };
  }
}

/**
 * Requests Node's own HTTP parser refuses before any middleware runs (a bare 400, no body):
 * lower-case methods, relative targets, raw controls and non-ASCII, `#` or `\\` in an
 * absolute-form target. Each is refused (or upper-cased) by `canonicalRequest` too; the point
 * here is only that no handler and no decision sees them.
 */
function parserRefused(method: string, target: string): boolean {
  return (
    method !== method.toUpperCase() ||
    !/^(\/|\*$|https?:\/\/)/i.test(target) ||
    /[\x00-\x1f\x7f-\uffff]/.test(target) ||
    /^https?:\/\/[^/]*[#\\]/i.test(target)
  );
}

/** Fastify answers targets it cannot decode (bad escapes, not UTF-8, no host) itself. */
function routerRefused(reply: RawReply): boolean {
  try {
    return reply.status === 400 && JSON.parse(reply.body).code === 'FST_ERR_BAD_URL';
  } catch {
    return false;
  }
}

const FRAMEWORKS: [string, (documents?: PolicyDocument[]) => Promise<Target>][] = [
  ['node:http', nodeHttp],
  ['Express 5', expressApp],
  ['Fastify 5', (docs) => fastifyApp('Fastify 5', {}, { resolveDotSegments: false }, docs)],
  [
    'Fastify 5 (folding router)',
    (docs) =>
      fastifyApp(
        'Fastify 5 (folding router)',
        {
          routerOptions: {
            caseSensitive: false,
            ignoreTrailingSlash: true,
            ignoreDuplicateSlashes: true,
            useSemicolonDelimiter: true,
          },
        },
        {
          caseSensitive: false,
          ignoreTrailingSlash: true,
          ignoreDuplicateSlashes: true,
          semicolonDelimiter: true,
          resolveDotSegments: false,
        },
        docs,
      ),
  ],
];

const vectors = requestVectors().filter((v) => v.wire !== false);
/** Extra raw requests aimed at the routers' folding, beyond the vectors. */
const EXTRA: [string, string][] = [
  ['GET', '/Admin'],
  ['GET', '/ADMIN/'],
  ['GET', '/admin;x'],
  ['GET', '/admin//'],
  ['GET', '/admin/'],
  ['GET', '//admin'],
  ['GET', '/orders//admin'],
  ['GET', '/%4Frders/1'],
  ['GET', '/orders/1/'],
  ['GET', '/ORDERS/1'],
  ['HEAD', '/admin'],
  ['head', '/admin'],
  ['GET', '/public'],
  ['GET', '/PUBLIC/'],
  ['GET', '/orders/%2E%2E/public'],
  ['GET', 'http://x/public'],
  ['GET', 'http://x/orders/../admin?x=1'],
  ['GET', '/orders/x/..%2f..%2fadmin'],
  ['GET', '/%E2%84%AAube'],
];
const cases: [string, string][] = [
  ...vectors.map((v) => [v.method, v.target] as [string, string]),
  ...EXTRA,
];

/**
 * The reproduced attacks of issue 9, against the deny-list policy (and the allow-list one for the
 * dot segments into node:http): each reached a denied handler before canonicalisation.
 */
const ATTACKS: [string, string, string][] = [
  ['Fastify 5', 'GET', '/%61dmin'],
  ['Fastify 5', 'GET', 'http://host/admin'],
  ['Express 5', 'GET', '/ADMIN'],
  ['Express 5', 'GET', '/admin/'],
  ['Express 5', 'HEAD', '/admin'],
  ['Fastify 5', 'HEAD', '/admin'],
  ['node:http', 'HEAD', '/admin'],
  ['node:http', 'GET', '/orders/../admin'],
  ['node:http', 'GET', '/orders/%2e%2e/admin'],
  ['node:http', 'GET', '//evil/admin'],
  ['Express 5', 'GET', 'http://host/ADMIN'],
  ['Fastify 5 (folding router)', 'GET', '/ADMIN/'],
  ['Fastify 5 (folding router)', 'GET', '/admin;x'],
  ['Fastify 5 (folding router)', 'GET', '/admin//'],
];

describe('the reproduced attacks no longer reach a denied handler', () => {
  const denyList = new Map<string, Target>();
  const allowList = new Map<string, Target>();
  beforeAll(async () => {
    for (const [name, start] of FRAMEWORKS) {
      denyList.set(name, await start(DENY_LIST));
      allowList.set(name, await start(DOCUMENTS));
    }
  });
  afterAll(async () => {
    for (const t of [...denyList.values(), ...allowList.values()]) await t.close();
  });
  it.each(ATTACKS)('%s: %s %s', async (name, method, raw) => {
    for (const targets of [denyList, allowList]) {
      const reply = await rawRequest(targets.get(name)!.url, method, raw);
      expect(reply.headers['x-handler']).toBeUndefined();
      expect([400, 403]).toContain(reply.status);
    }
  });
});

describe.each(FRAMEWORKS)('%s: the handler reached and the decision agree', (_name, start) => {
  let target: Target;
  beforeAll(async () => {
    target = await start();
  });
  afterAll(() => target.close());

  it.each(cases)('%s %j', async (method, raw) => {
    const before = target.seen.length;
    const reply = await rawRequest(target.url, method, raw);
    const want = expected(method, raw, target.rules);
    const decided = target.seen.slice(before);
    expect(decided.length).toBeLessThanOrEqual(1);

    if (parserRefused(method, raw)) {
      expect(reply.status).toBe(400);
      expect(reply.headers['x-handler']).toBeUndefined();
      expect(decided).toEqual([]);
      return;
    }
    if ('error' in want) {
      expect(reply.status).toBe(400);
      expect(decided).toEqual([]);
      if (target.name.startsWith('Fastify') && routerRefused(reply)) return;
      expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(reply.body)).toMatchObject({ status: 400, code: want.error });
      return;
    }
    // Never a bypass: the denied handlers never answer.
    expect(reply.headers['x-handler'] ?? 'none').not.toMatch(/^(admin|public)$/);
    expect(decided).toEqual([{ method: want.method, path: want.match }]);
    if (reply.status === 200) {
      // The handler is the one the decided path routes to, and it saw that decision.
      expect(reply.headers['x-handler']).toBe(handlerFor(want.match));
      expect(reply.headers['x-decided']).toBe(`${want.method} ${want.match}`);
    } else {
      expect(reply.headers['x-handler']).toBeUndefined();
      expect([403, 404]).toContain(reply.status);
      if (reply.status === 403) {
        // A response to HEAD has no body.
        if (method !== 'HEAD')
          expect(JSON.parse(reply.body)).toMatchObject({ code: 'MIDDLEWARE_DENIED' });
      } else {
        // A 404 only for an allowed path with no handler.
        expect(['none']).toContain(handlerFor(want.match));
      }
    }
  });
});

describe('Express: where routing happened before Ward', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const { decider } = recordingDecider();
    const app = express();
    const ward = wardExpress({ ...OPTIONS, decider } satisfies EnforcementOptions);
    app.get('/orders/:id', ward, (req, res) => {
      answer(res as ServerResponse, 'orders', req as IncomingMessage);
    });
    server = createServer(app);
    url = await listen(server);
  });
  afterAll(() => close(server));

  it('refuses a non-canonical target routed per route with 400 MIDDLEWARE_NOT_CANONICAL', async () => {
    const reply = await rawRequest(url, 'GET', '/orders/%61');
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body)).toMatchObject({ code: 'MIDDLEWARE_NOT_CANONICAL' });
    const ok = await rawRequest(url, 'GET', '/orders/a?x=1');
    expect(ok.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// gRPC: method paths are exact strings; anything but the registered canonical path never
// reaches a handler, and the decision is made on the method the handler serves.

const raw = (b: Buffer) => b;
const method = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: raw,
  requestDeserialize: raw,
  responseSerialize: raw,
  responseDeserialize: raw,
});

describe('gRPC (grpc-js): the method reached and the decision agree', () => {
  let server: grpc.Server;
  let port: number;
  const { decider, seen } = recordingDecider();
  beforeAll(async () => {
    server = new grpc.Server({ interceptors: [wardGrpc({ ...OPTIONS, decider })] });
    server.addService(
      { Get: method('/pkg.Svc/Get'), Admin: method('/pkg.Svc/Admin') },
      {
        Get: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('get')),
        Admin: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('admin')),
      },
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
  });
  afterAll(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));

  /** One unary call with the exact `:path` given; returns grpc-status and the response bytes. */
  function call(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const session = connectHttp2(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      const stream = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'x-ward-source': 'client',
      });
      const chunks: Buffer[] = [];
      let status = Number.NaN;
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
      });
      stream.on('trailers', (t) => {
        status = Number(t['grpc-status']);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      // HTTP/2 itself refuses some `:path` values (not starting with "/"): a stream error.
      stream.on('error', () => {
        status = -1;
      });
      stream.on('close', () => {
        session.close();
        const body = Buffer.concat(chunks);
        resolve({ status, body: body.length > 5 ? body.subarray(5).toString() : '' });
      });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  }

  it.each([
    '/pkg.Svc/Admin',
    '/pkg.Svc/%41dmin',
    '/pkg.Svc/admin',
    '/PKG.svc/Admin',
    '//pkg.Svc/Admin',
    '/pkg.Svc/Admin/',
    '/pkg.Svc//Admin',
    '/pkg.Svc/./Admin',
    '/pkg.Svc/Get/../Admin',
    '/pkg.Svc/Admin?x=1',
    '/pkg.Svc/Admin#x',
    '/pkg.Svc%2FAdmin',
    'http://x/pkg.Svc/Admin',
    '/pkg.Svc/Admin\\',
  ])('%j never reaches the Admin handler', async (path) => {
    const before = seen.length;
    const reply = await call(path);
    expect(reply.body).not.toBe('admin');
    expect(reply.status).not.toBe(grpc.status.OK);
    const decided = seen.slice(before);
    // Either refused before any decision (UNIMPLEMENTED: no such method; -1: an HTTP/2 protocol
    // error), or decided as Admin.
    if (decided.length === 0) expect([grpc.status.UNIMPLEMENTED, -1]).toContain(reply.status);
    else {
      expect(decided).toEqual([{ method: 'POST', path: '/pkg.Svc/Admin', grpc: 'pkg.Svc/Admin' }]);
      expect(reply.status).toBe(grpc.status.PERMISSION_DENIED);
    }
  });

  it('serves the allowed method, decided on its own path', async () => {
    const before = seen.length;
    expect(await call('/pkg.Svc/Get')).toEqual({ status: grpc.status.OK, body: 'get' });
    expect(seen.slice(before)).toEqual([
      { method: 'POST', path: '/pkg.Svc/Get', grpc: 'pkg.Svc/Get' },
    ]);
  });
});
