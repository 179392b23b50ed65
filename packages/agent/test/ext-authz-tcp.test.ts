/**
 * ext_authz on TCP with mTLS (for proxies that cannot reach the agent's socket): the client
 * certificate's SPIFFE ID says which service the caller may ask about. Real certificates from
 * the openssl CLI (the SDK's TLS fixture); a stock gRPC client from the vendored Envoy protos.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyPair, makeTlsFixture, type TlsFixture } from '../../sdk/test/_tls-fixture.ts';
import {
  type ExtAuthzTcpServer,
  RotatingServerCredentials,
  startExtAuthzTcp,
} from '../src/index.ts';
import {
  authorizationClient,
  envoyCheck,
  fixtureAuthz,
  id,
  problemOf,
  Recorder,
} from './_ext-authz.ts';

describe('ext_authz Check on TCP with mTLS', () => {
  const log = new Recorder();
  let tls: TlsFixture;
  let credentials: RotatingServerCredentials;
  let server: ExtAuthzTcpServer;
  const open: ReturnType<typeof authorizationClient>[] = [];

  const client = (ca: string, pair: KeyPair) => {
    const c = authorizationClient(
      `127.0.0.1:${server.port}`,
      grpc.credentials.createSsl(Buffer.from(ca), Buffer.from(pair.key), Buffer.from(pair.cert)),
      // The server certificate names 127.0.0.1 and localhost; TLS SNI takes no IP address.
      { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' },
    );
    open.push(c);
    return c;
  };
  const about = (service: string) =>
    envoyCheck({ source: id('frontend'), destination: id(service), path: '/orders' });

  beforeAll(async () => {
    tls = makeTlsFixture(['orders', 'payments']);
    credentials = new RotatingServerCredentials({ ...tls.server, ca: tls.ca });
    server = await startExtAuthzTcp({ authz: fixtureAuthz(log), credentials, port: 0 });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await server?.close();
  });

  it("decides for the client certificate's own service only", async () => {
    const orders = client(tls.ca, tls.clients.orders!);
    expect((await orders.check(about('orders'))).status).toEqual({ code: 0 });
    const other = await orders.check(about('payments'));
    expect(other.status?.code).toBe(7);
    expect(problemOf(other).code).toBe('EXT_AUTHZ_OUT_OF_SCOPE');
    expect(log.entries.map((e) => e.destination)).toEqual(['orders']);
  });

  it('refuses a client certificate from a CA outside the trust bundle', async () => {
    const rogue = client(tls.ca, tls.rogue);
    await expect(rogue.check(about('frontend'))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('serves a rotated certificate and trust bundle to new connections', async () => {
    const next = makeTlsFixture(['orders']);
    credentials.update({ ...next.server, ca: next.ca });
    const rotated = client(next.ca, next.clients.orders!);
    expect((await rotated.check(about('orders'))).status).toEqual({ code: 0 });
    const stale = client(tls.ca, tls.clients.orders!);
    await expect(stale.check(about('orders'))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });
});
