/**
 * The resilient client over mTLS with the workload's SVID (certificates from the real openssl CLI,
 * ./_tls-fixture.ts): the server sees the client's SPIFFE ID; a server with a valid certificate
 * but another SPIFFE ID than the destination's is refused before any request is sent; a rotated
 * SVID is presented on the next call.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type ClientOptions, createClient, type X509Svid } from '../src/index.ts';
import { type KeyPair, makeTlsFixture, type TlsFixture } from './_tls-fixture.ts';
import { type Upstream, upstream } from './_upstream.ts';

let tls: TlsFixture;
let orders: Upstream;
const clients: Client[] = [];

function svidOf(pair: KeyPair, bundlePem: string): X509Svid {
  const leaf = new X509Certificate(pair.cert);
  return {
    spiffeId: leaf.subjectAltName!.replace(/^URI:/, ''),
    certChainPem: pair.cert,
    keyPem: pair.key,
    bundlePem,
    hint: '',
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
  };
}

function client(identity: { svid: X509Svid }, destinations: ClientOptions['destinations']): Client {
  const c = createClient({ self: 'shop/frontend', identity, destinations });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  tls = makeTlsFixture(['frontend', 'checkout']);
  // The server's SVID is spiffe://ward.test/ns/shop/sa/orders; it demands a client SVID.
  orders = await upstream('ok', {
    tls: {
      key: tls.server.key,
      cert: tls.server.cert,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await orders?.close();
});

describe('mTLS', () => {
  it('presents the SVID and checks the server against the conventional SPIFFE ID', async () => {
    const c = client(
      { svid: svidOf(tls.clients.frontend!, tls.ca) },
      {
        'shop/orders': { endpoints: [orders.url] },
      },
    );
    const res = await c.request('shop/orders', { path: '/orders/1' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({
      peer: 'URI:spiffe://ward.test/ns/shop/sa/frontend',
    });
  });

  it('refuses a server whose valid certificate names another SPIFFE ID', async () => {
    const before = orders.hits;
    const c = client(
      { svid: svidOf(tls.clients.frontend!, tls.ca) },
      {
        // The conventional ID of shop/payments is not the orders server's.
        'shop/payments': { endpoints: [orders.url], retry: { maxAttempts: 2 } },
        // An explicit expectation that does not match, likewise.
        other: { endpoints: [orders.url], spiffeId: ['spiffe://ward.test/ns/shop/sa/billing'] },
      },
    );
    for (const destination of ['shop/payments', 'other']) {
      await expect(c.request(destination, { path: '/' })).rejects.toMatchObject({
        code: 'CLIENT_PEER_REJECTED',
        message: expect.stringContaining('is not the one expected'),
      });
    }
    expect(orders.hits).toBe(before);
  });

  it('refuses a server that a client without the trust bundle cannot verify', async () => {
    // The rogue CA's bundle: the orders server's chain does not verify against it.
    const rogue = svidOf(tls.rogue, tls.rogue.cert);
    const c = client(
      { svid: rogue },
      {
        'shop/orders': { endpoints: [orders.url], retry: false },
      },
    );
    await expect(c.request('shop/orders', { path: '/' })).rejects.toMatchObject({
      code: 'CLIENT_PEER_REJECTED',
    });
  });

  it('picks up a rotated SVID on the next call', async () => {
    const identity = { svid: svidOf(tls.clients.frontend!, tls.ca) };
    const c = client(identity, { 'shop/orders': { endpoints: [orders.url] } });
    const first = await c.request('shop/orders', { path: '/' });
    expect(((await first.body.json()) as { peer: string }).peer).toContain('/sa/frontend');
    identity.svid = svidOf(tls.clients.checkout!, tls.ca);
    const second = await c.request('shop/orders', { path: '/' });
    expect(((await second.body.json()) as { peer: string }).peer).toContain('/sa/checkout');
  });
});
