import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { spiffeIdOfCertificate } from '@ward/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { createClientUpstream } from '../src/index.ts';
import { testCa } from './_ca.ts';
import { gatewayDoc, routeDoc, type Stack, startStack } from './_fixture.ts';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('https upstreams over mTLS with the gateway SVID', () => {
  it('presents the SVID; the upstream sees the gateway SPIFFE ID and the passport', async () => {
    const ca = await testCa();
    const upstreamSvid = await ca.issue('spiffe://test.local/ns/shop/sa/catalog', ['localhost']);
    const gatewaySvid = await ca.issue('spiffe://test.local/ns/shop/sa/edge');
    const peers: (string | undefined)[] = [];
    const server = createServer(
      {
        key: upstreamSvid.keyPem,
        cert: upstreamSvid.certChainPem,
        ca: ca.bundlePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const cert = (req.socket as TLSSocket).getPeerCertificate();
        peers.push(spiffeIdOfCertificate(cert));
        res.end(JSON.stringify({ passport: req.headers['x-ward-passport'] !== undefined }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
    const stack: Stack = await startStack(
      () => [
        gatewayDoc({}),
        routeDoc('secure', {
          match: { pathPrefix: '/secure/' },
          upstream: { service: 'catalog', endpoints: [origin] },
        }),
      ],
      { upstream: createClientUpstream({ self: 'shop/edge', identity: { svid: gatewaySvid } }) },
    );
    cleanups.push(() => stack.close());
    const res = await fetch(`${stack.gateway.url}/secure/x`, {
      headers: { 'x-api-key': 'key-alice-0123456789' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ passport: true });
    expect(peers).toEqual(['spiffe://test.local/ns/shop/sa/edge']);
  });
});
