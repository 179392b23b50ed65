/**
 * Issue 16 end to end: secrets from the control plane (`startServer` with `caPlugin()` and
 * `secretsPlugin()`, SQLite) through real node agents (their one stream, their Unix socket) to
 * real SDK clients (`connectSecrets`), and dynamic PostgreSQL logins against the real
 * PostgreSQL at 127.0.0.1:5432.
 *
 * Workloads are posed by `resolvePeer`: the uid of the next connection is set before a client
 * connects. Each workload reaches the agent's socket through its own symlink, so that gRPC (which
 * shares one connection between clients of one target in a process) opens a connection per
 * workload, as separate processes would.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ControlPlaneClient,
  type PeerCredentials,
  type RunningAgent,
  startAgent,
} from '@ward/agent';
import { AGENT_PROOF_HEADER, generateSealKey, signAgentProof } from '@ward/ca';
import { connectSecrets, type SecretsClient, SseParser } from '@ward/sdk';
import { caPlugin, type RunningServer, secretsPlugin, startServer } from '@ward/server';
import { defaultSpiffeId } from '@ward/spiffe';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ADMIN = 'secrets-e2e-admin-token-0123456789';
const TD = 'secrets.test';
const PG_URL = process.env.WARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Every line the agents and SDK clients log, at every level: searched for values at the end. */
const logged: string[] = [];
const capture = pino({ level: 'trace' }, { write: (line: string) => void logged.push(line) });
/** Every secret value the tests wrote or received. */
const values = new Set<string>();
const quietSdk = {
  warn(fields: object, message: string) {
    logged.push(`${message} ${JSON.stringify(fields)}`);
  },
};

async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch (error) {
    console.warn(
      `\n*** SKIPPING the PostgreSQL part of secrets-e2e.test.ts: cannot connect to ${PG_URL} (${(error as Error).message}). ***\n`,
    );
    return false;
  }
}
const pgUp = await pgAvailable();

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether `fn` throws an error with `code`. */
const throwsCode = (fn: () => unknown, code: string) => {
  try {
    fn();
    return false;
  } catch (e) {
    return (e as { code?: string }).code === code;
  }
};

// The workloads: service → (node, uid).
const WORKLOADS = {
  orders: { node: 'worker-1', uid: 1001 },
  inventory: { node: 'worker-1', uid: 1002 },
  billing: { node: 'worker-1', uid: 1003 },
  shipping: { node: 'worker-1', uid: 1004 },
  payments: { node: 'worker-2', uid: 2001 },
  audit: { node: 'worker-3', uid: 3001 },
  'shop/cart': { node: 'worker-1', uid: 1005 },
} as const;
type Workload = keyof typeof WORKLOADS;

describe('secrets end to end (control plane → agent → SDK)', () => {
  let dir: string;
  let shm: string;
  let server: RunningServer;
  let agentA: RunningAgent;
  let agentB: RunningAgent;
  const agents: RunningAgent[] = [];
  const clients: SecretsClient[] = [];
  const entryIds = new Map<Workload, string>();
  let peer: PeerCredentials = {
    pid: 1,
    uid: 0,
    gid: 0,
    supplementaryGids: [],
    path: '/srv/none',
  };

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
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  };
  const apply = async (...docs: object[]) => {
    const content = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    const r = await admin('POST', '/v1/apply', { files: [{ name: 'e2e.yaml', content }] });
    expect(r.status, r.text).toBe(200);
  };
  const secretDoc = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'ward.dev/v1',
    kind: 'Secret',
    metadata: { name },
    spec,
  });
  const put = async (name: string, data: Record<string, string>) => {
    for (const v of Object.values(data)) values.add(v);
    const r = await admin('PUT', `/v1/secrets/${encodeURIComponent(name)}`, { data });
    expect(r.status, r.text).toBe(200);
    return r.body.version as number;
  };
  const rotate = async (name: string) => {
    const r = await admin('POST', `/v1/secrets/${encodeURIComponent(name)}/rotate`);
    expect(r.status, r.text).toBe(200);
    return r.body.version as number;
  };
  const newestHeld = (agent: RunningAgent, service: string, secret: string) =>
    Math.max(0, ...(agent.secrets?.get(service, secret)?.versions?.map((v) => v.version) ?? []));

  const joinAgent = async (node: string, socket: string, extra: object = {}) => {
    const { body } = await admin('POST', '/v1/ca/join-tokens', { node });
    const agent = await startAgent({
      controlPlane: server.url,
      joinToken: body.token,
      socketPath: socket,
      logger: capture,
      bundleTiming: { minBackoffMs: 20, maxBackoffMs: 200 },
      timing: { syncIntervalMs: 300 },
      statusIntervalMs: 0,
      resolvePeer: async () => peer,
      ...extra,
    });
    agents.push(agent);
    return agent;
  };
  /** Connects `service`'s workload (its uid) to `agent`, through a path of its own. */
  const connect = async (service: Workload, names: string[], agent = agentA) => {
    const { uid } = WORKLOADS[service];
    const path = join(dir, `${service.replace('/', '-')}-${randomBytes(3).toString('hex')}.sock`);
    symlinkSync(agent.socketPath, path);
    peer = { pid: 10_000 + uid, uid, gid: uid, supplementaryGids: [], path: `/srv/${service}` };
    const client = await connectSecrets({
      socketPath: path,
      service,
      names,
      timeoutMs: 10_000,
      logger: quietSdk,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    clients.push(client);
    for (const name of names) {
      const note = (v: { data: Record<string, string> } | undefined) => {
        // A lease's username is its role's name, which leases and audit entries show.
        for (const [f, x] of Object.entries(v?.data ?? {})) if (f !== 'username') values.add(x);
      };
      for (const v of client.valid(name)) note(v);
      client.watch(name, note);
    }
    return client;
  };

  const caKey = generateSealKey();
  const startControlPlane = (port: number) =>
    startServer({
      dataDir: join(dir, 'data'),
      port,
      adminToken: ADMIN,
      trustDomain: TD,
      heartbeatMs: 3000,
      env: {},
      plugins: [
        caPlugin({ env: { WARD_CA_KEY: caKey }, agentSweepMs: 200 }),
        secretsPlugin({ rotationCheckMs: 200 }),
      ],
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-secrets-e2e-'));
    shm = mkdtempSync('/dev/shm/ward-secrets-e2e-');
    server = await startControlPlane(0);
    await apply(
      ...Object.keys(WORKLOADS).map((key) => {
        const [namespace, name] = key.includes('/') ? key.split('/') : ['default', key];
        return {
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name, namespace },
          spec: {},
        };
      }),
      secretDoc('session-key', {
        owner: 'inventory',
        readers: ['orders', 'inventory'],
        type: 'random',
        rotation: { activation: '300ms', grace: '5s' },
      }),
    );
    for (const [name, w] of Object.entries(WORKLOADS)) {
      const [ns, sa] = name.includes('/') ? name.split('/') : ['default', name];
      const r = await admin('POST', '/v1/ca/entries', {
        spiffeId: defaultSpiffeId(TD, ns!, sa!),
        node: w.node,
        selectors: [`unix:uid:${w.uid}`],
      });
      expect(r.status, r.text).toBe(201);
      entryIds.set(name as Workload, r.body.id);
    }
    await rotate('session-key');
    agentA = await joinAgent('worker-1', join(dir, 'agent-1.sock'), {
      secretTemplates: [
        {
          service: 'orders',
          secret: 'session-key',
          destination: join(shm, 'session-key'),
          template: '{{ version }}:{{ value }}',
        },
      ],
    });
    agentB = await joinAgent('worker-2', join(dir, 'agent-2.sock'));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const a of agents) await a.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (shm) rmSync(shm, { recursive: true, force: true });
  });

  it('a workload gets its API key through the agent once a Secret document grants it', async () => {
    await apply(secretDoc('inventory-api-key', { owner: 'inventory', readers: ['orders'] }));
    const value = `api-${randomBytes(12).toString('hex')}`;
    expect(await put('inventory-api-key', { value })).toBe(1);
    const secrets = await connect('orders', ['inventory-api-key']);
    expect(secrets.get('inventory-api-key')).toMatchObject({
      secret: 'inventory-api-key',
      version: 1,
      value,
      data: { value },
    });
    // A new value reaches the workload without it asking.
    const next = `api-${randomBytes(12).toString('hex')}`;
    const seen: number[] = [];
    secrets.watch('inventory-api-key', (v) => v && seen.push(v.version));
    expect(await put('inventory-api-key', { value: next })).toBe(2);
    await waitFor('version 2', () => secrets.get('inventory-api-key').version === 2);
    expect(secrets.get('inventory-api-key').value).toBe(next);
    expect(seen).toContain(2);
  });

  it('survives three rotations without a rejected request', async () => {
    const caller = await connect('orders', ['session-key']);
    const verifier = await connect('inventory', ['session-key']);
    let checks = 0;
    const rejected: string[] = [];
    const versions = new Set<number>();
    let running = true;
    const loop = (async () => {
      while (running) {
        const sent = caller.get('session-key');
        versions.add(sent.version);
        if (!verifier.valid('session-key').some((v) => v.value === sent.value)) {
          rejected.push(`version ${sent.version}`);
        }
        checks++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    let last = 0;
    try {
      for (let i = 0; i < 3; i++) {
        last = await rotate('session-key');
        // The caller switches once the version is current (after its 300 ms activation).
        await waitFor(`version ${last} in use`, () => caller.get('session-key').version === last);
      }
    } finally {
      running = false;
      await loop;
    }
    expect(rejected).toEqual([]);
    expect(checks).toBeGreaterThan(100);
    expect(caller.get('session-key').version).toBe(last);
    expect([...versions].length).toBeGreaterThanOrEqual(4);
    // The replaced version stays valid for the verifier through its grace period.
    expect(verifier.valid('session-key').map((v) => v.version)).toContain(last - 1);
  });

  it('a namespaced secret, a rollback and a deletion reach the workload', async () => {
    await apply({
      apiVersion: 'ward.dev/v1',
      kind: 'Secret',
      metadata: { name: 'cart-key', namespace: 'shop' },
      spec: { owner: 'cart', readers: ['cart'], rotation: { activation: '0s' } },
    });
    await put('shop/cart-key', { value: 'cart-value-1' });
    const cart = await connect('shop/cart', ['cart-key']);
    expect(cart.get('cart-key')).toMatchObject({ secret: 'shop/cart-key', version: 1 });
    expect(cart.get('shop/cart-key').value).toBe('cart-value-1');
    await put('shop/cart-key', { value: 'cart-value-2' });
    await waitFor('version 2', () => cart.get('cart-key').version === 2);
    const back = await admin('POST', '/v1/secrets/shop%2Fcart-key/rollback', { version: 1 });
    expect(back.status, back.text).toBe(200);
    await waitFor('the rollback', () => cart.get('cart-key').version === 3);
    expect(cart.get('cart-key').value).toBe('cart-value-1');
    // Deleting destroys every version: the workload keeps none of them.
    expect((await admin('DELETE', '/v1/secrets/shop%2Fcart-key')).status).toBe(204);
    await waitFor('the deletion', () =>
      throwsCode(() => cart.get('cart-key'), 'SECRETS_ACCESS_WITHDRAWN'),
    );
    expect(agentA.secrets!.get('shop/cart', 'shop/cart-key')).toBeUndefined();
    // A value put again (the document still grants it) comes back to the same client.
    await put('shop/cart-key', { value: 'cart-value-3' });
    await waitFor('the new value', () => {
      try {
        return cart.get('cart-key').value === 'cart-value-3';
      } catch {
        return false;
      }
    });
  });

  it('a service removed from the readers loses the secret', async () => {
    await apply(secretDoc('reports-key', { owner: 'inventory', readers: ['orders', 'billing'] }));
    await put('reports-key', { value: 'reports-value' });
    const billing = await connect('billing', ['reports-key']);
    const orders = await connect('orders', ['reports-key']);
    expect(billing.get('reports-key').value).toBe('reports-value');
    await apply(secretDoc('reports-key', { owner: 'inventory', readers: ['orders'] }));
    await waitFor('billing withdrawn', () =>
      throwsCode(() => billing.get('reports-key'), 'SECRETS_ACCESS_WITHDRAWN'),
    );
    expect(orders.get('reports-key').value).toBe('reports-value');
  });

  it('a workload whose registration entry is deleted loses the secret', async () => {
    await apply(secretDoc('shipping-key', { owner: 'inventory', readers: ['shipping'] }));
    await put('shipping-key', { value: 'shipping-value' });
    const shipping = await connect('shipping', ['shipping-key']);
    expect(shipping.get('shipping-key').value).toBe('shipping-value');
    const r = await admin('DELETE', `/v1/ca/entries/${entryIds.get('shipping')}`);
    expect(r.status, r.text).toBe(204);
    await waitFor('shipping withdrawn', () =>
      throwsCode(() => shipping.get('shipping-key'), 'SECRETS_ACCESS_WITHDRAWN'),
    );
    await waitFor(
      'the agent to drop it',
      () => agentA.secrets!.get('shipping', 'shipping-key') === undefined,
    );
  });

  it('a revoked agent stops receiving: its stream ends and a new rotation does not reach it', async () => {
    await apply(
      secretDoc('audit-key', {
        owner: 'inventory',
        readers: ['audit', 'orders'],
        type: 'random',
        rotation: { activation: '0s', grace: '5s' },
      }),
    );
    const v1 = await rotate('audit-key');
    const agentC = await joinAgent('worker-3', join(dir, 'agent-3.sock'));
    await waitFor('audit-key on worker-3', () => newestHeld(agentC, 'audit', 'audit-key') === v1);
    const audit = await connect('audit', ['audit-key'], agentC);
    expect(audit.get('audit-key').version).toBe(v1);
    const ended = new Promise<void>((r) => agentC.bundles!.once('disconnected', () => r()));
    expect((await admin('DELETE', '/v1/ca/agents/worker-3')).status).toBe(204);
    await ended;
    const v2 = await rotate('audit-key');
    // worker-1 (orders reads it too) gets the rotation; worker-3 does not.
    await waitFor(
      'audit-key v2 on worker-1',
      () => newestHeld(agentA, 'orders', 'audit-key') === v2,
    );
    expect(newestHeld(agentC, 'audit', 'audit-key')).toBe(v1);
    const again = new ControlPlaneClient(server.url).watch(
      agentC.manager.identity,
      new AbortController().signal,
    );
    await expect(again).rejects.toMatchObject({ status: 401 });
  });

  it("a stolen agent credential reaches only its own node's secrets", async () => {
    await apply(
      secretDoc('payments-key', { owner: 'payments', readers: ['payments'] }),
      secretDoc('payments-pg-admin', { owner: 'payments', readers: [] }),
      secretDoc('payments-db', {
        owner: 'payments',
        readers: ['payments'],
        type: 'postgres',
        postgres: {
          connection: 'payments-pg-admin',
          grants: ['GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{name}}'],
        },
      }),
    );
    const v1 = await put('payments-key', { value: 'payments-value-1' });
    await waitFor(
      'payments-key on worker-2',
      () => newestHeld(agentB, 'payments', 'payments-key') === v1,
    );
    expect(agentA.secrets!.get('payments', 'payments-key')).toBeUndefined();

    const stolen = agentA.manager.identity;
    const client = new ControlPlaneClient(server.url);
    for (const service of ['payments', 'orders']) {
      await expect(
        client.createLease(stolen, { service, secret: 'payments-db' }),
      ).rejects.toMatchObject({ status: 403 });
    }
    // The value route takes no agent proof at all.
    const proofed = async (method: string, path: string) =>
      fetch(`${server.url}${path}`, {
        method,
        headers: {
          [AGENT_PROOF_HEADER]: await signAgentProof({
            privateKey: stolen.privateKey,
            chainPem: stolen.chain,
            spiffeId: stolen.spiffeId,
            method,
            path,
          }),
        },
      });
    for (const path of ['/v1/secrets/payments-key/value', '/v1/secrets/payments-key']) {
      const res = await proofed('GET', path);
      expect([401, 403], path).toContain(res.status);
      expect(await res.text()).not.toContain('payments-value');
    }

    // A's own stream: the snapshot and every change name only worker-1's services.
    const abort = new AbortController();
    const res = await new ControlPlaneClient(server.url, { timeoutMs: 2000 }).watch(
      stolen,
      abort.signal,
    );
    const seen: { service: string; secret: string; text: string }[] = [];
    const parser = new SseParser({ maxLineLength: 1 << 24, maxEventSize: 1 << 24 });
    const reading = (async () => {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const e of parser.feedBytes(chunk)) {
          if (e.event !== 'secret') continue;
          const d = JSON.parse(e.data) as { service: string; secret: string };
          seen.push({ service: d.service, secret: d.secret, text: e.data });
        }
      }
    })().catch(() => {});
    await waitFor('the snapshot', () => seen.some((s) => s.secret === 'session-key'));
    const v2 = await put('payments-key', { value: 'payments-value-2' });
    await waitFor(
      'payments-key v2 on worker-2',
      () => newestHeld(agentB, 'payments', 'payments-key') === v2,
    );
    // A fence: a later change of a worker-1 secret arrives on A's stream after it.
    await put('inventory-api-key', { value: 'fence' });
    await waitFor('the fence', () => seen.some((s) => s.text.includes('fence')));
    abort.abort();
    await reading;
    expect(seen.filter((s) => s.service === 'payments' || s.secret.startsWith('payments'))).toEqual(
      [],
    );
    expect(seen.some((s) => s.text.includes('payments-value'))).toBe(false);
  });

  it.skipIf(!pgUp)(
    'a dynamic PostgreSQL login: works, revoked when the last watcher leaves and when the grant goes',
    async () => {
      const db = `ward_e2e_${randomBytes(5).toString('hex')}`;
      const roles = new Set<string>();
      const root = new pg.Client({ connectionString: PG_URL });
      await root.connect();
      const roleExists = async (name: string) =>
        (await root.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1;
      try {
        await root.query(`CREATE DATABASE ${db}`);
        const dbUrl = new URL(PG_URL);
        dbUrl.pathname = `/${db}`;
        const setup = new pg.Client({ connectionString: dbUrl.toString() });
        await setup.connect();
        await setup.query("CREATE TABLE items (name text); INSERT INTO items VALUES ('bolt')");
        await setup.end();
        const dbSecret = (readers: string[]) =>
          secretDoc('orders-db', {
            owner: 'orders',
            readers,
            type: 'postgres',
            postgres: {
              connection: 'pg-admin',
              ttl: '1m',
              grants: ['GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{name}}'],
            },
          });
        await apply(secretDoc('pg-admin', { owner: 'orders', readers: [] }), dbSecret(['orders']));
        await put('pg-admin', { url: dbUrl.toString() });

        const first = await connect('orders', ['orders-db']);
        const login = first.get('orders-db');
        const username = login.data.username!;
        roles.add(username);
        expect(login.lease).toBeDefined();
        expect(await roleExists(username)).toBe(true);
        const asWorkload = new pg.Client({
          host: dbUrl.hostname,
          port: Number(dbUrl.port || 5432),
          database: db,
          user: username,
          password: login.data.password!,
        });
        await asWorkload.connect();
        expect((await asWorkload.query('SELECT name FROM items')).rows).toEqual([{ name: 'bolt' }]);
        await asWorkload.end();
        // The last watcher leaves: the agent revokes the lease, the role goes.
        first.close();
        await waitFor('the role dropped on close', async () => !(await roleExists(username)));

        const second = await connect('orders', ['orders-db']);
        const other = second.get('orders-db').data.username!;
        roles.add(other);
        expect(other).not.toBe(username);
        expect(await roleExists(other)).toBe(true);
        // The grant withdrawn: the leader's orphan sweep revokes the lease.
        await apply(dbSecret([]));
        await waitFor('the role dropped by the sweep', async () => !(await roleExists(other)));
        await waitFor('orders-db withdrawn', () =>
          throwsCode(() => second.get('orders-db'), 'SECRETS_ACCESS_WITHDRAWN'),
        );
        second.close();

        // The connection secret deleted: the leases made with it are revoked first (while its
        // URL can still be read), before the delete answers.
        await apply(dbSecret(['orders']));
        const third = await connect('orders', ['orders-db']);
        const last = third.get('orders-db').data.username!;
        roles.add(last);
        expect(await roleExists(last)).toBe(true);
        const deleted = await admin('DELETE', `/v1/secrets/pg-admin`);
        expect(deleted.status, deleted.text).toBe(204);
        expect(await roleExists(last)).toBe(false);
        third.close();
      } finally {
        await root.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        for (const r of roles) await root.query(`DROP ROLE IF EXISTS "${r}"`);
        await root.end();
      }
    },
    60_000,
  );

  it('renders a secret to a 0600 file on tmpfs and re-renders it after a rotation', async () => {
    const file = join(shm, 'session-key');
    const current = () => newestHeld(agentA, 'orders', 'session-key');
    const expected = () => {
      const held = agentA.secrets!.get('orders', 'session-key')!;
      const now = Date.now();
      const v = [...held.versions!]
        .filter((x) => x.notBefore <= now)
        .sort((a, b) => b.version - a.version)[0]!;
      return `${v.version}:${v.data.value}`;
    };
    await waitFor('the file', () => existsSync(file) && readFileSync(file, 'utf8') === expected());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = readFileSync(file, 'utf8');
    const next = await rotate('session-key');
    await waitFor('the rotation on worker-1', () => current() === next);
    await waitFor('the re-render', () => readFileSync(file, 'utf8').startsWith(`${next}:`));
    const after = readFileSync(file, 'utf8');
    expect(after).not.toBe(before);
    expect(after).toBe(expected());
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('withdrawn access comes back when the grant or the registration entry does', async () => {
    await apply(secretDoc('regrant-key', { owner: 'inventory', readers: ['billing'] }));
    await put('regrant-key', { value: 'regrant-value-1' });
    const billing = await connect('billing', ['regrant-key']);
    await apply(secretDoc('regrant-key', { owner: 'inventory', readers: [] }));
    await waitFor('withdrawn', () =>
      throwsCode(() => billing.get('regrant-key'), 'SECRETS_ACCESS_WITHDRAWN'),
    );
    await apply(secretDoc('regrant-key', { owner: 'inventory', readers: ['billing'] }));
    const readable = () => {
      try {
        return billing.get('regrant-key').value === 'regrant-value-1';
      } catch {
        return false;
      }
    };
    await waitFor('granted again', readable);
    // The entry deleted and created again.
    expect((await admin('DELETE', `/v1/ca/entries/${entryIds.get('billing')}`)).status).toBe(204);
    await waitFor('entry gone', () =>
      throwsCode(() => billing.get('regrant-key'), 'SECRETS_ACCESS_WITHDRAWN'),
    );
    const r = await admin('POST', '/v1/ca/entries', {
      spiffeId: defaultSpiffeId(TD, 'default', 'billing'),
      node: 'worker-1',
      selectors: [`unix:uid:${WORKLOADS.billing.uid}`],
    });
    expect(r.status, r.text).toBe(201);
    entryIds.set('billing', r.body.id);
    await waitFor('registered again', readable);
  });

  it('the control plane restarts: workloads keep their value and the next change reaches them', async () => {
    await apply(
      secretDoc('restart-key', {
        owner: 'inventory',
        readers: ['orders'],
        type: 'random',
        rotation: { activation: '0s' },
      }),
    );
    const v1 = await rotate('restart-key');
    const orders = await connect('orders', ['restart-key']);
    const before = orders.get('restart-key');
    expect(before.version).toBe(v1);
    const port = Number(new URL(server.url).port);
    const disconnected = new Promise<void>((r) => agentA.bundles!.once('disconnected', () => r()));
    await server.close();
    await disconnected;
    expect(orders.get('restart-key')).toBe(before);
    server = await startControlPlane(port);
    const v2 = await rotate('restart-key');
    await waitFor('the rotation after the restart', () => orders.get('restart-key').version === v2);
    expect(orders.get('restart-key').value).not.toBe(before.value);
  });

  it('no value reaches the logs of the agents and SDK clients, the audit log or the history', async () => {
    expect(logged.length).toBeGreaterThan(10);
    expect(values.size).toBeGreaterThan(10);
    const audit = await admin('GET', '/v1/audit/export?format=json');
    expect(audit.status).toBe(200);
    // Deliveries to agents, writes and rotations are audited (by identity, without values).
    for (const action of ['secret.deliver', 'secret.write', 'secret.rotate', 'lease.revoke']) {
      if (action === 'lease.revoke' && !pgUp) continue;
      expect(audit.text).toContain(`"${action}"`);
    }
    const history = await admin('GET', '/v1/history?limit=100');
    expect(history.status, history.text).toBe(200);
    const all = [...logged, audit.text, history.text].join('\n');
    for (const v of values) {
      if (v.length < 8) continue;
      expect(all.includes(v), 'a value in the logs').toBe(false);
    }
  });
});
