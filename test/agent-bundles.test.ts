/**
 * Issue 10 item 4: bundles through the node agent. A real control plane (`startServer` with the
 * CA plugin, SQLite), real agents (their one scoped stream, their Unix socket), real PDPs
 * (`createPdp({ agentSocket })`), and a real child process under another uid as a second workload.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ControlPlaneClient, type RunningAgent, startAgent } from '@ward/agent';
import {
  AGENT_BUNDLES_SERVICE,
  type AgentBundleRequestV1,
  type SignedBundleV1,
} from '@ward/api-types';
import { generateSealKey } from '@ward/ca';
import type { PolicyDocument } from '@ward/policy';
import { createPdp, type Pdp, SseParser } from '@ward/sdk';
import { caPlugin, type RunningServer, startServer } from '@ward/server';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN = 'agent-bundles-admin-token-0123456789';
const TD = 'prod.test';
const root = join(import.meta.dirname, '..');
const quiet = pino({ level: 'silent' });
const silentPdpLogger = { warn() {}, error() {} };

/**
 * A service of the default namespace (its key is its bare name) whose workloads run in
 * Kubernetes namespace `shop`: the SPIFFE ID written out, as the namespace migration keeps a
 * service stored before namespaces. test/namespaces-runtime.test.ts covers namespaced keys.
 */
const service = (name: string): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { spiffeId: `spiffe://${TD}/ns/shop/sa/${name}` },
});
/** `dest` lets `frontend` GET `path` (a change of `path` is a new bundle of `dest` only). */
const intention = (dest: string, path: string): PolicyDocument => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name: `${dest}-access` },
  spec: {
    destination: dest,
    mode: 'enforce',
    rules: [
      {
        sources: ['frontend'],
        action: 'allow',
        permissions: [{ http: { methods: ['GET'], paths: [{ prefix: path }] } }],
      },
    ],
  },
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('bundles through the node agent', () => {
  let dir: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let socketPath: string;
  const pdps: Pdp[] = [];
  const others: RunningAgent[] = [];

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  let paths = { orders: '/orders', payments: '/payments', inventory: '/inventory' };
  const apply = async (next: Partial<typeof paths>) => {
    paths = { ...paths, ...next };
    const docs = [
      service('orders'),
      service('payments'),
      service('inventory'),
      service('frontend'),
      intention('orders', paths.orders),
      intention('payments', paths.payments),
      intention('inventory', paths.inventory),
    ];
    const content = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    const r = await admin('POST', '/v1/apply', { files: [{ name: 'p.yaml', content }] });
    expect(r.status).toBe(200);
  };
  const joinAgent = async (node: string, socket: string) => {
    const { body } = await admin('POST', '/v1/ca/join-tokens', { node });
    return startAgent({
      controlPlane: server.url,
      joinToken: body.token,
      socketPath: socket,
      logger: quiet,
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
    });
  };
  const pdpFor = (name: string, socket: string, cacheDir?: string) => {
    const pdp = createPdp({
      service: name,
      agentSocket: socket,
      publicKey: server.publicKey,
      backoff: { initialMs: 20, maxMs: 200 },
      logger: silentPdpLogger,
      ...(cacheDir ? { cacheDir } : { revisionFloor: false }),
    });
    pdps.push(pdp);
    return pdp;
  };
  const frontendGet = (pdp: Pdp, path: string) =>
    pdp.decide({ source: { service: 'frontend' }, request: { method: 'GET', path } }).allowed;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-agent-bundles-'));
    // The second workload runs as nobody: it must reach the agent's socket in this folder.
    chmodSync(dir, 0o755);
    server = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      adminToken: ADMIN,
      trustDomain: TD,
      // Long enough that a loaded machine's stalls do not pass for a dead stream (3 heartbeats).
      heartbeatMs: 3000,
      plugins: [caPlugin({ env: { WARD_CA_KEY: generateSealKey() }, agentSweepMs: 200 })],
    });
    await apply({});
    // worker-1 runs orders (this process, uid 0) and payments (uid 65534); worker-2 inventory.
    const entry = (name: string, node: string, uid: number) =>
      admin('POST', '/v1/ca/entries', {
        spiffeId: `spiffe://${TD}/ns/shop/sa/${name}`,
        node,
        selectors: [`unix:uid:${uid}`],
      });
    expect((await entry('orders', 'worker-1', process.getuid!())).status).toBe(201);
    expect((await entry('payments', 'worker-1', 65534)).status).toBe(201);
    expect((await entry('inventory', 'worker-2', process.getuid!())).status).toBe(201);
    socketPath = join(dir, 'agent.sock');
    agent = await joinAgent('worker-1', socketPath);
    await waitFor('the agent stream', () => agent.bundles?.get('payments') !== undefined);
  });

  afterAll(async () => {
    for (const p of pdps) await p.close();
    for (const a of others) await a.close();
    await agent?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a PDP on the agent socket receives the new bundle after an apply', async () => {
    // Three instances of orders on the node: still one stream on the control plane.
    const [pdp, ...replicas] = [1, 2, 3].map(() => pdpFor('orders', socketPath));
    await pdp!.waitReady({ timeoutMs: 10_000 });
    expect(pdp!.status().source).toBe(`unix://${socketPath}`);
    const before = pdp!.revision();
    expect(frontendGet(pdp!, '/orders/1')).toBe(true);
    await apply({ orders: '/orders-v2' });
    await waitFor('the new orders bundle', () => pdp!.revision() > before);
    expect(frontendGet(pdp!, '/orders/1')).toBe(false);
    expect(frontendGet(pdp!, '/orders-v2/1')).toBe(true);
    for (const r of replicas) {
      await waitFor('every replica', () => r.revision() === pdp!.revision());
    }
    // One stream for the node, none per PDP.
    expect(server.app.ward.agentHub.size).toBe(1);
    expect(server.app.ward.hub.size).toBe(0);
  });

  it("gives a workload only its own service's bundle (peer credentials)", async () => {
    // This process is orders: asking the agent for payments (which the agent holds) is refused.
    expect(agent.bundles?.get('payments')).toBeDefined();
    const stolen = pdpFor('payments', socketPath);
    await expect(stolen.waitReady({ timeoutMs: 1500 })).rejects.toMatchObject({
      code: 'PDP_NOT_READY',
    });
    expect(stolen.status().lastError?.code).toBe('PDP_UNAUTHORIZED');
    expect(stolen.status().lastError?.message).toMatch(/not service payments/);

    // The real payments workload (uid 65534) gets payments, and is refused orders.
    const script = join(dir, 'payments-workload.mjs');
    writeFileSync(
      script,
      `import { createPdp } from ${JSON.stringify(join(root, 'packages/sdk/src/index.ts'))};
const quiet = { warn() {}, error() {} };
const out = {};
for (const service of ['payments', 'orders']) {
  const pdp = createPdp({ service, agentSocket: ${JSON.stringify(socketPath)},
    publicKey: ${JSON.stringify(server.publicKey)}, revisionFloor: false, logger: quiet,
    backoff: { initialMs: 20, maxMs: 100 } });
  // Ready, or refused: whichever comes first (a refusal does not end the PDP's retries).
  for (let i = 0; i < 500 && pdp.revision() === 0 && !pdp.status().lastError; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  out[service] = pdp.revision() > 0
    ? { revision: pdp.revision() }
    : { error: pdp.status().lastError?.code };
  await pdp.close();
}
console.log(JSON.stringify(out));
`,
    );
    chmodSync(script, 0o644);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [script],
        { uid: 65534, gid: 65534, cwd: root, timeout: 20_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const result = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(result.payments.revision).toBeGreaterThan(0);
    expect(result.orders).toEqual({ error: 'PDP_UNAUTHORIZED' });
  }, 30_000);

  it('an agent can neither fetch nor watch a service not on its node', async () => {
    const client = new ControlPlaneClient(server.url);
    const identity = agent.manager.identity;
    await expect(client.bundle(identity, 'inventory')).rejects.toMatchObject({ status: 403 });
    const own = (await client.bundle(identity, 'orders')) as {
      service: string;
      spiffeId: string;
      revision: number;
      bundle: { payload: string };
    };
    expect(own.service).toBe('orders');
    expect(own.spiffeId).toBe(`spiffe://${TD}/ns/shop/sa/orders`);
    // The revision sent beside the bundle (so the agent need not parse the payload) is the
    // signed payload's.
    expect(own.revision).toBe((JSON.parse(own.bundle.payload) as { revision: number }).revision);

    // Its stream: the connect snapshot and every change name only worker-1's services. The
    // client's request timeout (300 ms) bounds the headers, not the stream's life.
    const abort = new AbortController();
    const res = await new ControlPlaneClient(server.url, { timeoutMs: 300 }).watch(
      identity,
      abort.signal,
    );
    const seen: string[] = [];
    const mismatched: string[] = [];
    const parser = new SseParser({ maxLineLength: 1 << 24, maxEventSize: 1 << 24 });
    const reading = (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const e of parser.feedBytes(chunk)) {
          if (e.event !== 'bundle') continue;
          const data = JSON.parse(e.data) as {
            service: string;
            revision: number;
            bundle: { payload: string };
          };
          // The revision beside the bundle is the signed payload's (checked after the stream).
          if (data.revision !== JSON.parse(data.bundle.payload).revision) mismatched.push(e.data);
          seen.push(data.service);
        }
      }
    })().catch(() => {});
    await waitFor('the snapshot', () => seen.length >= 2);
    await new Promise((r) => setTimeout(r, 800));
    await apply({ inventory: '/inventory-v2', payments: '/payments-v2' });
    await waitFor('the payments change', () => seen.filter((s) => s === 'payments').length >= 2);
    abort.abort();
    await reading;
    expect(new Set(seen)).toEqual(new Set(['orders', 'payments']));
    expect(mismatched).toEqual([]);
    expect(agent.bundles?.get('inventory')).toBeUndefined();
  });

  it("follows the node's registration entries: a service added starts flowing, one removed stops", async () => {
    const created = await admin('POST', '/v1/ca/entries', {
      spiffeId: `spiffe://${TD}/ns/shop/sa/inventory`,
      node: 'worker-1',
      selectors: ['unix:uid:4242'],
    });
    expect(created.status).toBe(201);
    // Same stream (no reconnect): the sweep widened its scope and sent the current bundle.
    const connects = agent.bundles!.connects;
    await waitFor('inventory on worker-1', () => agent.bundles?.get('inventory') !== undefined);
    expect(agent.bundles!.connects).toBe(connects);
    const held = agent.bundles!.get('inventory')!.revision;
    expect((await admin('DELETE', `/v1/ca/entries/${created.body.id}`)).status).toBe(204);
    // The fetch is refused at once; the stream's scope shrinks at the next sweep (200 ms here).
    const client = new ControlPlaneClient(server.url);
    await expect(client.bundle(agent.manager.identity, 'inventory')).rejects.toMatchObject({
      status: 403,
    });
    await new Promise((r) => setTimeout(r, 600));
    const orders = agent.bundles!.get('orders')!.revision;
    await apply({ inventory: '/inventory-v3', orders: '/orders-v2b' });
    await waitFor('orders', () => agent.bundles!.get('orders')!.revision > orders);
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.bundles!.get('inventory')!.revision).toBe(held);
  });

  it('revoking an agent ends its stream, and it cannot open another', async () => {
    const other = await joinAgent('worker-2', join(dir, 'agent-2.sock'));
    others.push(other);
    await waitFor('worker-2 stream', () => other.bundles?.get('inventory') !== undefined);
    const ended = new Promise<void>((r) => other.bundles!.once('disconnected', () => r()));
    expect((await admin('DELETE', '/v1/ca/agents/worker-2')).status).toBe(204);
    await ended;
    expect(server.app.ward.agentHub.size).toBe(1); // worker-1's only
    const again = new ControlPlaneClient(server.url).watch(
      other.manager.identity,
      new AbortController().signal,
    );
    await expect(again).rejects.toMatchObject({ status: 401 });
    expect((await admin('DELETE', '/v1/ca/agents/worker-2')).status).toBe(404);
  });

  it('a PDP refuses a forged or rolled-back bundle from the agent', async () => {
    const get = async () => (await admin('GET', '/v1/bundles/orders')).body as SignedBundleV1;
    const older = await get();
    await apply({ orders: '/orders-v3' });
    const newer = await get();
    const payload = JSON.parse(newer.payload);
    // Content of the agent's choosing (every rule gone, a revision far ahead), with the hash
    // recomputed: only the signature can tell.
    const forgedPayload = JSON.stringify({
      ...payload,
      revision: payload.revision + 1000,
      documents: [],
    });
    const forged: SignedBundleV1 = {
      ...newer,
      payload: forgedPayload,
      hash: `sha256-${createHash('sha256').update(forgedPayload).digest('base64url')}`,
    };
    // A hostile "agent": a gRPC server on a socket of its own, speaking the agent's protocol.
    const fake = new grpc.Server();
    let send: ((b: unknown) => void) | undefined;
    fake.addService(AGENT_BUNDLES_SERVICE as unknown as grpc.ServiceDefinition, {
      WatchBundle(call: grpc.ServerWritableStream<AgentBundleRequestV1, unknown>) {
        send = (bundle) => call.write({ bundle });
      },
    });
    const fakeSocket = join(dir, 'fake-agent.sock');
    await new Promise<void>((resolve, reject) =>
      fake.bindAsync(`unix://${fakeSocket}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    try {
      const pdp = pdpFor('orders', fakeSocket, join(dir, 'cache-forged'));
      await waitFor('the fake agent call', () => send !== undefined);
      send!(newer);
      await pdp.waitReady({ timeoutMs: 5000 });
      const good = pdp.revision();
      send!(forged);
      send!(older);
      await waitFor(
        'both refusals',
        () => Object.values(pdp.status().rejected).reduce((a, b) => a + b, 0) >= 2,
      );
      expect(pdp.revision()).toBe(good);
      expect(pdp.status().rejected).toMatchObject({ BUNDLE_BAD_SIGNATURE: 1, BUNDLE_ROLLBACK: 1 });
      expect(frontendGet(pdp, '/orders-v3/1')).toBe(true);
    } finally {
      fake.forceShutdown();
    }
  });

  it('an agent restart: the PDP keeps deciding from its last good bundle, then resumes', async () => {
    const pdp = pdpFor('orders', socketPath, join(dir, 'cache-restart'));
    await pdp.waitReady({ timeoutMs: 10_000 });
    await agent.close();
    await waitFor('the PDP to notice', () => pdp.status().connected === null);
    const held = pdp.revision();
    expect(frontendGet(pdp, `${paths.orders}/1`)).toBe(true);
    await apply({ orders: '/orders-v4' });
    // Still the last good bundle while no agent runs.
    expect(pdp.revision()).toBe(held);
    expect(frontendGet(pdp, '/orders-v4/1')).toBe(false);
    agent = await joinAgent('worker-1', socketPath);
    await waitFor('the bundle through the new agent', () => pdp.revision() > held);
    expect(frontendGet(pdp, '/orders-v4/1')).toBe(true);
    expect(pdp.status().connected).toBe(`unix://${socketPath}`);
  });
});
