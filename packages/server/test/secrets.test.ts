import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSpiffeId } from '@ward/spiffe';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { caPlugin, type RunningServer, secretsPlugin } from '../src/index.ts';
import { cleanupDirs, http, type SseEvent, startTestServer, tempDir, waitFor } from './helpers.ts';
import {
  applyServices,
  attestedAgent,
  deleteSecretDoc,
  putSecretDoc,
  token,
} from './secrets-fixture.ts';

afterAll(() => cleanupDirs());

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const kekText = (id: string, key = randomBytes(32)) => `${id}:${key.toString('base64url')}`;

async function start(
  opts: { dataDir?: string; kek?: string; clock?: { now: number }; ca?: boolean } = {},
) {
  const clock = opts.clock;
  const plugin = secretsPlugin({
    ...(clock ? { now: () => clock.now } : {}),
    rotationCheckMs: 3_600_000,
  });
  const server = await startTestServer({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    trustDomain: 'ward.test',
    env: opts.kek ? { WARD_SECRETS_KEK: opts.kek } : {},
    plugins: [...(opts.ca ? [caPlugin()] : []), plugin],
  });
  servers.push(server);
  return { server, base: server.url, plugin };
}

const SECRET_VALUE = 'hunter2-VERY-SECRET-4711';

describe('secrets API (SQLite)', () => {
  it('puts, reads, versions, activates, rolls back, rotates and deletes', async () => {
    const clock = { now: Date.now() };
    const { server, base } = await start({ clock, kek: kekText('a') });
    await applyServices(base, ['orders', 'inventory', 'billing']);
    await putSecretDoc(server, 'api-key', { owner: 'inventory', readers: ['orders', 'inventory'] });
    await putSecretDoc(server, 'session-key', {
      owner: 'inventory',
      readers: ['orders'],
      type: 'random',
      random: { length: 40, alphabet: 'hex' },
      rotation: { grace: '10m', activation: '1s' },
    });
    const team = await token(base, 'team', ['inventory']);
    const other = await token(base, 'team', ['billing']);
    const ordersPdp = await token(base, 'pdp', ['orders']);
    const billingPdp = await token(base, 'pdp', ['billing']);

    // Nothing yet: declared, no value.
    const empty = await http(base, 'GET', '/v1/secrets/api-key', { token: team });
    expect(empty.status, empty.text).toBe(200);
    expect(empty.body).toMatchObject({
      secret: 'api-key',
      owner: 'inventory',
      type: 'static',
      readers: ['inventory', 'orders'],
      currentVersion: null,
      versionCount: 0,
      rotation: { every: null, grace: '1h', activation: '5s' },
      activeLeases: 0,
      versions: [],
    });

    const v1 = await http(base, 'PUT', '/v1/secrets/api-key', {
      token: team,
      body: { data: { value: SECRET_VALUE } },
    });
    expect(v1.status, v1.text).toBe(200);
    expect(v1.body).toEqual({
      secret: 'api-key',
      version: 1,
      notBefore: new Date(clock.now).toISOString(),
    });
    clock.now += 1000;
    const v2 = await http(base, 'PUT', '/v1/secrets/api-key', {
      token: team,
      body: { data: { value: `${SECRET_VALUE}-2`, user: 'svc' } },
    });
    expect(v2.body).toMatchObject({
      version: 2,
      notBefore: new Date(clock.now + 5000).toISOString(),
    });
    let versions = await http(base, 'GET', '/v1/secrets/api-key/versions', { token: team });
    expect(versions.body.items.map((v: { state: string }) => v.state)).toEqual([
      'current',
      'pending',
    ]);
    expect(versions.body.items[0]).toMatchObject({
      version: 1,
      source: 'put',
      kek: 'a',
      createdBy: 'team-inventory',
      notAfter: new Date(clock.now + 5000 + 3_600_000).toISOString(),
    });
    // Pending: callers still get version 1.
    let value = await http(base, 'GET', '/v1/secrets/api-key/value', { token: team });
    expect(value.body).toMatchObject({ version: 1, data: { value: SECRET_VALUE } });
    expect(value.headers.get('cache-control')).toBe('no-store');
    clock.now += 5000;
    value = await http(base, 'GET', '/v1/secrets/api-key/value', { token: ordersPdp });
    expect(value.status, value.text).toBe(200);
    expect(value.body).toMatchObject({
      version: 2,
      data: { value: `${SECRET_VALUE}-2`, user: 'svc' },
    });
    versions = await http(base, 'GET', '/v1/secrets/api-key/versions', { token: team });
    expect(versions.body.items.map((v: { state: string }) => v.state)).toEqual([
      'previous',
      'current',
    ]);
    const old = await http(base, 'GET', '/v1/secrets/api-key/value?version=1', { token: team });
    expect(old.body).toMatchObject({ version: 1, data: { value: SECRET_VALUE } });

    // Rollback: a new version with version 1's value.
    const rb = await http(base, 'POST', '/v1/secrets/api-key/rollback', {
      token: team,
      body: { version: 1 },
    });
    expect(rb.status, rb.text).toBe(200);
    expect(rb.body).toMatchObject({ secret: 'api-key', version: 3, from: 1 });
    clock.now += 5000;
    value = await http(base, 'GET', '/v1/secrets/api-key/value', { token: team });
    expect(value.body).toMatchObject({ version: 3, data: { value: SECRET_VALUE } });
    expect(
      (
        await http(base, 'POST', '/v1/secrets/api-key/rollback', {
          token: team,
          body: { version: 9 },
        })
      ).body.code,
    ).toBe('SECRET_VERSION_NOT_FOUND');

    // Static secrets are not generated; random ones are.
    const rot = await http(base, 'POST', '/v1/secrets/api-key/rotate', { token: team });
    expect(rot.status).toBe(409);
    expect(rot.body.code).toBe('SECRET_NOT_GENERATED');
    const gen = await http(base, 'POST', '/v1/secrets/session-key/rotate', { token: team });
    expect(gen.status, gen.text).toBe(200);
    expect(gen.body.version).toBe(1);
    const genValue = await http(base, 'GET', '/v1/secrets/session-key/value', { token: ordersPdp });
    expect(genValue.body.data.value).toMatch(/^[0-9a-f]{40}$/);

    // Ownership: another team, a non-reader PDP.
    for (const [method, path, body] of [
      ['GET', '/v1/secrets/api-key', undefined],
      ['GET', '/v1/secrets/api-key/versions', undefined],
      ['GET', '/v1/secrets/api-key/value', undefined],
      ['PUT', '/v1/secrets/api-key', { data: { value: 'x' } }],
      ['POST', '/v1/secrets/api-key/rollback', { version: 1 }],
      ['DELETE', '/v1/secrets/api-key', undefined],
    ] as const) {
      const r = await http(base, method, path, { token: other, body });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.code).toBe('API_FORBIDDEN');
    }
    expect(
      (await http(base, 'GET', '/v1/secrets/api-key/value', { token: billingPdp })).status,
    ).toBe(403);
    // A pdp token reads values only.
    expect((await http(base, 'GET', '/v1/secrets/api-key', { token: ordersPdp })).status).toBe(403);
    // The list: what the caller owns.
    const list = await http(base, 'GET', '/v1/secrets', { token: team });
    expect(list.body.items.map((i: { secret: string }) => i.secret)).toEqual([
      'api-key',
      'session-key',
    ]);
    expect(list.body.items[0]).toMatchObject({ currentVersion: 3, versionCount: 3 });
    expect((await http(base, 'GET', '/v1/secrets', { token: other })).body.items).toEqual([]);

    // Undeclared and unknown secrets.
    const undeclared = await http(base, 'PUT', '/v1/secrets/nope', {
      body: { data: { value: 'x' } },
    });
    expect(undeclared.status).toBe(404);
    expect(undeclared.body.code).toBe('SECRET_NOT_FOUND');
    await putSecretDoc(server, 'later', { owner: 'billing' });
    await deleteSecretDoc(server, 'later');
    expect((await http(base, 'GET', '/v1/secrets/nope')).body.code).toBe('SECRET_NOT_FOUND');

    // Invalid values: the field is named, the value never echoed.
    const bad = await http(base, 'PUT', '/v1/secrets/api-key', {
      token: team,
      body: { data: { value: 5, 'bad name': SECRET_VALUE } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('SECRET_VALUE_INVALID');
    expect(bad.text).not.toContain(SECRET_VALUE);
    const big = await http(base, 'PUT', '/v1/secrets/api-key', {
      token: team,
      body: { data: { value: SECRET_VALUE.repeat(3000) } },
    });
    expect(big.status).toBe(400);
    expect(big.text).not.toContain(SECRET_VALUE);

    // Delete: every version destroyed; the value is gone.
    const del = await http(base, 'DELETE', '/v1/secrets/api-key', { token: team });
    expect(del.status, del.text).toBe(204);
    const after = await http(base, 'GET', '/v1/secrets/api-key/versions', { token: team });
    expect(after.body.items.map((v: { state: string }) => v.state)).toEqual([
      'destroyed',
      'destroyed',
      'destroyed',
    ]);
    const gone = await http(base, 'GET', '/v1/secrets/api-key/value', { token: team });
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('SECRET_VERSION_NOT_FOUND');
    // A new value after a delete is current at once.
    const again = await http(base, 'PUT', '/v1/secrets/api-key', {
      token: team,
      body: { data: { value: 'v4' } },
    });
    expect(again.body).toMatchObject({ version: 4, notBefore: new Date(clock.now).toISOString() });

    // Undeclared secret with values: admin only; writes refused.
    await deleteSecretDoc(server, 'api-key');
    const admin = await http(base, 'GET', '/v1/secrets/api-key');
    expect(admin.status).toBe(200);
    expect(admin.body.owner).toBeNull();
    expect((await http(base, 'GET', '/v1/secrets/api-key', { token: team })).status).toBe(403);
    const write = await http(base, 'PUT', '/v1/secrets/api-key', {
      body: { data: { value: 'x' } },
    });
    expect(write.status).toBe(404);
    expect(write.body.code).toBe('SECRET_NOT_DECLARED');
    expect(
      (await http(base, 'GET', '/v1/secrets')).body.items.map((i: { secret: string }) => i.secret),
    ).toEqual(['api-key', 'session-key']);

    // Every read and write is audited, with versions and never a value.
    const audit = await server.app.ward.db
      .selectFrom('audit_log')
      .select(['action', 'target', 'detail', 'actor_name'])
      .where('action', 'like', 'secret.%')
      .execute();
    const actions = audit.map((a) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'secret.write',
        'secret.read',
        'secret.rollback',
        'secret.rotate',
        'secret.delete',
      ]),
    );
    const read = audit.find((a) => a.action === 'secret.read' && a.actor_name === 'pdp-orders');
    expect(JSON.parse(read!.detail)).toMatchObject({ version: 2, via: 'token', scope: 'pdp' });
    // A workload reads only versions valid now (what its agent would hand it); owners read
    // the kept history.
    const gen2 = await http(base, 'POST', '/v1/secrets/session-key/rotate', { token: team });
    expect(gen2.body.version).toBe(2);
    const firstGen = '/v1/secrets/session-key/value?version=1';
    expect((await http(base, 'GET', firstGen, { token: ordersPdp })).status).toBe(200);
    clock.now += 11 * 60_000; // past activation (1 s) + grace (10 min)
    const expired = await http(base, 'GET', firstGen, { token: ordersPdp });
    expect(expired.status).toBe(404);
    expect(expired.body.code).toBe('SECRET_VERSION_NOT_FOUND');
    expect((await http(base, 'GET', firstGen, { token: team })).status).toBe(200);

    // The OpenAPI document lists the routes under the secrets tag.
    const doc = await http(base, 'GET', '/openapi.json', { token: null });
    expect(doc.body.paths['/v1/secrets/{secret}/value'].get.tags).toEqual(['secrets']);
    expect(Object.keys(doc.body.paths)).toContain('/v1/secrets/rewrap');
  });

  it('keeps the newest 10 values, and no value anywhere but the sealed rows', async () => {
    const dataDir = tempDir();
    const clock = { now: Date.now() };
    const { server, base } = await start({ clock, dataDir, kek: kekText('a') });
    await applyServices(base, ['inventory']);
    await putSecretDoc(server, 'db', { owner: 'inventory', readers: [] });
    for (let i = 1; i <= 12; i++) {
      const r = await http(base, 'PUT', '/v1/secrets/db', {
        body: { data: { value: `${SECRET_VALUE}-${i}` } },
      });
      expect(r.status).toBe(200);
      clock.now += 10_000;
    }
    const versions = await http(base, 'GET', '/v1/secrets/db/versions');
    expect(
      versions.body.items
        .filter((v: { state: string }) => v.state === 'destroyed')
        .map((v: { version: number }) => v.version),
    ).toEqual([1, 2]);
    expect((await http(base, 'GET', '/v1/secrets/db/value?version=2')).body.code).toBe(
      'SECRET_VERSION_NOT_FOUND',
    );
    expect((await http(base, 'GET', '/v1/secrets/db/value?version=3')).body.data.value).toBe(
      `${SECRET_VALUE}-3`,
    );

    // Audit, history and revisions name versions only.
    const history = await http(base, 'GET', '/v1/history?limit=100');
    const auditApi = await http(base, 'GET', '/v1/audit?limit=100');
    expect(history.status).toBe(200);
    expect(auditApi.status).toBe(200);
    expect(history.text + auditApi.text).not.toContain('hunter2');
    const revisions = await server.app.ward.db
      .selectFrom('revisions')
      .selectAll()
      .where('operation', '=', 'secret.put')
      .execute();
    expect(revisions).toHaveLength(12);
    expect(JSON.parse(revisions[0]!.secrets)).toEqual(['db']);
    expect(JSON.parse(revisions[0]!.services)).toEqual([]);
    await server.close();
    // At rest: no byte of the database (WAL included) holds a value.
    for (const f of readdirSync(dataDir)) {
      if (!f.startsWith('ward.db')) continue;
      const bytes = readFileSync(join(dataDir, f));
      expect(bytes.includes(Buffer.from('hunter2')), f).toBe(false);
    }
  });

  it('rotates the KEK: ring b,a reads and rewraps, then b alone reads; a missing KEK is 503', async () => {
    const dataDir = tempDir();
    const a = kekText('a');
    const b = kekText('b');
    let { server, base } = await start({ dataDir, kek: a });
    await applyServices(base, ['inventory']);
    await putSecretDoc(server, 'k', { owner: 'inventory' });
    for (let i = 0; i < 3; i++) {
      await http(base, 'PUT', '/v1/secrets/k', {
        body: { data: { value: `${SECRET_VALUE}${i}` } },
      });
    }
    await server.close();

    ({ server, base } = await start({ dataDir, kek: `${b},${a}` }));
    expect((await http(base, 'GET', '/v1/secrets/k/value?version=1')).body.data.value).toBe(
      `${SECRET_VALUE}0`,
    );
    // A new version is sealed under b at once.
    await http(base, 'PUT', '/v1/secrets/k', { body: { data: { value: 'under-b' } } });
    const team = await token(base, 'team', ['inventory']);
    expect((await http(base, 'POST', '/v1/secrets/rewrap', { token: team })).status).toBe(403);
    const rewrap = await http(base, 'POST', '/v1/secrets/rewrap');
    expect(rewrap.status, rewrap.text).toBe(200);
    expect(rewrap.body).toEqual({ rewrapped: 3, kek: 'b' });
    const kinds = (await http(base, 'GET', '/v1/secrets/k/versions')).body.items.map(
      (v: { kek: string }) => v.kek,
    );
    expect(kinds).toEqual(['b', 'b', 'b', 'b']);
    await server.close();

    ({ server, base } = await start({ dataDir, kek: b }));
    expect((await http(base, 'GET', '/v1/secrets/k/value?version=2')).body.data.value).toBe(
      `${SECRET_VALUE}1`,
    );
    await server.close();

    // Without b (another KEK, or none: the seal key's): 503, saying which KEK is missing.
    for (const kek of [kekText('c'), undefined, kekText('b')]) {
      ({ server, base } = await start({ dataDir, ...(kek ? { kek } : {}) }));
      const r = await http(base, 'GET', '/v1/secrets/k/value');
      expect(r.status, r.text).toBe(503);
      expect(r.body.code).toBe('SECRET_KEK_UNAVAILABLE');
      expect(r.text).not.toContain(SECRET_VALUE);
      // Metadata stays readable.
      expect((await http(base, 'GET', '/v1/secrets/k')).status).toBe(200);
      await server.close();
    }
  });

  it('refuses a malformed WARD_SECRETS_KEK at start without echoing it', async () => {
    const key = randomBytes(32).toString('base64url');
    await expect(start({ kek: key })).rejects.toMatchObject({ code: 'SERVER_CONFIG_INVALID' });
    await expect(start({ kek: key })).rejects.not.toThrow(key.slice(0, 20));
  });

  it('rotates scheduled secrets on the leader with the right timing', async () => {
    const clock = { now: Date.now() };
    const { server, base, plugin } = await start({ clock, kek: kekText('a') });
    await applyServices(base, ['inventory']);
    await putSecretDoc(server, 'signing', {
      owner: 'inventory',
      type: 'keypair',
      rotation: { every: '1h', grace: '10m', activation: '30s' },
    });
    // A static secret is never rotated on a schedule (the policy refuses `every` on it).
    await putSecretDoc(server, 'static', { owner: 'inventory', rotation: { grace: '10m' } });
    expect(await plugin.rotator!.runOnce()).toBe(1); // the first version at once
    const t1 = clock.now;
    clock.now += 30 * 60_000;
    expect(await plugin.rotator!.runOnce()).toBe(0);
    clock.now = t1 + 3_600_000;
    expect(await plugin.rotator!.runOnce()).toBe(1);
    const t2 = clock.now;
    const s = await http(base, 'GET', '/v1/secrets/signing');
    expect(s.body).toMatchObject({
      type: 'keypair',
      currentVersion: 1,
      rotation: { every: '1h', grace: '10m', activation: '30s' },
      nextRotationAt: new Date(t2 + 3_600_000).toISOString(),
    });
    expect(s.body.versions).toEqual([
      expect.objectContaining({
        version: 1,
        source: 'rotate',
        createdBy: 'rotation',
        notBefore: new Date(t1).toISOString(),
        notAfter: new Date(t2 + 30_000 + 600_000).toISOString(),
        state: 'current',
      }),
      expect.objectContaining({
        version: 2,
        source: 'rotate',
        notBefore: new Date(t2 + 30_000).toISOString(),
        notAfter: null,
        state: 'pending',
      }),
    ]);
    const value = await http(base, 'GET', '/v1/secrets/signing/value?version=2');
    expect(value.body.data.privateKey).toContain('BEGIN PRIVATE KEY');
    expect((await http(base, 'GET', '/v1/secrets/static')).body.versionCount).toBe(0);
  });
});

describe('secrets pushed to node agents', () => {
  const events = (c: { events: SseEvent[] }) =>
    c.events
      .filter((e) => e.event === 'secret')
      .map(
        (e) =>
          JSON.parse(e.data!) as {
            service: string;
            secret: string;
            revision: number;
            removed?: true;
            versions?: { version: number; data: Record<string, string> }[];
          },
      );

  it('sends each node its readers’ secrets, fans out changes, and withdraws them', async () => {
    const clock = { now: Date.now() };
    const { server, base } = await start({ clock, kek: kekText('a'), ca: true });
    await applyServices(base, ['orders', 'inventory', 'billing']);
    const id = (s: string) => defaultSpiffeId('ward.test', 'default', s);
    await putSecretDoc(server, 'api-key', { owner: 'inventory', readers: ['orders', 'inventory'] });
    await putSecretDoc(server, 'billing-key', { owner: 'billing', readers: ['billing'] });
    await putSecretDoc(server, 'db-login', {
      owner: 'orders',
      readers: ['orders'],
      type: 'postgres',
      postgres: { connection: 'pg-admin', grants: ['GRANT SELECT ON t TO {{name}}'] },
    });
    await http(base, 'PUT', '/v1/secrets/api-key', { body: { data: { value: SECRET_VALUE } } });
    await http(base, 'PUT', '/v1/secrets/billing-key', {
      body: { data: { value: 'billing-only' } },
    });

    const n1 = await attestedAgent(base, 'n1', [id('orders')]);
    const n2 = await attestedAgent(base, 'n2', [id('billing')]);
    const w1 = await n1.watch();
    const w2 = await n2.watch();
    try {
      // Snapshot: n1 runs orders, a reader of api-key and db-login (no versions: leased).
      await w1.next((e) => e.event === 'secret' && e.data!.includes('db-login'));
      await w1.next((e) => e.event === 'secret' && e.data!.includes('api-key'));
      await w2.next((e) => e.event === 'secret' && e.data!.includes('billing-key'));
      const snap = events(w1);
      expect(snap.map((e) => `${e.service}/${e.secret}`).sort()).toEqual([
        'orders/api-key',
        'orders/db-login',
      ]);
      const apiKey = snap.find((e) => e.secret === 'api-key')!;
      expect(apiKey).toMatchObject({ service: 'orders', spiffeId: id('orders'), type: 'static' });
      expect(apiKey.versions).toEqual([
        {
          version: 1,
          data: { value: SECRET_VALUE },
          notBefore: expect.any(Number),
          notAfter: null,
        },
      ]);
      expect(snap.find((e) => e.secret === 'db-login')).not.toHaveProperty('versions');
      expect(events(w2).map((e) => e.secret)).toEqual(['billing-key']);

      // A rotation (here a put) fans out to n1 only, with both valid versions.
      await http(base, 'PUT', '/v1/secrets/api-key', { body: { data: { value: 'second' } } });
      const second = await w1.next(
        (e) => e.event === 'secret' && e.data!.includes('"api-key"') && e.data!.includes('second'),
      );
      const ev = JSON.parse(second.data!);
      expect(ev.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
      expect(ev.revision).toBeGreaterThan(apiKey.revision);

      // Dropping orders as a reader: removed, at a newer revision.
      await putSecretDoc(server, 'api-key', { owner: 'inventory', readers: ['inventory'] });
      const removed = await w1.next(
        (e) => e.event === 'secret' && e.data!.includes('"removed":true'),
      );
      expect(JSON.parse(removed.data!)).toMatchObject({
        service: 'orders',
        secret: 'api-key',
        removed: true,
      });
      expect(JSON.parse(removed.data!)).not.toHaveProperty('versions');

      // Re-adding it sends it again; a delete withdraws it.
      await putSecretDoc(server, 'api-key', {
        owner: 'inventory',
        readers: ['inventory', 'orders'],
      });
      await waitFor(
        async () => events(w1).filter((e) => e.secret === 'api-key' && !e.removed).length >= 3,
      );
      await http(base, 'DELETE', '/v1/secrets/api-key');
      await waitFor(
        async () => events(w1).filter((e) => e.secret === 'api-key' && e.removed).length >= 2,
      );

      // Nothing of api-key or billing-key ever reached n2 beyond its own; nothing leaked to n1.
      expect(events(w2).map((e) => e.secret)).toEqual(['billing-key']);
      expect(events(w1).some((e) => e.secret === 'billing-key')).toBe(false);
      // Per (service, secret), revisions rise.
      const revs = events(w1)
        .filter((e) => e.secret === 'api-key')
        .map((e) => e.revision);
      expect([...revs].sort((x, y) => x - y)).toEqual(revs);
      expect(new Set(revs).size).toBe(revs.length);

      // Deliveries are audited without values.
      await waitFor(async () => {
        const rows = await server.app.ward.db
          .selectFrom('audit_log')
          .select('detail')
          .where('action', '=', 'secret.deliver')
          .execute();
        return rows.length >= 3;
      });
      const rows = await server.app.ward.db
        .selectFrom('audit_log')
        .select(['detail', 'target'])
        .where('action', '=', 'secret.deliver')
        .execute();
      expect(rows.map((r) => r.detail).join('')).not.toContain(SECRET_VALUE);
      expect(rows.some((r) => r.target === 'n1' && JSON.parse(r.detail).via === 'snapshot')).toBe(
        true,
      );
    } finally {
      w1.close();
      w2.close();
    }
  });

  it('withdraws and sends secrets as services leave and join the node', async () => {
    const { server, base } = await start({ kek: kekText('a'), ca: true });
    await applyServices(base, ['orders', 'inventory']);
    const id = (s: string) => defaultSpiffeId('ward.test', 'default', s);
    await putSecretDoc(server, 'inv-key', { owner: 'inventory', readers: ['inventory'] });
    await http(base, 'PUT', '/v1/secrets/inv-key', { body: { data: { value: 'inv' } } });
    const n1 = await attestedAgent(base, 'n1', [id('orders')]);
    const w = await n1.watch();
    try {
      await w.next((e) => e.event === 'bundle');
      const hub = server.app.ward.agentHub;
      const [watcher] = [...hub.watchers()];
      // inventory joins the node (as the CA sweep does when an entry is added).
      await hub.rescope(watcher!, new Map([...watcher!.scope, ['inventory', id('inventory')]]));
      await w.next((e) => e.event === 'secret' && e.data!.includes('inv-key'));
      // …and leaves.
      await hub.rescope(watcher!, new Map([['orders', id('orders')]]));
      const removed = await w.next(
        (e) => e.event === 'secret' && e.data!.includes('"removed":true'),
      );
      expect(JSON.parse(removed.data!)).toMatchObject({ service: 'inventory', secret: 'inv-key' });
    } finally {
      w.close();
    }
  });
});
