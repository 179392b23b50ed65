/**
 * Secrets through the node agent, end to end over real sockets: a loopback control plane (the
 * CA routes plus `/v1/agent/watch` with `event: secret` lines and the lease routes, each checking
 * the agent's proof header with the CA), a real agent, and a stock gRPC client on the agent's
 * Unix socket calling `ward.agent.v1.Secrets/WatchSecret`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AGENT_SECRETS_SERVICE, type SecretWatchReplyV1 } from '@ward/api-types';
import {
  AGENT_PROOF_HEADER,
  CaService,
  caRequestListener,
  generateSealKey,
  MemoryCaStore,
  parseSealKey,
} from '@ward/ca';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeerCredentials, type RunningAgent, startAgent } from '../src/index.ts';

const ADMIN = 'test-admin';
const ORDERS = 'spiffe://example.org/ns/shop/sa/orders';
const BILLING = 'spiffe://example.org/ns/shop/sa/billing';

async function controlPlane() {
  const service = new CaService({
    store: new MemoryCaStore(),
    sealKey: parseSealKey(generateSealKey()),
    trustDomain: 'example.org',
  });
  const ca = caRequestListener(service, { isAdmin: (h) => h === `Bearer ${ADMIN}` });
  const streams = new Set<ServerResponse>();
  const requests: string[] = [];
  const leases = new Map<string, { expiresAt: number; revoked: boolean }>();
  let seq = 0;
  const proven = async (req: IncomingMessage, path: string) => {
    // The agent's proof, verified as the control plane does (throws CA_AGENT_PROOF).
    await service.authenticateAgent(req.headers[AGENT_PROOF_HEADER], req.method!, path);
    requests.push(`${req.method} ${path}`);
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    if (path !== '/v1/agent/watch' && !path.startsWith('/v1/agent/leases')) return ca(req, res);
    void (async () => {
      try {
        await proven(req, path);
      } catch {
        res.writeHead(401).end();
        return;
      }
      if (path === '/v1/agent/watch') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'ward-heartbeat-ms': '60000' });
        res.write(': open\n\n');
        streams.add(res);
        res.on('close', () => streams.delete(res));
        return;
      }
      const json = (status: number, body?: unknown) =>
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(body === undefined ? undefined : JSON.stringify(body));
      const m = /^\/v1\/agent\/leases\/([^/]+)(\/renew)?$/.exec(path);
      if (req.method === 'POST' && path === '/v1/agent/leases') {
        let body = '';
        for await (const c of req) body += c;
        const { service: svc, secret } = JSON.parse(body) as { service: string; secret: string };
        const id = `lease-${++seq}`;
        const now = Date.now();
        leases.set(id, { expiresAt: now + 900, revoked: false });
        return json(201, {
          id,
          secret,
          service: svc,
          data: { username: `v-${id}`, password: `pw-${id}` },
          expiresAt: now + 900,
          maxExpiresAt: now + 1800,
        });
      }
      const lease = m ? leases.get(decodeURIComponent(m[1]!)) : undefined;
      if (!lease || lease.revoked) return json(404, { code: 'LEASE_NOT_FOUND' });
      if (req.method === 'POST' && m![2]) {
        lease.expiresAt = Date.now() + 900;
        return json(200, { id: m![1], expiresAt: lease.expiresAt });
      }
      if (req.method === 'DELETE') {
        lease.revoked = true;
        return json(204);
      }
      json(405, {});
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    leases,
    admin: async (method: string, path: string, body?: unknown) =>
      (await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => (r.status === 204 ? {} : r.json()))) as Record<string, unknown>,
    send(event: unknown) {
      for (const s of streams) s.write(`event: secret\ndata: ${JSON.stringify(event)}\n\n`);
    },
    connected: () => streams.size > 0,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const Client = grpc.makeGenericClientConstructor(
  AGENT_SECRETS_SERVICE as unknown as grpc.ServiceDefinition,
  'Secrets',
);
const md = () => {
  const m = new grpc.Metadata();
  m.set('workload.spiffe.io', 'true');
  return m;
};
const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
};

/** Opens WatchSecret; collects replies and the final status. */
function watch(socketPath: string, service: string, secret: string, deadlineMs?: number) {
  const c = new Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const replies: SecretWatchReplyV1[] = [];
  let error: grpc.ServiceError | undefined;
  const call = (
    c as unknown as Record<
      string,
      (...a: unknown[]) => grpc.ClientReadableStream<SecretWatchReplyV1>
    >
  ).WatchSecret!(
    { service, secret },
    md(),
    deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs },
  );
  call.on('data', (r: SecretWatchReplyV1) => replies.push(r));
  call.on('error', (e: grpc.ServiceError) => {
    error = e;
  });
  return {
    replies,
    error: () => error,
    close() {
      call.cancel();
      c.close();
    },
  };
}

describe('secrets through the node agent', () => {
  let cp: Awaited<ReturnType<typeof controlPlane>>;
  let agent: RunningAgent;
  let socketPath: string;
  let ordersEntry: string;
  // Which workload the next connection is: orders (uid 1001) or billing (uid 1002).
  let peer: PeerCredentials = {
    pid: 4001,
    uid: 1001,
    gid: 1001,
    supplementaryGids: [],
    path: '/srv/orders',
  };
  const orders = { pid: 4001, uid: 1001, gid: 1001, supplementaryGids: [], path: '/srv/orders' };
  const billing = { pid: 4002, uid: 1002, gid: 1002, supplementaryGids: [], path: '/srv/billing' };

  beforeAll(async () => {
    cp = await controlPlane();
    const { token } = (await cp.admin('POST', '/v1/ca/join-tokens', { node: 'node-a' })) as {
      token: string;
    };
    ordersEntry = (
      await cp.admin('POST', '/v1/ca/entries', {
        spiffeId: ORDERS,
        node: 'node-a',
        selectors: ['unix:uid:1001'],
      })
    ).id as string;
    await cp.admin('POST', '/v1/ca/entries', {
      spiffeId: BILLING,
      node: 'node-a',
      selectors: ['unix:uid:1002'],
    });
    socketPath = join(mkdtempSync(join(tmpdir(), 'ward-agent-secrets-')), 'api.sock');
    agent = await startAgent({
      controlPlane: cp.url,
      joinToken: token,
      socketPath,
      logger: pino({ level: 'silent' }),
      timing: { syncIntervalMs: 300 },
      leaseTiming: { minRenewMs: 50, minBackoffMs: 50, maxBackoffMs: 200 },
      statusIntervalMs: 0,
      resolvePeer: async () => peer,
    });
    await until(cp.connected);
    cp.send({
      service: 'shop/orders',
      spiffeId: ORDERS,
      secret: 'shop/api-key',
      revision: 1,
      type: 'random',
      versions: [{ version: 1, data: { value: 'k1' }, notBefore: 0, notAfter: null }],
    });
    cp.send({
      service: 'shop/orders',
      spiffeId: ORDERS,
      secret: 'shop/db',
      revision: 1,
      type: 'postgres',
    });
    await until(() => agent.secrets!.size === 2);
  });
  afterAll(async () => {
    await agent?.close();
    await cp?.stop();
    if (socketPath) rmSync(join(socketPath, '..'), { recursive: true, force: true });
  });

  it('serves its own service a secret and every change, over a proof-carrying stream', async () => {
    peer = orders;
    const w = watch(socketPath, 'shop/orders', 'api-key');
    await until(() => w.replies.length === 1);
    expect(w.replies[0]).toEqual({
      secret: 'shop/api-key',
      type: 'random',
      versions: [{ version: 1, data: { value: 'k1' }, notBefore: 0, notAfter: null }],
    });
    const now = Date.now();
    cp.send({
      service: 'shop/orders',
      spiffeId: ORDERS,
      secret: 'shop/api-key',
      revision: 2,
      type: 'random',
      versions: [
        { version: 1, data: { value: 'k1' }, notBefore: 0, notAfter: now + 60_000 },
        { version: 2, data: { value: 'k2' }, notBefore: now + 5000, notAfter: null },
      ],
    });
    // An older revision arriving late changes nothing.
    cp.send({
      service: 'shop/orders',
      spiffeId: ORDERS,
      secret: 'shop/api-key',
      revision: 1,
      type: 'random',
      versions: [],
    });
    await until(() => w.replies.length === 2);
    expect(w.replies[1]!.versions.map((v) => v.version)).toEqual([2, 1]);
    w.close();
    expect(cp.requests).toContain('GET /v1/agent/watch');
  });

  it('refuses a workload of another service, and waits for an unknown secret until the deadline', async () => {
    peer = billing;
    const w = watch(socketPath, 'shop/orders', 'api-key');
    await until(() => w.error() !== undefined);
    expect(w.error()!.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(w.replies).toEqual([]);
    w.close();
    const missing = watch(socketPath, 'shop/billing', 'nothing-here', 1500);
    await until(() => missing.error() !== undefined);
    expect(missing.error()!.code).toBe(grpc.status.NOT_FOUND);
    missing.close();
  });

  it('leases a dynamic secret on the first watcher, renews it, and revokes it when the last leaves', async () => {
    peer = orders;
    const a = watch(socketPath, 'shop/orders', 'db');
    const b = watch(socketPath, 'shop/orders', 'db');
    await until(() => a.replies.length > 0 && b.replies.length > 0);
    expect(a.replies[0]!.lease!.id).toBe('lease-1');
    expect(a.replies[0]!.versions[0]).toMatchObject({
      version: 1,
      data: { username: 'v-lease-1' },
    });
    // Renewed at 2/3 of its 900 ms, then replaced once renewal could not pass maxExpiresAt.
    await until(() => cp.requests.includes('POST /v1/agent/leases/lease-1/renew'));
    await until(() => a.replies.some((r) => r.lease?.id === 'lease-2'));
    const last = a.replies.at(-1)!;
    expect(last.versions[0]).toMatchObject({ version: 2, data: { username: 'v-lease-2' } });
    expect(cp.requests.filter((r) => r === 'POST /v1/agent/leases')).toHaveLength(2);
    a.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(cp.leases.get('lease-2')!.revoked).toBe(false); // b still watches
    b.close();
    await until(() => cp.leases.get('lease-2')!.revoked);
    expect(cp.requests).toContain('DELETE /v1/agent/leases/lease-2');
  });

  it('ends the stream when the workload entry is removed, and drops the service secrets', async () => {
    peer = orders;
    const w = watch(socketPath, 'shop/orders', 'api-key');
    await until(() => w.replies.length === 1);
    await cp.admin('DELETE', `/v1/ca/entries/${ordersEntry}`);
    await until(() => w.error() !== undefined);
    expect(w.error()!.code).toBe(grpc.status.PERMISSION_DENIED);
    await until(() => agent.secrets!.get('shop/orders', 'shop/api-key') === undefined);
    w.close();
  });

  it('reopens its stream when a service whose secrets it dropped comes back to the node', async () => {
    // The previous test removed orders' entry: the agent dropped its secrets. The control plane
    // here never noticed (as when an entry is deleted and created again between two sweeps):
    // only a new connect snapshot can bring them back.
    expect(agent.secrets!.get('shop/orders', 'shop/api-key')).toBeUndefined();
    const watches = () => cp.requests.filter((r) => r === 'GET /v1/agent/watch').length;
    const before = watches();
    ordersEntry = (
      await cp.admin('POST', '/v1/ca/entries', {
        spiffeId: ORDERS,
        node: 'node-a',
        selectors: ['unix:uid:1001'],
      })
    ).id as string;
    await until(() => watches() > before && cp.connected());
    cp.send({
      service: 'shop/orders',
      spiffeId: ORDERS,
      secret: 'shop/api-key',
      revision: 1,
      type: 'random',
      versions: [{ version: 1, data: { value: 'k1' }, notBefore: 0, notAfter: null }],
    });
    await until(() => agent.secrets!.get('shop/orders', 'shop/api-key') !== undefined);
    peer = orders;
    const w = watch(socketPath, 'shop/orders', 'api-key');
    await until(() => w.replies.length === 1);
    w.close();
  });
});
