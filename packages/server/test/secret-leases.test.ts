/**
 * Dynamic PostgreSQL credentials against the real PostgreSQL on 127.0.0.1:5432: a lease gives
 * a login that reads the granted table; renewal moves VALID UNTIL (never past maxExpiresAt);
 * revocation (by the agent, the owner, an identity revocation, the reaper) drops the role and
 * ends its open sessions. Routes run on a real control plane with the CA plugin and attested
 * agents signing `x-ward-agent-proof`. Secret documents are rows written straight into the
 * documents table (the Secret kind's plumbing lands elsewhere).
 *
 * The test PostgreSQL authenticates 127.0.0.1 by `trust` (pg_hba.conf), which accepts any
 * password: the tests prove the password by checking it against the role's SCRAM verifier in
 * pg_authid, and prove "the login stops working" by the role being gone (and NOLOGIN'd first),
 * its open session terminated, and `rolvaliduntil` in the past once expired.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createCsr, generateKeyPair, signAgentProof } from '@ward/ca';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caPlugin, type RunningServer } from '../src/index.ts';
import { type LeaseSecretInfo, leaseRoutes } from '../src/secrets/lease-routes.ts';
import { leaseMigrations } from '../src/secrets/lease-tables.ts';
import { LeaseManager } from '../src/secrets/leases.ts';
import { PostgresEngine } from '../src/secrets/postgres-engine.ts';
import {
  cleanupDirs,
  createPgSchema,
  FILE,
  http,
  PG_URL,
  pgAvailable,
  type Res,
  startTestServer,
  svc,
  yamlOf,
} from './helpers.ts';

const TD = 'leases.test';
const ORDERS = `spiffe://${TD}/ns/default/sa/orders`;
const BILLING = `spiffe://${TD}/ns/default/sa/billing`;
const HOUR = 3_600_000;
const available = await pgAvailable('secret-leases.test.ts');

interface Agent {
  spiffeId: string;
  /** `signedPath`: the path the proof is bound to (default `path`). */
  call(method: string, path: string, body?: unknown, signedPath?: string): Promise<Res>;
}

async function attest(url: string, node: string): Promise<Agent> {
  const { body } = await http(url, 'POST', '/v1/ca/join-tokens', { body: { node } });
  const keys = await generateKeyPair();
  const reply = await http(url, 'POST', '/v1/agent/attest', {
    token: null,
    body: { joinToken: body.token, csr: await createCsr(keys) },
  });
  expect(reply.status).toBe(200);
  return {
    spiffeId: reply.body.spiffeId,
    async call(method, path, payload, signedPath = path) {
      const proof = await signAgentProof({
        privateKey: keys.privateKey,
        chainPem: reply.body.chain,
        spiffeId: reply.body.spiffeId,
        method,
        path: signedPath,
      });
      return http(url, method, path, {
        token: null,
        headers: { 'x-ward-agent-proof': proof },
        ...(payload === undefined ? {} : { body: payload }),
      });
    },
  };
}

/** Whether `password` is the one whose SCRAM-SHA-256 verifier PostgreSQL stored. */
function scramMatches(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2]!, 'base64'), Number(m[1]), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return createHash('sha256').update(clientKey).digest('base64') === m[3];
}

describe.runIf(available).each([{ store: 'sqlite' as const }, { store: 'postgres' as const }])(
  'dynamic PostgreSQL credentials (leases; store on $store)',
  ({ store }) => {
    let dropStore: (() => Promise<void>) | undefined;
    const dbName = `ward_leases_${randomBytes(5).toString('hex')}`;
    const adminUrl = `postgres://postgres@127.0.0.1:5432/${dbName}`;
    let admin: pg.Client;
    let server: RunningServer;
    let engine: PostgresEngine;
    let manager: LeaseManager;
    let a: Agent;
    let b: Agent;
    const secrets = new Map<string, LeaseSecretInfo>();
    const urls = new Map<string, string>();
    const roles = new Set<string>();
    const openClients: pg.Client[] = [];

    const pgSettings = (grants: string[], ttlMs = HOUR, maxTtlMs = 24 * HOUR) => ({
      connectionKey: 'pg-admin',
      ttlMs,
      maxTtlMs,
      grants,
    });
    const roleRow = async (role: string) =>
      (
        await admin.query(
          'SELECT rolname, rolcanlogin, rolvaliduntil, rolpassword FROM pg_authid WHERE rolname = $1',
          [role],
        )
      ).rows[0] as
        | { rolname: string; rolcanlogin: boolean; rolvaliduntil: Date; rolpassword: string }
        | undefined;
    const loginAs = async (data: Record<string, string>) => {
      const c = new pg.Client({ connectionString: data.url });
      c.on('error', () => {});
      await c.connect();
      openClients.push(c);
      return c;
    };

    beforeAll(async () => {
      const root = new pg.Client({ connectionString: PG_URL });
      await root.connect();
      await root.query(`CREATE DATABASE ${dbName}`);
      await root.end();
      admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await admin.query("INSERT INTO items VALUES (1, 'widget')");
      await admin.query('CREATE TABLE private (x int)');
      urls.set('pg-admin', adminUrl);
      const grants = [
        `GRANT CONNECT ON DATABASE ${dbName} TO {{name}}`,
        'GRANT USAGE ON SCHEMA public TO {{name}}',
        'GRANT SELECT ON items TO {{name}}',
      ];
      secrets.set('orders-db', {
        owner: 'orders',
        readers: ['orders'],
        type: 'postgres',
        postgres: pgSettings(grants),
      });
      secrets.set('bad-grants', {
        owner: 'orders',
        readers: ['orders'],
        type: 'postgres',
        postgres: pgSettings(['GRANT SELECT ON no_such_table TO {{name}}']),
      });
      secrets.set('api-key', { owner: 'orders', readers: ['orders'], type: 'random' });

      engine = new PostgresEngine();
      const connectionUrl = async (key: string) => {
        const u = urls.get(key);
        if (!u) throw new Error(`no connection ${key}`);
        return u;
      };
      let database: string | undefined;
      if (store === 'postgres') {
        const schema = await createPgSchema();
        database = schema.url;
        dropStore = schema.drop;
      }
      server = await startTestServer({
        trustDomain: TD,
        ...(database ? { database } : {}),
        plugins: [
          caPlugin(),
          {
            name: 'leases-test',
            migrations: leaseMigrations(),
            async register(app) {
              manager = new LeaseManager({ db: app.ward.db, engine, connectionUrl });
              // The resolve reads the Secret document row, as the integrated server will.
              const resolve = async (key: string) => {
                const row = await app.ward.db
                  .selectFrom('documents')
                  .select('body')
                  .where('kind', '=', 'Secret')
                  .where('name', '=', key)
                  .executeTakeFirst();
                if (!row) return undefined;
                return secrets.get(
                  (JSON.parse(row.body) as { metadata: { name: string } }).metadata.name,
                );
              };
              leaseRoutes(app, { leases: manager, resolve, connectionUrl });
            },
            close: () => engine.close(),
          },
        ],
      });
      const applied = await http(
        server.url,
        'POST',
        '/v1/apply',
        FILE(yamlOf([svc('orders'), svc('billing')])),
      );
      expect(applied.status).toBe(200);
      for (const [name, s] of secrets) {
        await server.app.ward.db
          .insertInto('documents')
          .values({
            kind: 'Secret',
            name,
            destination: s.owner,
            body: JSON.stringify({
              apiVersion: 'ward.dev/v1',
              kind: 'Secret',
              metadata: { name },
              spec: { owner: s.owner, readers: s.readers, type: s.type },
            }),
            created_revision: 1,
            updated_revision: 1,
            updated_at: new Date().toISOString(),
            updated_by: 'test',
          })
          .execute();
      }
      for (const [spiffeId, node] of [
        [ORDERS, 'node-a'],
        [BILLING, 'node-b'],
      ]) {
        const r = await http(server.url, 'POST', '/v1/ca/entries', {
          body: { spiffeId, node, selectors: ['unix:uid:1000'] },
        });
        expect(r.status).toBe(201);
      }
      a = await attest(server.url, 'node-a');
      b = await attest(server.url, 'node-b');
    });

    afterAll(async () => {
      for (const c of openClients) await c.end().catch(() => {});
      await server?.close();
      cleanupDirs();
      await dropStore?.();
      await admin?.end();
      const root = new pg.Client({ connectionString: PG_URL });
      await root.connect();
      await root.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      for (const role of roles) await root.query(`DROP ROLE IF EXISTS "${role}"`);
      await root.end();
    });

    const lease = async (agent: Agent, body: { service: string; secret: string }) => {
      const r = await agent.call('POST', '/v1/agent/leases', body);
      if (r.status === 201) roles.add(r.body.data.username);
      return r;
    };

    it('gives a working login: reads the granted table, nothing else; password is the stored one', async () => {
      const r = await lease(a, { service: 'orders', secret: 'orders-db' });
      expect(r.status).toBe(201);
      expect(r.headers.get('cache-control')).toBe('no-store');
      const { data, expiresAt, maxExpiresAt } = r.body;
      expect(data.username).toMatch(/^ward_orders_[a-z0-9]+_[0-9a-f]{16}$/);
      expect(data).toMatchObject({ host: '127.0.0.1', port: '5432', database: dbName });
      expect(maxExpiresAt - expiresAt).toBe(23 * HOUR);
      const row = await roleRow(data.username);
      expect(row?.rolcanlogin).toBe(true);
      expect(row?.rolvaliduntil.getTime()).toBe(expiresAt);
      expect(row?.rolpassword.startsWith('SCRAM-SHA-256$')).toBe(true);
      expect(scramMatches(row!.rolpassword, data.password)).toBe(true);
      expect(scramMatches(row!.rolpassword, `${data.password}x`)).toBe(false);

      const c = await loginAs(data);
      expect((await c.query('SELECT current_user AS u, name FROM items')).rows).toEqual([
        { u: data.username, name: 'widget' },
      ]);
      await expect(c.query('SELECT * FROM private')).rejects.toMatchObject({ code: '42501' });

      // The credential is nowhere but in the answer: not in the lease table, not in the audit.
      const stored = JSON.stringify(
        await server.app.ward.db.selectFrom('audit_log').selectAll().execute(),
      );
      expect(stored).toContain('lease.create');
      expect(stored).not.toContain(data.password);
      const leaseRows = JSON.stringify(
        await server.app.ward.db
          .selectFrom('secret_leases' as never)
          .selectAll()
          .execute(),
      );
      expect(leaseRows).toContain(data.username);
      expect(leaseRows).not.toContain(data.password);
    });

    it("revocation by its agent drops the role and terminates the role's open session", async () => {
      const r = await lease(a, { service: 'orders', secret: 'orders-db' });
      const c = await loginAs(r.body.data);
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // Another agent may neither renew nor give it back.
      expect((await b.call('POST', `/v1/agent/leases/${r.body.id}/renew`)).status).toBe(404);
      expect((await b.call('DELETE', `/v1/agent/leases/${r.body.id}`)).status).toBe(404);
      expect(await roleRow(r.body.data.username)).toBeDefined();

      const del = await a.call('DELETE', `/v1/agent/leases/${r.body.id}`);
      expect(del.status).toBe(204);
      expect(await roleRow(r.body.data.username)).toBeUndefined();
      await expect(c.query('SELECT 1')).rejects.toThrow();
      const fresh = new pg.Client({ connectionString: r.body.data.url });
      await expect(fresh.connect()).rejects.toMatchObject({ code: '28000' });
      await fresh.end().catch(() => {});
      // Idempotent; then unknown to renewal.
      expect((await a.call('DELETE', `/v1/agent/leases/${r.body.id}`)).status).toBe(204);
      const renew = await a.call('POST', `/v1/agent/leases/${r.body.id}/renew`);
      expect(renew.status).toBe(404);
      expect(renew.body.code).toBe('LEASE_NOT_FOUND');
      const info = await manager.get(r.body.id);
      expect(info).toMatchObject({ revokeReason: 'released by its agent' });
      expect(info?.revokedAt).not.toBeNull();
    });

    it('refuses a service not on the agent node, a non-reader, a non-postgres secret, no proof', async () => {
      let r = await lease(b, { service: 'orders', secret: 'orders-db' });
      expect(r.status).toBe(403);
      r = await lease(b, { service: 'billing', secret: 'orders-db' });
      expect(r.status).toBe(403);
      r = await lease(b, { service: 'billing', secret: 'no-such-secret' });
      expect(r.status).toBe(403);
      r = await lease(a, { service: 'orders', secret: 'api-key' });
      expect(r.status).toBe(409);
      r = await http(server.url, 'POST', '/v1/agent/leases', {
        token: null,
        body: { service: 'orders', secret: 'orders-db' },
      });
      expect(r.status).toBe(401);
      // A proof for another path does not authenticate this one.
      const taken = await lease(a, { service: 'orders', secret: 'orders-db' });
      const wrong = await a.call(
        'POST',
        `/v1/agent/leases/${taken.body.id}/renew`,
        undefined,
        '/v1/agent/leases',
      );
      expect(wrong.status).toBe(401);
      const wrongDelete = await a.call(
        'DELETE',
        `/v1/agent/leases/${taken.body.id}`,
        undefined,
        `/v1/agent/leases/${taken.body.id}/renew`,
      );
      expect(wrongDelete.status).toBe(401);
      expect((await a.call('DELETE', `/v1/agent/leases/${taken.body.id}`)).status).toBe(204);
    });

    it('a failing grant leaves no role behind (one transaction) and answers 502', async () => {
      const before = await admin.query(
        "SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'ward_orders_%'",
      );
      const r = await lease(a, { service: 'orders', secret: 'bad-grants' });
      expect(r.status).toBe(502);
      expect(r.body.code).toBe('LEASE_BACKEND_FAILED');
      expect(r.body.detail).toContain('42P01');
      const after = await admin.query(
        "SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE 'ward_orders_%'",
      );
      expect(after.rows[0].n).toBe(before.rows[0].n);
    });

    it('renewal moves VALID UNTIL by the ttl, never past maxExpiresAt', async () => {
      let now = Date.now();
      const clocked = new LeaseManager({
        db: server.app.ward.db,
        engine,
        connectionUrl: async () => adminUrl,
        now: () => now,
      });
      const l = await clocked.create({
        secret: 'orders-db',
        service: 'orders',
        agentId: a.spiffeId,
        node: 'node-a',
        settings: {
          ...pgSettings(['GRANT SELECT ON items TO {{name}}'], HOUR, 90 * 60_000),
          connectionUrl: adminUrl,
        },
      });
      roles.add(l.data.username!);
      now += 20 * 60_000;
      const first = await clocked.renew(l.id, a.spiffeId);
      expect(first.expiresAt).toBe(now + HOUR);
      expect((await roleRow(l.data.username!))?.rolvaliduntil.getTime()).toBe(now + HOUR);
      now += 50 * 60_000;
      const second = await clocked.renew(l.id, a.spiffeId);
      expect(second.expiresAt).toBe(l.maxExpiresAt);
      expect((await roleRow(l.data.username!))?.rolvaliduntil.getTime()).toBe(l.maxExpiresAt);
      await expect(clocked.renew(l.id, b.spiffeId)).rejects.toMatchObject({
        code: 'LEASE_NOT_FOUND',
      });
      // Through the route (real clock) too: the answer is the row's expiry.
      const viaRoute = await lease(a, { service: 'orders', secret: 'orders-db' });
      const renewed = await a.call('POST', `/v1/agent/leases/${viaRoute.body.id}/renew`);
      expect(renewed.status).toBe(200);
      expect(renewed.body.expiresAt).toBeGreaterThanOrEqual(viaRoute.body.expiresAt);
      expect(renewed.body.expiresAt).toBeLessThanOrEqual(viaRoute.body.maxExpiresAt);
    });

    it('expiry: VALID UNTIL passes, renewal is refused, the reaper drops the role and its session', async () => {
      const past = Date.now() - 10 * 60_000;
      let now = past;
      const clocked = new LeaseManager({
        db: server.app.ward.db,
        engine,
        connectionUrl: async () => adminUrl,
        now: () => now,
      });
      const l = await clocked.create({
        secret: 'orders-db',
        service: 'orders',
        agentId: a.spiffeId,
        node: 'node-a',
        settings: {
          ...pgSettings([`GRANT CONNECT ON DATABASE ${dbName} TO {{name}}`], 60_000, 120_000),
          connectionUrl: adminUrl,
        },
      });
      roles.add(l.data.username!);
      const expired = await admin.query(
        'SELECT rolvaliduntil < now() AS past FROM pg_roles WHERE rolname = $1',
        [l.data.username],
      );
      expect(expired.rows).toEqual([{ past: true }]);
      const c = await loginAs(l.data); // trust auth: VALID UNTIL binds password logins only
      now = Date.now();
      await expect(clocked.renew(l.id, a.spiffeId)).rejects.toMatchObject({
        code: 'LEASE_NOT_FOUND',
      });
      const { revoked, failed } = await clocked.reap(now);
      expect(failed).toEqual([]);
      expect(revoked).toBeGreaterThanOrEqual(1);
      expect(await roleRow(l.data.username!)).toBeUndefined();
      await expect(c.query('SELECT 1')).rejects.toThrow();
      expect(await clocked.get(l.id)).toMatchObject({ revokeReason: 'expired' });
      expect(await manager.activeCount('orders-db')).toBeGreaterThan(0); // the unexpired ones stay
    });

    it('the reaper leaves a lease whose revocation failed for a minute and reaps the others', async () => {
      const past = Date.now() - 10 * 60_000;
      let now = past;
      let broken = true;
      const asked: string[] = [];
      const clocked = new LeaseManager({
        db: server.app.ward.db,
        engine,
        // The connection secret of lease `stuck` cannot be read while `broken`.
        connectionUrl: async (key) => {
          asked.push(key);
          if (key === 'pg-broken' && broken) throw new Error('connection secret unreadable');
          return adminUrl;
        },
        now: () => now,
      });
      const make = async (connectionKey: string) => {
        const l = await clocked.create({
          secret: 'orders-db',
          service: 'orders',
          agentId: a.spiffeId,
          node: 'node-a',
          settings: {
            ...pgSettings([`GRANT CONNECT ON DATABASE ${dbName} TO {{name}}`], 60_000, 120_000),
            connectionKey,
            connectionUrl: adminUrl,
          },
        });
        roles.add(l.data.username!);
        return l;
      };
      const stuck = await make('pg-broken');
      const fine = await make('pg-admin');
      now = Date.now();
      const first = await clocked.reap(now);
      expect(first.failed).toHaveLength(1);
      expect(first.failed[0]).toContain(stuck.id);
      expect(await roleRow(fine.data.username!)).toBeUndefined();
      // Within the minute the failed lease is not tried again…
      asked.length = 0;
      await clocked.reap(now + 1000);
      expect(asked).not.toContain('pg-broken');
      // …after it, it is, and once the connection reads it is revoked.
      broken = false;
      const later = await clocked.reap(now + 61_000);
      expect(later.failed).toEqual([]);
      expect(await roleRow(stuck.data.username!)).toBeUndefined();
      expect(await clocked.get(stuck.id)).toMatchObject({ revokeReason: 'expired' });
    });

    it('revokeWhere by agent revokes all that agent holds and nothing else', async () => {
      const mine = [
        await lease(a, { service: 'orders', secret: 'orders-db' }),
        await lease(a, { service: 'orders', secret: 'orders-db' }),
      ];
      const other = await manager.create({
        secret: 'orders-db',
        service: 'orders',
        agentId: 'spiffe://leases.test/agent/other',
        node: 'node-z',
        settings: { ...pgSettings([]), connectionUrl: adminUrl },
      });
      roles.add(other.data.username!);
      const n = await manager.revokeWhere({ agentId: a.spiffeId }, 'agent revoked');
      expect(n).toBeGreaterThanOrEqual(2);
      for (const m of mine) expect(await roleRow(m.body.data.username)).toBeUndefined();
      expect(await roleRow(other.data.username!)).toBeDefined();
      expect((await manager.get(other.id))?.revokedAt).toBeNull();
      expect(await manager.revokeWhere({ agentId: a.spiffeId }, 'again')).toBe(0);
      await manager.revoke(other.id, 'test cleanup');
      expect(await roleRow(other.data.username!)).toBeUndefined();
    });

    it("owner routes: list the secret's leases (no credential), revoke one; others refused", async () => {
      const l = await lease(a, { service: 'orders', secret: 'orders-db' });
      const mint = async (services: string[]) =>
        (
          await http(server.url, 'POST', '/v1/tokens', {
            body: { name: `t-${services[0]}`, scope: 'team', services },
          })
        ).body.token as string;
      const owner = await mint(['orders']);
      const stranger = await mint(['billing']);

      const listed = await http(server.url, 'GET', '/v1/secrets/orders-db/leases', {
        token: owner,
      });
      expect(listed.status).toBe(200);
      const item = listed.body.items.find((i: { id: string }) => i.id === l.body.id);
      expect(item).toMatchObject({
        secret: 'orders-db',
        service: 'orders',
        node: 'node-a',
        agent: a.spiffeId,
        role: l.body.data.username,
        revokedAt: null,
      });
      expect(listed.text).not.toContain(l.body.data.password);
      expect(
        (await http(server.url, 'GET', '/v1/secrets/orders-db/leases', { token: stranger })).status,
      ).toBe(403);
      expect(
        (await http(server.url, 'GET', '/v1/secrets/undeclared/leases', { token: owner })).status,
      ).toBe(403);
      expect((await http(server.url, 'GET', '/v1/secrets/undeclared/leases')).body).toEqual({
        items: [],
      });

      expect(
        (await http(server.url, 'DELETE', `/v1/leases/${l.body.id}`, { token: stranger })).status,
      ).toBe(403);
      expect(await roleRow(l.body.data.username)).toBeDefined();
      expect(
        (await http(server.url, 'DELETE', `/v1/leases/${l.body.id}`, { token: owner })).status,
      ).toBe(204);
      expect(await roleRow(l.body.data.username)).toBeUndefined();
      const missing = await http(server.url, 'DELETE', '/v1/leases/lease_nope');
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('LEASE_NOT_FOUND');
    });
  },
);
