/**
 * `npm run bench -- mtls [requests]`: what SPIFFE mTLS plus a policy decision adds to a
 * keep-alive request on loopback, measured against plain HTTP in the same run, and the cost of
 * a full mTLS handshake.
 *
 * - plain: node:http server, undici keep-alive client, handler answers `ok`.
 * - mtls: node:https, TLS 1.3, client SVID required and verified against the trust bundle, the
 *   caller's SPIFFE ID checked (`peerIdentity`), and a decision by the Ward middleware
 *   (`wardHttp`) over a policy compiled by `@ward/policy`; the client checks the server's
 *   SPIFFE ID. SVIDs come from the real Ward CA (`@ward/ca`).
 * Requests are sequential (one in flight) so the figure is latency, not throughput; the two
 * variants run in alternating rounds so machine noise hits both alike.
 */
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, createSecureContext, type PeerCertificate } from 'node:tls';
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
import { compile } from '@ward/policy';
import { peerIdentity, spiffeIdOfSubjectAltName, wardHttp } from '@ward/sdk';
import { Agent, request } from 'undici';
import { nowNs, percentile, progress, round } from './_stats.ts';

const TD = 'bench.test';
const ORDERS = `spiffe://${TD}/ns/shop/sa/orders`;
const FRONTEND = `spiffe://${TD}/ns/shop/sa/frontend`;

async function svid(service: CaService, spiffeId: string) {
  const keys = await generateKeyPair();
  const issued = await issueX509Svid(await service.authority(), {
    csr: await verifyCsr(await createCsr(keys)),
    spiffeId,
  });
  return {
    cert: issued.chain.join(''),
    key: toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY'),
  };
}

const listen = (s: Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const total = Number(args[0] ?? 6000);
  const rounds = 10;
  const perRound = Math.max(100, Math.floor(total / rounds));
  const ca = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain: TD,
  });
  const bundle = await ca.trustBundlePem();
  const server = await svid(ca, ORDERS);
  const client = await svid(ca, FRONTEND);
  const policy = compile(
    [
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        metadata: { name: 'orders', namespace: 'shop' },
        spec: {},
      },
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Service',
        metadata: { name: 'frontend', namespace: 'shop' },
        spec: {},
      },
      {
        apiVersion: 'ward.dev/v1',
        kind: 'Intention',
        metadata: { name: 'orders-access' },
        spec: {
          destination: 'orders',
          mode: 'enforce',
          rules: [
            {
              sources: ['frontend'],
              action: 'allow',
              permissions: [{ http: { methods: ['GET'], paths: [{ prefix: '/orders' }] } }],
            },
          ],
        },
      },
    ] as never,
    { trustDomain: TD },
  );
  let decisions = 0;
  const decider = {
    decide: (input: Parameters<typeof policy.decide>[0]) => {
      decisions++;
      return policy.decide(input);
    },
    serviceBySpiffeId: (id: string) => policy.serviceBySpiffeId(id),
  };

  const plain = createHttp({ keepAliveTimeout: 60_000 }, (_req, res) => res.end('ok'));
  const secure = createHttps(
    {
      key: server.key,
      cert: server.cert,
      ca: bundle,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      keepAliveTimeout: 60_000,
    },
    wardHttp(
      { decider, service: 'orders', trustDomain: TD, peerIdentity: (s) => peerIdentity(s, TD) },
      (_req, res) => res.end('ok'),
    ),
  );
  // The same SPIFFE check the SDK's secureServer installs: refuse peers that are not an SVID.
  secure.on('secureConnection', (s) => {
    if (peerIdentity(s, TD) === undefined) s.destroy();
  });
  const plainPort = await listen(plain);
  const securePort = await listen(secure);
  const checkServerIdentity = (_h: string, cert: PeerCertificate) =>
    spiffeIdOfSubjectAltName(cert.subjectaltname ?? '') === ORDERS
      ? undefined
      : new Error('wrong server SPIFFE ID');
  const plainAgent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  const secureAgent = new Agent({
    connections: 1,
    keepAliveTimeout: 60_000,
    connect: {
      key: client.key,
      cert: client.cert,
      ca: bundle,
      minVersion: 'TLSv1.3',
      checkServerIdentity,
    },
  });

  const measure = async (url: string, dispatcher: Agent, n: number, out: number[]) => {
    for (let i = 0; i < n; i++) {
      const t = nowNs();
      const res = await request(url, { dispatcher });
      await res.body.text();
      out.push((nowNs() - t) / 1e6);
      if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
    }
  };
  const plainUrl = `http://127.0.0.1:${plainPort}/orders/1`;
  const secureUrl = `https://127.0.0.1:${securePort}/orders/1`;
  progress('warming up');
  await measure(plainUrl, plainAgent, 500, []);
  await measure(secureUrl, secureAgent, 500, []);
  const plainMs: number[] = [];
  const secureMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    progress(`round ${r + 1}/${rounds}`);
    await measure(plainUrl, plainAgent, perRound, plainMs);
    await measure(secureUrl, secureAgent, perRound, secureMs);
  }
  const p = (a: number[], q: number) => percentile([...a], q);

  // Full handshakes: new TCP + TLS 1.3 connection each time, no session resumption, client
  // certificate verified by the server and the server's SPIFFE ID by the client.
  progress('handshakes');
  const handshake = () =>
    new Promise<void>((resolve, reject) => {
      const s = connect({
        host: '127.0.0.1',
        port: securePort,
        secureContext: clientContext,
        checkServerIdentity,
      });
      s.once('secureConnect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
  // One context for all connections, as the SDK's agents hold one per SVID.
  const clientContext = createSecureContext({
    key: client.key,
    cert: client.cert,
    ca: bundle,
    minVersion: 'TLSv1.3',
  });
  for (let i = 0; i < 50; i++) await handshake();
  const seqCount = 200;
  const ts = nowNs();
  for (let i = 0; i < seqCount; i++) await handshake();
  const handshakeMs = (nowNs() - ts) / 1e6 / seqCount;
  const hsCount = 600;
  const t0 = nowNs();
  const concurrency = 4;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < hsCount) await handshake();
    }),
  );
  const hsSeconds = (nowNs() - t0) / 1e9;

  await plainAgent.close();
  await secureAgent.close();
  plain.close();
  secure.close();
  const result = {
    requests_per_variant: plainMs.length,
    plain_p50_ms: round(p(plainMs, 50), 3),
    plain_p99_ms: round(p(plainMs, 99), 3),
    mtls_p50_ms: round(p(secureMs, 50), 3),
    mtls_p99_ms: round(p(secureMs, 99), 3),
    added_p50_ms: round(p(secureMs, 50) - p(plainMs, 50), 3),
    added_p99_ms: round(p(secureMs, 99) - p(plainMs, 99), 3),
    target_added_p50_ms: 0.2,
    handshakes_per_sec: round(hsCount / hsSeconds, 0),
    handshake_ms_sequential: round(handshakeMs, 2),
    handshake_concurrency: concurrency,
    decisions,
  };
  progress(JSON.stringify(result));
  return result;
}
