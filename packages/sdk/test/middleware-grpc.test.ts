import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DecisionLogEntry, wardGrpc, wardOf } from '../src/index.ts';
import { fixtureDecider, passport } from './_policy-fixture.ts';
import { makeTlsFixture, type TlsFixture } from './_tls-fixture.ts';

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};
const ORDERS: grpc.ServiceDefinition = {
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
const OrdersClient = grpc.makeGenericClientConstructor(ORDERS, 'Orders');

describe('gRPC server interceptor', () => {
  let tls: TlsFixture;
  let server: grpc.Server;
  let port: number;
  const log: DecisionLogEntry[] = [];
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    tls = makeTlsFixture(['payments', 'monitoring', 'frontend']);
    server = new grpc.Server({
      interceptors: [
        wardGrpc({
          decider: fixtureDecider(),
          service: 'orders',
          log: { record: (e) => log.push(e) },
        }),
      ],
    });
    server.addService(ORDERS, {
      get(
        call: grpc.ServerUnaryCall<{ id: number }, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) {
        const ward = wardOf(call);
        callback(null, {
          id: call.request.id,
          caller: ward?.source.service,
          spiffeId: ward?.source.spiffeId,
        });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        '127.0.0.1:0',
        // checkClientCertificate: grpc-js only requests a client certificate when it also requires one.
        grpc.ServerCredentials.createSsl(
          Buffer.from(tls.ca),
          [{ private_key: Buffer.from(tls.server.key), cert_chain: Buffer.from(tls.server.cert) }],
          true,
        ),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  function client(who: 'payments' | 'monitoring' | 'frontend' | 'rogue') {
    const pair = who === 'rogue' ? tls.rogue : tls.clients[who]!;
    const c = new OrdersClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createSsl(
        Buffer.from(tls.ca),
        Buffer.from(pair.key),
        Buffer.from(pair.cert),
      ),
      // Node refuses an IP address as TLS server name; the server certificate also names localhost.
      { 'grpc.ssl_target_name_override': 'localhost' },
    );
    clients.push(c);
    return c;
  }

  function get(c: grpc.Client, metadata = new grpc.Metadata()) {
    return new Promise<{ err: grpc.ServiceError | null; value: unknown }>((resolve) => {
      (c as unknown as Record<string, (...args: unknown[]) => void>).get!(
        { id: 7 },
        metadata,
        (err: grpc.ServiceError | null, value: unknown) => resolve({ err, value }),
      );
    });
  }

  it('admits an allowed caller and hands the handler its verified identity', async () => {
    const { err, value } = await get(client('payments'));
    expect(err).toBeNull();
    expect(value).toEqual({
      id: 7,
      caller: 'payments',
      spiffeId: 'spiffe://ward.test/ns/shop/sa/payments',
    });
    expect(log.at(-1)).toMatchObject({
      method: 'POST',
      path: '/shop.orders.v1.Orders/Get',
      routed: true,
    });
  });

  it('ends a denied call with PERMISSION_DENIED naming the rule, and a problem trailer', async () => {
    const { err } = await get(client('monitoring'));
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toContain('MIDDLEWARE_DENIED');
    expect(err?.details).toContain('orders-access#0');
    const problem = JSON.parse(
      (err!.metadata.get('ward-problem-bin')[0] as Buffer).toString('utf8'),
    );
    expect(problem).toMatchObject({
      status: 403,
      code: 'MIDDLEWARE_DENIED',
      rule: 'orders-access#0',
    });
  });

  it('denies by default a caller with no rule for gRPC', async () => {
    const { err } = await get(client('frontend'));
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toContain('denied by default');
  });

  it('never reaches the handler with a certificate from an untrusted CA', async () => {
    const before = log.length;
    const { err, value } = await get(client('rogue'));
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(value).toBeUndefined();
    expect(log.length).toBe(before);
  });

  it('verifies a passport from metadata and hands its claims to the handler', async () => {
    const md = new grpc.Metadata();
    md.set('x-ward-passport', passport({ sub: 'carol' }));
    const { err } = await get(client('payments'), md);
    expect(err).toBeNull();
    expect(log.at(-1)).toMatchObject({ subject: 'carol', kid: 'k1' });
  });

  it('answers UNAUTHENTICATED to a bad passport', async () => {
    const md = new grpc.Metadata();
    md.set('x-ward-passport', 'not-a-passport');
    const { err } = await get(client('payments'), md);
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toContain('PASSPORT_MALFORMED');
  });
});
