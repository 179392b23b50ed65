/**
 * Envoy ext_authz on the agent's Workload API socket: a stock gRPC client built from the vendored
 * Envoy protos sends the CheckRequests Envoy sends; real SDK Enforcers over a compiled policy
 * decide, and record their decisions as the SDK's middleware does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RegistrationEntry } from '@ward/ca';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { passport } from '../../sdk/test/_policy-fixture.ts';
import {
  DRY_RUN_DENY_HEADER,
  extAuthzOnSocket,
  type PeerCredentials,
  type SvidManager,
  startWorkloadApi,
  type WorkloadApiServer,
} from '../src/index.ts';
import {
  type Answer,
  authorizationClient,
  envoyCheck,
  fixtureAuthz,
  id,
  problemOf,
  Recorder,
} from './_ext-authz.ts';

const ORDERS_ENVOY = 1001;
const PAYMENTS_ENVOY = 1002;
const NOBODY = 1003;
const INVENTORY_ENVOY = 1004;

const entry = (spiffeId: string, uid: number): RegistrationEntry => ({
  id: `e-${uid}`,
  spiffeId,
  node: 'node-a',
  parentId: 'spiffe://ward.test/ward/agent/node-a',
  selectors: [`unix:uid:${uid}`],
  ttlSeconds: 3600,
  jwtTtlSeconds: 300,
  createdAt: uid,
});

describe('ext_authz Check on the Workload API socket', () => {
  const log = new Recorder();
  let api: WorkloadApiServer;
  let socketPath: string;
  const clients = new Map<number, ReturnType<typeof authorizationClient>>();
  // The uid the next connection presents: each client connects (first call) before the next.
  const connecting: number[] = [];

  const ask = (uid: number, request: unknown): Promise<Answer> => clients.get(uid)!.check(request);

  beforeAll(async () => {
    socketPath = join(mkdtempSync(join(tmpdir(), 'ward-xauthz-')), 'agent.sock');
    // Only `entries` of the SVID manager is read by Check (the caller's registration entries).
    const manager = {
      entries: [
        entry(id('orders'), ORDERS_ENVOY),
        entry(id('payments'), PAYMENTS_ENVOY),
        entry(id('inventory'), INVENTORY_ENVOY),
      ],
    } as unknown as SvidManager;
    api = await startWorkloadApi({
      socketPath,
      manager,
      logger: pino({ level: 'silent' }),
      resolvePeer: async (): Promise<PeerCredentials> => {
        const uid = connecting.shift();
        if (uid === undefined) throw new Error('unexpected connection');
        return { pid: uid, uid, gid: uid, supplementaryGids: [], path: '/usr/local/bin/envoy' };
      },
      services: [extAuthzOnSocket(fixtureAuthz(log))],
    });
    for (const uid of [ORDERS_ENVOY, PAYMENTS_ENVOY, NOBODY, INVENTORY_ENVOY]) {
      // One connection per client (grpc-js shares them by default): one peer each.
      const client = authorizationClient(`unix://${socketPath}`, undefined, {
        'grpc.use_local_subchannel_pool': 1,
      });
      connecting.push(uid);
      await client.check(envoyCheck({}));
      clients.set(uid, client);
    }
  });
  afterAll(async () => {
    for (const client of clients.values()) client.close();
    await api?.close();
    if (socketPath) rmSync(dirname(socketPath), { recursive: true, force: true });
  });
  beforeEach(() => {
    log.entries.length = 0;
  });

  it('allows an allowed caller: OK, and a spoofed dry-run header is removed', async () => {
    const response = await ask(
      ORDERS_ENVOY,
      envoyCheck({
        source: id('frontend'),
        destination: id('orders'),
        path: '/orders/42?expand=items',
        headers: { [DRY_RUN_DENY_HEADER]: 'forged' },
      }),
    );
    expect(response.status).toEqual({ code: 0 });
    expect(response.http_response).toBe('ok_response');
    expect(response.ok_response?.headers_to_remove).toEqual([DRY_RUN_DENY_HEADER]);
    expect(log.entries).toMatchObject([
      {
        source: 'frontend',
        destination: 'orders',
        method: 'GET',
        // The query is the policy's (`query` permissions), not the log's.
        path: '/orders/42',
        routed: false,
        effect: 'allow',
        enforced: true,
        revision: 42,
      },
    ]);
  });

  it('denies with PERMISSION_DENIED and the 403 problem the middleware answers', async () => {
    const response = await ask(
      ORDERS_ENVOY,
      envoyCheck({ source: id('monitoring'), destination: id('orders'), path: '/orders' }),
    );
    expect(response.status?.code).toBe(7);
    expect(response.status?.message).toMatch(/^MIDDLEWARE_DENIED: monitoring → orders/);
    expect(response.http_response).toBe('denied_response');
    expect(response.denied_response?.status).toEqual({ code: 'Forbidden' });
    expect(response.denied_response?.headers).toEqual([
      {
        header: { key: 'content-type', value: 'application/problem+json' },
        append: { value: false },
      },
    ]);
    expect(problemOf(response)).toMatchObject({
      status: 403,
      code: 'MIDDLEWARE_DENIED',
      rule: 'orders-access#0',
    });
    expect(log.entries).toMatchObject([{ source: 'monitoring', effect: 'deny', enforced: true }]);
  });

  it('admits a dry-run denial with the would-deny rule in a header', async () => {
    const response = await ask(
      ORDERS_ENVOY,
      envoyCheck({ source: id('frontend'), destination: id('orders'), path: '/orders/export' }),
    );
    expect(response.status).toEqual({ code: 0 });
    expect(response.ok_response?.headers).toEqual([
      {
        header: { key: DRY_RUN_DENY_HEADER, value: 'orders-export-freeze#0' },
        append: { value: false },
      },
    ]);
    expect(log.entries).toMatchObject([{ effect: 'deny', enforced: false }]);
  });

  it('decides a caller without a SPIFFE principal as anonymous', async () => {
    for (const source of [undefined, '', 'CN=frontend,O=shop']) {
      const response = await ask(
        ORDERS_ENVOY,
        envoyCheck({
          ...(source === undefined ? {} : { source }),
          destination: id('orders'),
          path: '/orders',
        }),
      );
      expect(response.status?.code).toBe(7);
      expect(problemOf(response).detail).toMatch(/^anonymous → orders: denied by default/);
    }
    expect(log.entries.map((e) => e.source)).toEqual(['anonymous', 'anonymous', 'anonymous']);
  });

  it('reads the destination from context_extensions before the principal', async () => {
    const response = await ask(
      ORDERS_ENVOY,
      envoyCheck({
        source: id('frontend'),
        destination: id('payments'),
        path: '/orders',
        extensions: { 'ward.dev/service': 'default/orders' },
      }),
    );
    expect(response.status).toEqual({ code: 0 });
    expect(log.entries).toMatchObject([{ destination: 'orders' }]);
  });

  it('denies an unknown destination with a clear reason', async () => {
    const cases: [number, Record<string, unknown>, RegExp][] = [
      [ORDERS_ENVOY, {}, /no destination: set context_extensions\["ward.dev\/service"\]/],
      [
        ORDERS_ENVOY,
        { extensions: { 'ward.dev/service': 'Not A Service' } },
        /is not a service name/,
      ],
      [ORDERS_ENVOY, { destination: 'spiffe://ward.test/ward/agent/node-a' }, /names no service/],
      [
        INVENTORY_ENVOY,
        { destination: id('inventory') },
        /shop\/inventory has no policy decision point/,
      ],
    ];
    for (const [uid, shape, reason] of cases) {
      const response = await ask(uid, envoyCheck({ source: id('frontend'), ...shape }));
      expect(response.status?.code).toBe(7);
      expect(problemOf(response)).toMatchObject({ code: 'EXT_AUTHZ_UNKNOWN_DESTINATION' });
      expect(problemOf(response).reason).toMatch(reason);
    }
    expect(log.entries).toEqual([]);
  });

  it('decides gRPC calls as the gRPC middleware does', async () => {
    const grpcCall = (source: string, path: string) =>
      envoyCheck({
        source,
        destination: id('orders'),
        method: 'POST',
        path,
        headers: { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' },
      });
    const allowed = await ask(ORDERS_ENVOY, grpcCall(id('payments'), '/shop.Orders/Get'));
    expect(allowed.status).toEqual({ code: 0 });
    expect(log.entries).toMatchObject([
      { source: 'payments', method: 'POST', path: '/shop.Orders/Get', routed: true },
    ]);
    const refused = await ask(ORDERS_ENVOY, grpcCall(id('monitoring'), '/shop.Orders/Get'));
    expect(refused.status?.code).toBe(7);
    const malformed = await ask(ORDERS_ENVOY, grpcCall(id('payments'), '/shop.Orders/Get/../x'));
    expect(malformed.status?.code).toBe(3);
    expect(malformed.denied_response?.status).toEqual({ code: 'BadRequest' });
    expect(problemOf(malformed).code).toBe('MIDDLEWARE_NOT_CANONICAL');
  });

  it('verifies a passport: a good one reaches the decision log, a bad one is a 401', async () => {
    const good = await ask(
      ORDERS_ENVOY,
      envoyCheck({
        source: id('frontend'),
        destination: id('orders'),
        path: '/orders',
        headers: { 'x-ward-passport': passport({ sub: 'alice', aud: 'zone:default' }) },
      }),
    );
    expect(good.status).toEqual({ code: 0 });
    // Not removed: the application forwards the passport on its own calls (as behind the SDK).
    expect(good.ok_response?.headers_to_remove).toEqual([DRY_RUN_DENY_HEADER]);
    expect(log.entries).toMatchObject([{ subject: 'alice', kid: 'k1' }]);

    const bad = await ask(
      ORDERS_ENVOY,
      envoyCheck({
        source: id('frontend'),
        destination: id('orders'),
        path: '/orders',
        headers: { 'x-ward-passport': 'not.a.passport' },
      }),
    );
    expect(bad.status?.code).toBe(16);
    expect(bad.denied_response?.status).toEqual({ code: 'Unauthorized' });
    expect(String(problemOf(bad).code)).toMatch(/^PASSPORT_/);
  });

  it("refuses, undecided, a Check about another workload's service", async () => {
    const aboutOrders = envoyCheck({
      source: id('frontend'),
      destination: id('orders'),
      path: '/orders',
    });
    for (const uid of [PAYMENTS_ENVOY, NOBODY]) {
      const response = await ask(uid, aboutOrders);
      expect(response.status?.code).toBe(7);
      expect(problemOf(response)).toMatchObject({
        status: 403,
        code: 'EXT_AUTHZ_OUT_OF_SCOPE',
        reason:
          'this caller may not ask about orders: an Envoy asks only for the workload it fronts',
      });
    }
    expect(log.entries).toEqual([]);
    // The same request from the orders workload's Envoy is decided.
    expect((await ask(ORDERS_ENVOY, aboutOrders)).status).toEqual({ code: 0 });
  });

  it("reads Envoy's raw header map (encode_raw_headers) like the headers map", async () => {
    const request = envoyCheck({ source: id('frontend'), destination: id('orders') }) as {
      attributes: { request: { http: Record<string, unknown> } };
    };
    const http = request.attributes.request.http;
    http.headers = undefined;
    http.path = '';
    http.method = '';
    http.header_map = {
      headers: [
        { key: ':method', raw_value: Buffer.from('POST') },
        { key: ':path', raw_value: Buffer.from('/orders/7') },
        { key: ':authority', raw_value: Buffer.from('orders') },
        { key: 'x-ward-passport', raw_value: Buffer.from(passport({ sub: 'bob' })) },
      ],
    };
    const response = await ask(ORDERS_ENVOY, request);
    expect(response.status).toEqual({ code: 0 });
    expect(log.entries).toMatchObject([{ method: 'POST', path: '/orders/7', subject: 'bob' }]);
  });
});
