/**
 * Namespaces in the control plane, against a real server on loopback (SQLite, and PostgreSQL
 * where it answers): documents keyed `namespace/name`, keys in URLs (percent-encoded), team tokens
 * that own whole namespaces, and what a token for `team-b` may NOT do in `team-a`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, SseClient, type SseEvent } from './helpers.ts';
import {
  applyDocs,
  type Backend,
  type IngestServer,
  ingestSuite,
  postBatch,
  rec,
  startIngestServer,
} from './ingest-fixture.ts';

const backends = await ingestSuite('namespaces.test.ts');

const service = (name: string, namespace: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec,
});
const intent = (
  name: string,
  namespace: string,
  destination: string,
  sources: string[],
  mode: 'enforce' | 'dry-run' = 'enforce',
) => ({
  apiVersion: 'ward.dev/v1',
  kind: 'Intention',
  metadata: { name, namespace },
  spec: { destination, mode, rules: [{ sources, action: 'allow' }] },
});
const yaml = (docs: object[]) => ({
  body: {
    files: [{ name: 'ns.yaml', content: docs.map((d) => JSON.stringify(d)).join('\n---\n') }],
  },
});

/** Two teams, each with a `payments` and an intention named `payments-in` on it. */
const WORLD = [
  service('payments', 'team-a'),
  service('checkout', 'team-a'),
  service('payments', 'team-b'),
  service('checkout', 'team-b'),
  service('orders', 'default'),
  intent('payments-in', 'team-a', 'payments', ['checkout'], 'dry-run'),
  intent('payments-in', 'team-b', 'payments', ['checkout'], 'dry-run'),
];

describe.each(backends)('namespaces ($name)', (backend: Backend) => {
  let s: IngestServer;
  let teamB = '';
  let teamA = '';
  let explicitA = '';

  beforeAll(async () => {
    s = await startIngestServer(backend);
    await applyDocs(s.url, WORLD);
    const made = await http(s.url, 'POST', '/v1/tokens', {
      body: { name: 'team-b', scope: 'team', namespaces: ['team-b'] },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ scope: 'team', services: [], namespaces: ['team-b'] });
    teamB = made.body.token;
    teamA = (
      await http(s.url, 'POST', '/v1/tokens', {
        body: { name: 'team-a', scope: 'team', namespaces: ['team-a'] },
      })
    ).body.token;
    explicitA = (
      await http(s.url, 'POST', '/v1/tokens', {
        body: { name: 'a-payments', scope: 'team', services: ['team-a/payments'] },
      })
    ).body.token;
  });
  afterAll(async () => {
    await s.close();
  });

  it('keeps team-a/payments and team-b/payments (and their intentions) as distinct rows', async () => {
    const services = await http(s.url, 'GET', '/v1/services');
    expect(services.status).toBe(200);
    expect(
      services.body.items.map((d: { name: string; namespace: string }) => [d.name, d.namespace]),
    ).toEqual([
      ['orders', 'default'],
      ['team-a/checkout', 'team-a'],
      ['team-a/payments', 'team-a'],
      ['team-b/checkout', 'team-b'],
      ['team-b/payments', 'team-b'],
    ]);
    const intentions = await http(s.url, 'GET', '/v1/intentions');
    expect(intentions.body.items.map((d: { name: string }) => d.name)).toEqual([
      'team-a/payments-in',
      'team-b/payments-in',
    ]);
  });

  it('takes a percent-encoded key in the path, and default/x as x', async () => {
    const a = await http(s.url, 'GET', '/v1/services/team-a%2Fpayments');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ kind: 'Service', name: 'team-a/payments', namespace: 'team-a' });
    expect(a.body.document.metadata).toEqual({ name: 'payments', namespace: 'team-a' });
    const i = await http(s.url, 'GET', '/v1/intentions/team-b%2Fpayments-in');
    expect(i.body).toMatchObject({ name: 'team-b/payments-in', namespace: 'team-b' });
    const d = await http(s.url, 'GET', '/v1/services/default%2Forders');
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ name: 'orders', namespace: 'default' });
    // An unencoded slash is another path (no route), a malformed key a 400 naming the param.
    expect((await http(s.url, 'GET', '/v1/services/team-a/payments')).status).toBe(404);
    const bad = await http(s.url, 'GET', '/v1/services/Team-A%2Fpayments');
    expect(bad.status).toBe(400);
    expect(bad.text).not.toMatch(/\bat .*\.ts:\d+/);
    expect((await http(s.url, 'GET', '/v1/services/a%2Fb%2Fc')).status).toBe(400);
    expect((await http(s.url, 'GET', '/v1/services/..%2Fpayments')).status).toBe(400);
  });

  it('filters lists by namespace and intentions by destination key', async () => {
    const a = await http(s.url, 'GET', '/v1/services?namespace=team-a');
    expect(a.body.items.map((d: { name: string }) => d.name)).toEqual([
      'team-a/checkout',
      'team-a/payments',
    ]);
    const def = await http(s.url, 'GET', '/v1/services?namespace=default');
    expect(def.body.items.map((d: { name: string }) => d.name)).toEqual(['orders']);
    const on = await http(s.url, 'GET', '/v1/intentions?destination=team-b%2Fpayments');
    expect(on.body.items.map((d: { name: string }) => d.name)).toEqual(['team-b/payments-in']);
    expect((await http(s.url, 'GET', '/v1/services?namespace=Bad_NS')).status).toBe(400);
  });

  it('PUT checks that the body makes the key in the URL', async () => {
    const wrong = await http(s.url, 'PUT', '/v1/services/team-a%2Fpayments', {
      body: service('payments', 'team-b'),
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.code).toBe('API_DOCUMENT_INVALID');
    expect(wrong.body.errors[0]).toMatchObject({ field: '/metadata/name' });
    const right = await http(s.url, 'PUT', '/v1/services/team-a%2Fpayments', {
      body: service('payments', 'team-a', { owner: 'a' }),
    });
    expect(right.status).toBe(200);
    expect(right.body.results[0]).toMatchObject({
      name: 'team-a/payments',
      namespace: 'team-a',
      action: 'updated',
    });
  });

  it('lists tokens with their namespaces and tells whoami', async () => {
    const list = await http(s.url, 'GET', '/v1/tokens');
    const b = list.body.items.find((t: { name: string }) => t.name === 'team-b');
    expect(b).toMatchObject({ services: [], namespaces: ['team-b'] });
    const old = list.body.items.find((t: { name: string }) => t.name === 'bootstrap-admin');
    expect(old.namespaces).toEqual([]);
    const who = await http(s.url, 'GET', '/v1/whoami', { token: teamB });
    expect(who.body).toMatchObject({ scope: 'team', services: [], namespaces: ['team-b'] });
  });

  it('refuses namespaces on other scopes, bad namespaces, and team tokens owning nothing', async () => {
    const create = (body: object) => http(s.url, 'POST', '/v1/tokens', { body });
    const pdp = await create({
      name: 'p',
      scope: 'pdp',
      services: ['team-a/payments'],
      namespaces: ['team-a'],
    });
    expect(pdp.status).toBe(400);
    expect(pdp.body.errors[0].field).toBe('/namespaces');
    expect((await create({ name: 'c', scope: 'collector', namespaces: ['x'] })).status).toBe(400);
    expect((await create({ name: 't', scope: 'team', namespaces: ['Team_A'] })).status).toBe(400);
    expect((await create({ name: 't', scope: 'team', namespaces: [] })).status).toBe(400);
    // A pdp token binds to one key; default/x is stored as x.
    const bound = await create({ name: 'p2', scope: 'pdp', services: ['default/orders'] });
    expect(bound.status).toBe(201);
    expect(bound.body.services).toEqual(['orders']);
  });

  it('a team-b namespace token writes any Service and Intention of team-b, present and future', async () => {
    const r = await http(s.url, 'POST', '/v1/apply', {
      ...yaml([service('ledger', 'team-b'), intent('ledger-in', 'team-b', 'ledger', ['checkout'])]),
      token: teamB,
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { name: string }) => x.name)).toEqual([
      'team-b/ledger',
      'team-b/ledger-in',
    ]);
    const del = await http(s.url, 'DELETE', '/v1/intentions/team-b%2Fledger-in', { token: teamB });
    expect(del.status).toBe(200);
  });

  it('a team-b token may not write anything in team-a', async () => {
    const refusedApply = async (docs: object[]) => {
      const r = await http(s.url, 'POST', '/v1/apply', { ...yaml(docs), token: teamB });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('API_FORBIDDEN');
      return r;
    };
    await refusedApply([service('payments', 'team-a', { owner: 'b' })]);
    await refusedApply([service('new-thing', 'team-a')]);
    await refusedApply([intent('payments-in', 'team-a', 'payments', ['*'])]);
    // An intention placed in team-b but naming team-a's service: refused before any compile.
    const cross = await refusedApply([
      intent('sneak', 'team-b', 'team-a/payments', ['team-b/checkout']),
    ]);
    expect(cross.body.errors[0]).toMatchObject({
      field: '/spec/destination',
      code: 'API_NOT_OWNER',
    });
    // Nor borrow a team-a workload's identity for its own service (new or existing).
    for (const name of ['ledger', 'impostor']) {
      const id = await refusedApply([
        service(name, 'team-b', { spiffeId: 'spiffe://ward.local/ns/team-a/sa/payments' }),
      ]);
      expect(id.body.errors[0]).toMatchObject({ field: '/spec/spiffeId', code: 'API_NOT_OWNER' });
    }
    // The same documents by URL.
    const put = await http(s.url, 'PUT', '/v1/services/team-a%2Fpayments', {
      body: service('payments', 'team-a'),
      token: teamB,
    });
    expect(put.status).toBe(403);
    const del = await http(s.url, 'DELETE', '/v1/intentions/team-a%2Fpayments-in', {
      token: teamB,
    });
    expect(del.status).toBe(403);
    const delSvc = await http(s.url, 'DELETE', '/v1/services/team-a%2Fcheckout', { token: teamB });
    expect(delSvc.status).toBe(403);
    // Nothing changed in team-a.
    const a = await http(s.url, 'GET', '/v1/intentions/team-a%2Fpayments-in');
    expect(a.body.document.spec.rules[0].sources).toEqual(['checkout']);
  });

  it('a namespace owner still may not write attribute schemas, spec.passport or reserved labels', async () => {
    const passport = await http(s.url, 'POST', '/v1/apply', {
      ...yaml([service('payments', 'team-b', { passport: { zone: 'z' } })]),
      token: teamB,
    });
    expect(passport.status).toBe(403);
    expect(passport.body.errors[0].code).toBe('API_ADMIN_ONLY_FIELD');
    const label = await http(s.url, 'POST', '/v1/apply', {
      ...yaml([
        {
          ...service('payments', 'team-b'),
          metadata: { name: 'payments', namespace: 'team-b', labels: { 'ward.dev/tier': 'gold' } },
        },
      ]),
      token: teamB,
    });
    expect(label.status).toBe(403);
    expect(label.body.errors[0].code).toBe('API_RESERVED_LABEL');
    const schema = await http(s.url, 'POST', '/v1/apply', {
      ...yaml([
        {
          apiVersion: 'ward.dev/v1',
          kind: 'AttributeSchema',
          metadata: { name: 'claims', namespace: 'team-b' },
          spec: { attributes: { type: 'object', properties: {} } },
        },
      ]),
      token: teamB,
    });
    expect(schema.status).toBe(403);
  });

  it('a token owning explicit keys creates Service documents for those keys only', async () => {
    const own = await http(s.url, 'PUT', '/v1/services/team-a%2Fpayments', {
      body: service('payments', 'team-a', { owner: 'explicit' }),
      token: explicitA,
    });
    expect(own.status).toBe(200);
    const other = await http(s.url, 'POST', '/v1/services', {
      body: service('other', 'team-a'),
      token: explicitA,
    });
    expect(other.status).toBe(403);
    // Its intention: the destination is the key it owns.
    const i = await http(s.url, 'PUT', '/v1/intentions/team-a%2Fpayments-in', {
      body: intent('payments-in', 'team-a', 'payments', ['checkout'], 'dry-run'),
      token: explicitA,
    });
    expect(i.status).toBe(200);
  });

  it('a team-b token may not roll back team-a, but rolls back its own', async () => {
    const refused = await http(s.url, 'POST', '/v1/rollback', {
      body: { to: 1, service: 'team-a/payments', dryRun: true },
      token: teamB,
    });
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].field).toBe('/service');
    const all = await http(s.url, 'POST', '/v1/rollback', {
      body: { to: 1, dryRun: true },
      token: teamB,
    });
    expect(all.status).toBe(403);
    const own = await http(s.url, 'POST', '/v1/rollback', {
      body: { to: 1, service: 'team-b/payments', dryRun: true },
      token: teamB,
    });
    expect(own.status).toBe(200);
  });

  it('reports: a team-b token reads its own destinations only, and not team-a by name', async () => {
    const pdpA = await s.pdp('team-a/payments');
    const pdpB = await s.pdp('team-b/payments');
    const deny = (destination: string, source: string) =>
      rec({
        destination,
        source,
        effect: 'deny',
        enforced: false,
        rule: 'default',
      });
    expect(
      (await postBatch(s.url, pdpA, { records: [deny('team-a/payments', 'team-b/checkout')] }))
        .status,
    ).toBe(200);
    expect(
      (await postBatch(s.url, pdpB, { records: [deny('team-b/payments', 'team-a/checkout')] }))
        .status,
    ).toBe(200);
    // Admin sees both (after the flush the next read forces).
    let admin = await http(s.url, 'GET', '/v1/reports/dry-run?since=1h');
    for (let i = 0; i < 50 && admin.body.items.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      admin = await http(s.url, 'GET', '/v1/reports/dry-run?since=1h');
    }
    expect(admin.body.items.map((x: { destination: string }) => x.destination).sort()).toEqual([
      'team-a/payments',
      'team-b/payments',
    ]);
    const b = await http(s.url, 'GET', '/v1/reports/dry-run?since=1h', { token: teamB });
    expect(b.status).toBe(200);
    expect(b.body.items.map((x: { destination: string }) => x.destination)).toEqual([
      'team-b/payments',
    ]);
    const named = await http(s.url, 'GET', '/v1/reports/dry-run?service=team-a%2Fpayments', {
      token: teamB,
    });
    expect(named.status).toBe(403);
    const ownNamed = await http(s.url, 'GET', '/v1/reports/dry-run?service=team-b%2Fpayments', {
      token: teamB,
    });
    expect(ownNamed.status).toBe(200);
    for (const report of ['unused', 'unapproved']) {
      const r = await http(s.url, 'GET', `/v1/reports/${report}?since=1h`, { token: teamB });
      expect(r.status).toBe(200);
      for (const item of r.body.items) expect(item.destination).toMatch(/^team-b\//);
    }
    const a = await http(s.url, 'GET', '/v1/reports/unapproved?since=1h', { token: teamA });
    for (const item of a.body.items) expect(item.destination).toMatch(/^team-a\//);
  });

  it('live tail: a team-b token sees the decisions of its namespace, none of team-a', async () => {
    const mine = await SseClient.open(`${s.url}/v1/decisions/stream`, teamB);
    const all = await SseClient.open(`${s.url}/v1/decisions/stream`);
    try {
      expect([mine.status, all.status]).toEqual([200, 200]);
      const deny = (destination: string, source: string, path: string) =>
        rec({ destination, source, effect: 'deny', enforced: true, rule: 'default', path });
      const pdpA = await s.pdp('team-a/payments');
      const pdpB = await s.pdp('team-b/payments');
      await postBatch(s.url, pdpA, { records: [deny('team-a/payments', 'team-a/checkout', '/a')] });
      await postBatch(s.url, pdpB, { records: [deny('team-b/payments', 'team-b/checkout', '/b')] });
      const seen = (e: SseEvent) => e.event === 'decision';
      await all.next((e) => seen(e) && JSON.parse(e.data!).path === '/b');
      await mine.next((e) => seen(e) && JSON.parse(e.data!).path === '/b');
      const got = mine.events.filter(seen).map((e) => JSON.parse(e.data!).destination);
      expect(got).toEqual(['team-b/payments']);
      expect(all.events.filter(seen).length).toBe(2);
    } finally {
      mine.close();
      all.close();
    }
  });

  it('a team-b token may not promote or propose for team-a', async () => {
    const promote = await http(s.url, 'POST', '/v1/services/team-a%2Fpayments/promote', {
      body: { force: true },
      token: teamB,
    });
    expect(promote.status).toBe(403);
    expect(promote.body.errors[0].field).toBe('params.service');
    const a = await http(s.url, 'GET', '/v1/intentions/team-a%2Fpayments-in');
    expect(a.body.document.spec.mode).toBe('dry-run');
    const propose = await http(s.url, 'GET', '/v1/propose?destination=team-a%2Fpayments', {
      token: teamB,
    });
    expect(propose.status).toBe(403);
    const own = await http(s.url, 'GET', '/v1/propose?destination=team-b%2Fpayments', {
      token: teamB,
    });
    expect(own.status).toBe(200);
    const mine = await http(s.url, 'GET', '/v1/propose?since=1h', { token: teamB });
    expect(mine.status).toBe(200);
    // Only its destinations (a caller from team-a may appear as a source of its own service).
    expect(mine.body.proposals.length).toBeGreaterThan(0);
    for (const p of mine.body.proposals) expect(p.destination).toMatch(/^team-b\//);
    // Its own: promote works (forced past the dry-run denials above).
    const ok = await http(s.url, 'POST', '/v1/services/team-b%2Fpayments/promote', {
      body: { force: true },
      token: teamB,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.promoted).toEqual(['team-b/payments-in']);
  });

  it('history names the keys and their namespaces', async () => {
    const h = await http(s.url, 'GET', '/v1/history?limit=50');
    const changes = h.body.items.flatMap(
      (e: { changes: { name: string; namespace: string }[] }) => e.changes,
    );
    expect(changes).toContainEqual(
      expect.objectContaining({ name: 'team-b/ledger', namespace: 'team-b' }),
    );
    expect(changes).toContainEqual(
      expect.objectContaining({ name: 'orders', namespace: 'default' }),
    );
  });
});
