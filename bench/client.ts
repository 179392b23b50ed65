/**
 * `npm run bench -- client [requests]`: what the resilient client's policies cost. The same mTLS
 * keep-alive upstream (node:https, TLS 1.3, client SVID required) is called by
 *
 * - client: `createClient` (egress-free: no guard) with its defaults: deadline, bulkhead, retry
 *   with budget, circuit breaker, attempt timeout, p2c balancing, metrics, trace context, and
 *   the SVID dispatcher checking the server's SPIFFE ID;
 * - pool: a plain undici `Pool` with the same TLS material and SPIFFE ID check, nothing else.
 *
 * Two figures each: latency with one request in flight (p50/p99), and throughput with 32 in
 * flight (requests/s). Variants alternate in rounds so machine noise hits both alike. SVIDs come
 * from the real Ward CA (`@ward/ca`).
 */
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import {
  CaService,
  createCsr,
  exportPrivateKey,
  generateKeyPair,
  generateSealKey,
  issueX509Svid,
  MemoryCaStore,
  parseSealKey,
  toPem,
  verifyCsr,
} from '@ward/ca';
import { createClient, spiffeIdOfSubjectAltName, type X509Svid } from '@ward/sdk';
import { Pool } from 'undici';
import { nowNs, percentile, progress, round } from './_stats.ts';

const TD = 'bench.test';
const ORDERS = `spiffe://${TD}/ns/shop/sa/orders`;
const FRONTEND = `spiffe://${TD}/ns/shop/sa/frontend`;
const CONCURRENCY = 32;

async function svid(service: CaService, spiffeId: string, bundlePem: string): Promise<X509Svid> {
  const keys = await generateKeyPair();
  const issued = await issueX509Svid(await service.authority(), {
    csr: await verifyCsr(await createCsr(keys)),
    spiffeId,
  });
  const certChainPem = issued.chain.join('');
  const leaf = new X509Certificate(certChainPem);
  return {
    spiffeId,
    certChainPem,
    keyPem: toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY'),
    bundlePem,
    hint: '',
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const total = Number(args[0] ?? 20_000);
  const rounds = 10;
  const perRound = Math.max(200, Math.floor(total / rounds));
  const ca = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain: TD,
  });
  const bundle = await ca.trustBundlePem();
  const server = await svid(ca, ORDERS, bundle);
  const client = await svid(ca, FRONTEND, bundle);

  const upstream = createServer(
    {
      key: server.keyPem,
      cert: server.certChainPem,
      ca: bundle,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      keepAliveTimeout: 60_000,
    },
    (_req, res) => res.end('ok'),
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const origin = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const ward = createClient({
    self: 'shop/frontend',
    identity: { svid: client },
    destinations: { 'shop/orders': { endpoints: [origin], connections: CONCURRENCY } },
  });
  const pool = new Pool(origin, {
    connections: CONCURRENCY,
    keepAliveTimeout: 60_000,
    connect: {
      key: client.keyPem,
      cert: client.certChainPem,
      ca: bundle,
      minVersion: 'TLSv1.3',
      checkServerIdentity: (_h: string, cert: PeerCertificate) =>
        spiffeIdOfSubjectAltName(cert.subjectaltname ?? '') === ORDERS
          ? undefined
          : new Error('wrong server SPIFFE ID'),
    } as never,
  });

  const viaClient = async () => {
    const res = await ward.request('shop/orders', { path: '/orders/1' });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`client: HTTP ${res.statusCode}`);
  };
  const viaPool = async () => {
    const res = await pool.request({ path: '/orders/1', method: 'GET' });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`pool: HTTP ${res.statusCode}`);
  };
  const sequential = async (call: () => Promise<void>, n: number, out: number[]) => {
    for (let i = 0; i < n; i++) {
      const t = nowNs();
      await call();
      out.push((nowNs() - t) / 1e6);
    }
  };
  /** Requests/s with CONCURRENCY calls in flight; adds to the totals. */
  const concurrent = async (
    call: () => Promise<void>,
    n: number,
    into: { n: number; ns: number },
  ) => {
    let left = n;
    const t = nowNs();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) await call();
      }),
    );
    into.ns += nowNs() - t;
    into.n += n;
  };

  progress('warming up');
  await sequential(viaClient, 1000, []);
  await sequential(viaPool, 1000, []);
  await concurrent(viaClient, 2000, { n: 0, ns: 0 });
  await concurrent(viaPool, 2000, { n: 0, ns: 0 });
  const latency = { client: [] as number[], pool: [] as number[] };
  const throughput = { client: { n: 0, ns: 0 }, pool: { n: 0, ns: 0 } };
  for (let r = 0; r < rounds; r++) {
    progress(`round ${r + 1}/${rounds}`);
    await sequential(viaClient, perRound, latency.client);
    await sequential(viaPool, perRound, latency.pool);
    await concurrent(viaClient, perRound * 2, throughput.client);
    await concurrent(viaPool, perRound * 2, throughput.pool);
  }
  await ward.close();
  await pool.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));

  const figures = (which: 'client' | 'pool') => ({
    p50Ms: round(percentile([...latency[which]], 50), 3),
    p99Ms: round(percentile([...latency[which]], 99), 3),
    requestsPerSec: Math.round(throughput[which].n / (throughput[which].ns / 1e9)),
  });
  const ours = figures('client');
  const peer = figures('pool');
  return {
    requests: latency.client.length + throughput.client.n,
    concurrency: CONCURRENCY,
    client: ours,
    undiciPool: peer,
    overheadP50Ms: round(ours.p50Ms - peer.p50Ms, 3),
    throughputRatio: round(ours.requestsPerSec / peer.requestsPerSec, 3),
  };
}
