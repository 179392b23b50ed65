/** What each token scope may and may not do. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertToken } from '../src/auth/tokens.ts';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  http,
  intention,
  SseClient,
  startTestServer,
  svc,
  yamlOf,
} from './helpers.ts';

let server: RunningServer;
let base: string;
let team: string;
let pdp: string;
let admin2: string;
let teamId: string;

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  const seed = await http(base, 'POST', '/v1/apply', {
    body: {
      files: [
        {
          name: 'seed.yaml',
          content: yamlOf([svc('mine'), svc('theirs'), intention('theirs', 'theirs', ['mine'])]),
        },
      ],
    },
  });
  expect(seed.status).toBe(200);
  const t = await http(base, 'POST', '/v1/tokens', {
    body: { name: 'team-mine', scope: 'team', services: ['mine'] },
  });
  expect(t.status).toBe(201);
  team = t.body.token;
  teamId = t.body.id;
  pdp = (
    await http(base, 'POST', '/v1/tokens', {
      body: { name: 'pdp-1', scope: 'pdp', services: ['mine'] },
    })
  ).body.token;
  admin2 = (await http(base, 'POST', '/v1/tokens', { body: { name: 'ops', scope: 'admin' } })).body
    .token;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

describe('admin', () => {
  it('creates tokens shown once and lists them without secrets', async () => {
    const list = await http(base, 'GET', '/v1/tokens', { token: admin2 });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(team);
    expect(list.body.items.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['bootstrap-admin', 'team-mine', 'pdp-1', 'ops']),
    );
  });

  it('validates team ownership lists', async () => {
    expect(
      (await http(base, 'POST', '/v1/tokens', { body: { name: 'x', scope: 'team' } })).status,
    ).toBe(400);
    const create = async (body: object) =>
      (await http(base, 'POST', '/v1/tokens', { body })).status;
    expect(await create({ name: 'x', scope: 'admin', services: ['a'] })).toBe(400);
    expect(await create({ name: 'x', scope: 'collector', services: ['a'] })).toBe(400);
    expect(await create({ name: 'x', scope: 'collector' })).toBe(201);
  });

  it('binds a pdp token to exactly one service', async () => {
    const res = await http(base, 'POST', '/v1/tokens', { body: { name: 'x', scope: 'pdp' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'API_VALIDATION' });
    expect(res.body.errors[0].field).toBe('/services');
    const two = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'x', scope: 'pdp', services: ['mine', 'theirs'] },
    });
    expect(two.status).toBe(400);
    const one = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'x', scope: 'pdp', services: ['mine'] },
    });
    expect(one.status).toBe(201);
    expect(one.body.services).toEqual(['mine']);
  });
});

describe('team', () => {
  it('may change its own service and intentions on it', async () => {
    let res = await http(base, 'PUT', '/v1/services/mine', {
      token: team,
      body: svc('mine', { owner: 'team-mine' }),
    });
    expect(res.status).toBe(200);
    res = await http(base, 'POST', '/v1/intentions', {
      token: team,
      body: intention('mine-in', 'mine', ['theirs']),
    });
    expect(res.status).toBe(201);
    res = await http(base, 'POST', '/v1/apply', {
      token: team,
      body: {
        files: [
          {
            name: 'm.yaml',
            content: JSON.stringify(intention('mine-in', 'mine', ['theirs'], 'deny')),
          },
        ],
      },
    });
    expect(res.status).toBe(200);
    const audit = await http(base, 'GET', '/v1/audit?limit=5');
    expect(audit.body.items[0].actor).toEqual({ id: teamId, name: 'team-mine' });
  });

  it('may read documents and history', async () => {
    expect((await http(base, 'GET', '/v1/services', { token: team })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/intentions/theirs', { token: team })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/history', { token: team })).status).toBe(200);
  });

  it('may not touch other services, their intentions, or move an intention away', async () => {
    const refused = [
      await http(base, 'PUT', '/v1/services/theirs', {
        token: team,
        body: svc('theirs', { owner: 'x' }),
      }),
      await http(base, 'DELETE', '/v1/intentions/theirs', { token: team }),
      await http(base, 'POST', '/v1/intentions', {
        token: team,
        body: intention('sneaky', 'theirs', ['mine']),
      }),
      await http(base, 'PUT', '/v1/intentions/mine-in', {
        token: team,
        body: intention('mine-in', 'theirs', ['mine']),
      }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('API_FORBIDDEN');
      expect(res.body.errors[0].code).toBe('API_NOT_OWNER');
    }
    // A mixed apply is refused whole.
    const res = await http(base, 'POST', '/v1/apply', {
      token: team,
      body: {
        files: [
          { name: 'ok.yaml', content: JSON.stringify(svc('mine', { owner: 'changed' })) },
          { name: 'no.yaml', content: JSON.stringify(intention('theirs', 'theirs', ['*'])) },
        ],
      },
    });
    expect(res.status).toBe(403);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].file).toBe('no.yaml');
    expect((await http(base, 'GET', '/v1/services/mine')).body.document.spec.owner).toBe(
      'team-mine',
    );
  });

  it('may not read bundles, the audit log, tokens, or rotate keys', async () => {
    for (const [method, path] of [
      ['GET', '/v1/bundles/mine'],
      ['GET', '/v1/watch'],
      ['GET', '/v1/audit'],
      ['GET', '/v1/tokens'],
      ['POST', '/v1/passport-keys/rotate'],
    ] as const) {
      const res = await http(base, method, path, {
        token: team,
        ...(method === 'POST' ? { body: {} } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(
      (await http(base, 'POST', '/v1/tokens', { token: team, body: { name: 'x', scope: 'admin' } }))
        .status,
    ).toBe(403);
  });
});

describe('pdp', () => {
  it('may read its own bundle, the revision and the key', async () => {
    expect((await http(base, 'GET', '/v1/bundles/mine', { token: pdp })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/revision', { token: pdp })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/keys/bundle', { token: null })).status).toBe(200);
  });

  // Attack (issue 9): one service's pdp token read every other service's bundle, passport keys
  // included.
  it("may not read another service's bundle, nor learn which services exist", async () => {
    const other = await http(base, 'GET', '/v1/bundles/theirs', { token: pdp });
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ code: 'API_FORBIDDEN' });
    expect(other.body.errors[0].field).toBe('params.service');
    expect(other.text).not.toContain('passport');
    expect((await http(base, 'GET', '/v1/bundles/nosuch', { token: pdp })).status).toBe(403);
    // Admin keeps full read.
    expect((await http(base, 'GET', '/v1/bundles/theirs')).status).toBe(200);
  });

  it("may watch only its own service's stream", async () => {
    const own = await SseClient.open(`${base}/v1/watch?service=mine`, pdp);
    expect(own.status).toBe(200);
    own.close();
    for (const query of ['?service=theirs', '']) {
      const res = await SseClient.open(`${base}/v1/watch${query}`, pdp);
      expect(res.status, query).toBe(403);
      res.close();
    }
    const pushed = await http(base, 'GET', '/v1/watch?service=theirs', {
      token: pdp,
      headers: { 'ward-watch-include': 'bundle' },
    });
    expect(pushed.status).toBe(403);
    expect(pushed.body).toMatchObject({ code: 'API_FORBIDDEN' });
  });

  it('an unbound pdp token from before binding (a migrated database) reads nothing', async () => {
    const legacy = 'ward_legacy-unbound-pdp-token-0123456789';
    await insertToken(server.app.ward.db, legacy, {
      name: 'legacy',
      scope: 'pdp',
      createdBy: 'test',
    });
    for (const path of ['/v1/bundles/mine', '/v1/bundles/theirs']) {
      const res = await http(base, 'GET', path, { token: legacy });
      expect(res.status, path).toBe(403);
    }
    const watch = await SseClient.open(`${base}/v1/watch?service=mine`, legacy);
    expect(watch.status).toBe(403);
    watch.close();
  });

  it('may not read or change documents', async () => {
    expect((await http(base, 'GET', '/v1/services', { token: pdp })).status).toBe(403);
    expect((await http(base, 'POST', '/v1/services', { token: pdp, body: svc('x') })).status).toBe(
      403,
    );
    expect(
      (
        await http(base, 'POST', '/v1/apply', {
          token: pdp,
          body: { files: [{ name: 'a', content: '' }] },
        })
      ).status,
    ).toBe(403);
    expect((await http(base, 'GET', '/v1/history', { token: pdp })).status).toBe(403);
  });
});

describe('revocation', () => {
  it('a revoked token stops working at once on this replica', async () => {
    const t = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'temp', scope: 'pdp', services: ['mine'] },
    });
    expect((await http(base, 'GET', '/v1/revision', { token: t.body.token })).status).toBe(200);
    const r = await http(base, 'DELETE', `/v1/tokens/${t.body.id}`);
    expect(r.body.revokedAt).toBeTruthy();
    expect((await http(base, 'GET', '/v1/revision', { token: t.body.token })).status).toBe(401);
    const audit = await http(base, 'GET', '/v1/audit?limit=3');
    expect(audit.body.items[0]).toMatchObject({ action: 'token.revoke', target: t.body.id });
  });

  // Attack (issue 9): a revoked token's open watch stream stayed open and kept receiving bundles.
  it("ends the revoked token's open watch streams at once, and only those", async () => {
    const mk = async (name: string) =>
      (
        await http(base, 'POST', '/v1/tokens', {
          body: { name, scope: 'pdp', services: ['mine'] },
        })
      ).body as { token: string; id: string };
    const leaked = await mk('leaked');
    const kept = await mk('kept');
    const push = { 'ward-watch-include': 'bundle' };
    const a = await SseClient.open(`${base}/v1/watch?service=mine`, leaked.token, push);
    const b = await SseClient.open(`${base}/v1/watch?service=mine`, leaked.token);
    const c = await SseClient.open(`${base}/v1/watch?service=mine`, kept.token, push);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    await Promise.all([a, b, c].map((s) => s.next((e) => e.comment === 'connected')));
    expect((await http(base, 'DELETE', `/v1/tokens/${leaked.id}`)).status).toBe(200);
    await Promise.all([a.ended, b.ended]);
    // The other token's stream lives on and still gets the next change.
    const seen = a.events.length;
    const change = await http(base, 'PUT', '/v1/services/mine', {
      body: svc('mine', { owner: 'after-revoke' }),
    });
    expect(change.status).toBe(200);
    await c.next((e) => e.event === 'bundle' && Number(e.id) >= change.body.revision);
    expect(a.events.length).toBe(seen);
    expect(a.events.some((e) => e.event === 'bundle')).toBe(false);
    c.close();
  });
});
