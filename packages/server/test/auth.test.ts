/** What each token scope may and may not do. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, intention, startTestServer, svc, yamlOf } from './helpers.ts';

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
  pdp = (await http(base, 'POST', '/v1/tokens', { body: { name: 'pdp-1', scope: 'pdp' } })).body
    .token;
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
    // A pdp token is bound to (at most) one service; admin and collector tokens own none.
    expect(
      (
        await http(base, 'POST', '/v1/tokens', {
          body: { name: 'x', scope: 'pdp', services: ['a', 'b'] },
        })
      ).status,
    ).toBe(400);
    for (const scope of ['admin', 'collector']) {
      expect(
        (
          await http(base, 'POST', '/v1/tokens', {
            body: { name: 'x', scope, services: ['a'] },
          })
        ).status,
      ).toBe(400);
    }
    const bound = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'x', scope: 'pdp', services: ['a'] },
    });
    expect(bound.status).toBe(201);
    expect(bound.body.services).toEqual(['a']);
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
  it('may read bundles, the revision and the key', async () => {
    expect((await http(base, 'GET', '/v1/bundles/mine', { token: pdp })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/revision', { token: pdp })).status).toBe(200);
    expect((await http(base, 'GET', '/v1/keys/bundle', { token: null })).status).toBe(200);
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
    const t = await http(base, 'POST', '/v1/tokens', { body: { name: 'temp', scope: 'pdp' } });
    expect((await http(base, 'GET', '/v1/revision', { token: t.body.token })).status).toBe(200);
    const r = await http(base, 'DELETE', `/v1/tokens/${t.body.id}`);
    expect(r.body.revokedAt).toBeTruthy();
    expect((await http(base, 'GET', '/v1/revision', { token: t.body.token })).status).toBe(401);
    const audit = await http(base, 'GET', '/v1/audit?limit=3');
    expect(audit.body.items[0]).toMatchObject({ action: 'token.revoke', target: t.body.id });
  });
});
