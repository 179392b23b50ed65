/**
 * Issue 18: Envoy ext_authz on the node agent's TCP listener (`decide.extAuthzListen`, `ward agent
 * --ext-authz-listen`), the way Istio's `CUSTOM` provider reaches it: a real control plane (CA and
 * ingest plugins), a real agent presenting its own SVID, and a stock gRPC client from the vendored
 * Envoy protos presenting a workload's X.509-SVID as the agent issued it. The client's SPIFFE ID
 * is the one service it may ask about; the decisions are the agent's local PDPs'.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type RunningAgent, startAgent } from '@ward/agent';
import { toPem } from '@ward/ca';
import type { PolicyDocument } from '@ward/policy';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationClient, envoyCheck, problemOf } from '../packages/agent/test/_ext-authz.ts';
import { startTestPlane, type TestPlane, waitFor } from './_node-agent.ts';

const ADMIN = 'ext-authz-tcp-admin-token-0123456789';
const TD = 'tcp.test';
const idOf = (name: string) => `spiffe://${TD}/ns/shop/sa/${name}`;

const POLICY: PolicyDocument[] = [
  ...['orders', 'payments', 'frontend'].map(
    (name): PolicyDocument => ({
      apiVersion: 'ward.dev/v1',
      kind: 'Service',
      metadata: { name },
      spec: { spiffeId: idOf(name) },
    }),
  ),
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-access' },
    spec: {
      destination: 'orders',
      mode: 'enforce',
      rules: [{ sources: ['frontend'], action: 'allow' }],
    },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'payments-access' },
    spec: {
      destination: 'payments',
      mode: 'enforce',
      rules: [{ sources: ['orders'], action: 'allow' }],
    },
  },
];

/** The URI SAN of a PEM certificate (what a proxy pins the agent's identity by). */
function uriSanOf(pem: string): string | undefined {
  return new X509Certificate(pem).subjectAltName?.match(/URI:([^,]+)/)?.[1];
}

describe('ext_authz over TCP on a real node agent', () => {
  let plane: TestPlane;
  let agent: RunningAgent;
  const open: ReturnType<typeof authorizationClient>[] = [];
  const seenServerIds: string[] = [];

  /** A gRPC client presenting `name`'s SVID as the agent holds it for the workload. */
  const clientAs = (name: string, trustBundle = agent.manager.bundleDer) => {
    const entry = agent.manager.entries.find((e) => e.spiffeId === idOf(name));
    const svid = entry && agent.manager.svid(entry.id);
    if (!svid) throw new Error(`no SVID held for ${name}`);
    const ca = trustBundle.map((der) => toPem(der, 'CERTIFICATE')).join('');
    const client = authorizationClient(
      `127.0.0.1:${agent.extAuthzPort}`,
      grpc.credentials.createSsl(
        Buffer.from(ca),
        Buffer.from(toPem(svid.keyPkcs8, 'PRIVATE KEY')),
        Buffer.from(svid.chainDer.map((der) => toPem(der, 'CERTIFICATE')).join('')),
        {
          // An SVID names a SPIFFE ID, not a host: check that, as Envoy's SAN matcher would.
          checkServerIdentity: (_host, cert) => {
            const id = uriSanOf(toPem(cert.raw, 'CERTIFICATE'));
            seenServerIds.push(id ?? '');
            return id === agent.spiffeId ? undefined : new Error(`server is ${id}`);
          },
        },
      ),
      // TLS SNI takes no IP address; the server is checked by its SPIFFE ID above.
      { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' },
    );
    open.push(client);
    return client;
  };

  beforeAll(async () => {
    plane = await startTestPlane({
      prefix: 'ward-extauthz-tcp-',
      adminToken: ADMIN,
      trustDomain: TD,
      policy: POLICY,
    });
    const me = process.getuid!();
    await plane.register(
      ['orders', 'payments'].map((name) => ({ spiffeId: idOf(name), node: 'worker-1', uid: me })),
    );
    agent = await startAgent({
      controlPlane: plane.server.url,
      joinToken: await plane.joinToken('worker-1'),
      socketPath: join(plane.dir, 'agent.sock'),
      logger: pino({ level: 'silent' }),
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
      decide: {
        publicKey: plane.server.publicKey,
        extAuthzListen: '127.0.0.1:0',
        logFlushIntervalMs: 100,
      },
    });
    await waitFor(
      'the local PDPs and SVIDs',
      () =>
        agent.pdps!.services().sort().join() +
        (agent.manager.entries.every((e) => agent.manager.svid(e.id)) ? '+svids' : ''),
      (s) => s === 'orders,payments+svids',
    );
  });

  afterAll(async () => {
    for (const c of open) c.close();
    await agent?.close();
    await plane?.close();
  });

  it("decides with the local PDP for the client certificate's own service, and only that", async () => {
    expect(agent.extAuthzPort).toBeGreaterThan(0);
    const orders = clientAs('orders');
    const allowed = await orders.check(
      envoyCheck({ source: idOf('frontend'), destination: idOf('orders'), path: '/orders/1' }),
    );
    expect(allowed.status).toEqual({ code: 0 });
    const denied = await orders.check(
      envoyCheck({ source: idOf('payments'), destination: idOf('orders'), path: '/orders/1' }),
    );
    expect(denied.status?.code).toBe(7);
    expect(problemOf(denied).code).toBe('MIDDLEWARE_DENIED');
    // orders' proxy asking about payments is refused before any decision.
    const other = await orders.check(
      envoyCheck({ source: idOf('orders'), destination: idOf('payments'), path: '/pay' }),
    );
    expect(other.status?.code).toBe(7);
    expect(problemOf(other).code).toBe('EXT_AUTHZ_OUT_OF_SCOPE');
    // The agent presented its own SVID.
    expect(seenServerIds.at(-1)).toBe(agent.spiffeId);
  });

  it('refuses a client without a certificate of the trust domain', async () => {
    const stranger = authorizationClient(
      `127.0.0.1:${agent.extAuthzPort}`,
      grpc.credentials.createSsl(
        Buffer.from(agent.manager.bundleDer.map((der) => toPem(der, 'CERTIFICATE')).join('')),
        null,
        null,
        { checkServerIdentity: () => undefined },
      ),
      // TLS SNI takes no IP address; the server is checked by its SPIFFE ID above.
      { 'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'localhost' },
    );
    open.push(stranger);
    await expect(
      stranger.check(
        envoyCheck({ source: idOf('frontend'), destination: idOf('orders'), path: '/' }),
      ),
    ).rejects.toThrow(/UNAVAILABLE/);
    // The same channel set-up with the orders SVID gets an answer: the refusal is the missing
    // client certificate, not the client's TLS settings.
    expect(
      (
        await clientAs('orders').check(
          envoyCheck({ source: idOf('frontend'), destination: idOf('orders'), path: '/' }),
        )
      ).status,
    ).toEqual({ code: 0 });
  });
});
