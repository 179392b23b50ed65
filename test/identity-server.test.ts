/**
 * The real control plane (`startServer` with the CA plugin, SQLite) → a real node agent → the SDK:
 * a workload obtains its SVID through the whole chain and uses it for mTLS.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '@ward/agent';
import { generateSealKey } from '@ward/ca';
import { compile } from '@ward/policy';
import { peerIdentity, wardHttp, workloadIdentity } from '@ward/sdk';
import { caPlugin, startServer } from '@ward/server';
import pino from 'pino';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';

const ADMIN = 'identity-admin-token-0123456789';

describe('control plane CA → agent → SDK', () => {
  it('issues a workload SVID through the Ward server and serves mTLS with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-id-srv-'));
    const server = await startServer({
      dataDir: dir,
      port: 0,
      adminToken: ADMIN,
      trustDomain: 'prod.test',
      plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() } })],
    });
    const admin = async (path: string, body: unknown) =>
      (
        await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json() as Promise<Record<string, string>>;
    const selectors = [
      `unix:uid:${process.getuid!()}`,
      `unix:path:${realpathSync(process.execPath)}`,
    ];
    await admin('/v1/ca/entries', {
      spiffeId: 'spiffe://prod.test/ns/a/sa/api',
      node: 'worker-7',
      selectors,
    });
    const { token } = await admin('/v1/ca/join-tokens', { node: 'worker-7' });
    const socketPath = join(dir, 'agent.sock');
    const agent = await startAgent({
      controlPlane: server.url,
      joinToken: token!,
      socketPath,
      logger: pino({ level: 'silent' }),
    });
    const identity = await workloadIdentity({ socketPath: `unix://${socketPath}` });
    // The PDP decides on the caller proven by mTLS: `a/api` (service `api` of namespace `a`, whose
    // SVID is spiffe://prod.test/ns/a/sa/api) may GET /hello on itself, nothing else.
    const policy = compile(
      [
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name: 'api', namespace: 'a' },
          spec: {},
        },
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'api-self', namespace: 'a' },
          spec: {
            destination: 'api',
            mode: 'enforce',
            rules: [
              {
                sources: ['api'],
                action: 'allow',
                permissions: [{ http: { methods: ['GET'], paths: [{ exact: '/hello' }] } }],
              },
            ],
          },
        },
      ] as never,
      { trustDomain: 'prod.test' },
    );
    const https = createServer(
      identity.serverOptions(),
      wardHttp(
        { decider: policy, service: 'a/api', peerIdentity: (s) => peerIdentity(s) },
        (req, res) => res.end(`hello ${req.ward?.source.service} (${req.ward?.identity})`),
      ),
    );
    identity.secureServer(https);
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    try {
      expect(agent.spiffeId).toBe('spiffe://prod.test/ward/agent/worker-7');
      expect(identity.spiffeId).toBe('spiffe://prod.test/ns/a/sa/api');
      const dispatcher = identity.dispatcher({ expect: 'spiffe://prod.test/ns/a/sa/api' });
      const base = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
      const res = await request(`${base}/hello`, { dispatcher });
      expect(await res.body.text()).toBe('hello a/api (mtls)');
      const denied = await request(`${base}/admin`, { dispatcher });
      expect(denied.statusCode).toBe(403);
      await denied.body.text();
      await dispatcher.close();
    } finally {
      identity.close();
      https.close();
      await agent.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
