/**
 * `POST /v1/rollback` on SQLite and PostgreSQL: restoring creates, updates and deletes (dry run
 * first, then one new revision with history and a `documents.rollback` audit entry), nothing to
 * do, one service only, team scope, the reviewed revision as a precondition (412, nothing
 * written), a restored set that does not compile (422, nothing written), bad targets, and a
 * rollback racing an apply (two PostgreSQL replicas).
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  FILE,
  http,
  intention,
  pgAvailable,
  type Res,
  startTestServer,
  svc,
  tempDir,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('rollback.test.ts');

afterAll(() => cleanupDirs());

function expectProblem(res: Res, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
}

interface Backend {
  label: string;
  start(): Promise<{ server: RunningServer; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    label: 'SQLite',
    async start() {
      const server = await startTestServer();
      return { server, stop: () => server.close() };
    },
  },
];
if (PG) {
  backends.push({
    label: 'PostgreSQL',
    async start() {
      const schema = await createPgSchema();
      const server = await startTestServer({ database: schema.url });
      return {
        server,
        async stop() {
          await server.close();
          await schema.drop();
        },
      };
    },
  });
}

/** Every stored document as `Kind/name` → document, to compare whole states. */
async function state(base: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of ['services', 'intentions']) {
    const res = await http(base, 'GET', `/v1/${kind}`);
    expect(res.status).toBe(200);
    for (const d of res.body.items) out[`${d.kind}/${d.name}`] = d.document;
  }
  return out;
}

const revisionOf = async (base: string) =>
  (await http(base, 'GET', '/v1/history?limit=1')).body.items[0]?.revision as number;

describe.each(backends)('POST /v1/rollback on $label', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;
  let base: string;
  const apply = async (docs: object[], token?: string) => {
    const res = await http(base, 'POST', '/v1/apply', { ...FILE(yamlOf(docs)), token });
    expect(res.status, res.text).toBe(200);
    return res.body.revision as number;
  };
  const rollback = (
    body: object,
    opts: { token?: string; headers?: Record<string, string> } = {},
  ) => http(base, 'POST', '/v1/rollback', { body, ...opts });

  beforeAll(async () => {
    ({ server, stop } = await backend.start());
    base = server.url;
  });
  afterAll(async () => stop?.());

  it('restores created, updated and deleted documents as one audited revision, dry run first', async () => {
    const r1 = await apply([
      svc('orders'),
      svc('frontend'),
      svc('billing'),
      intention('orders-in', 'orders', ['frontend']),
      intention('billing-in', 'billing', ['frontend']),
    ]);
    const atR1 = await state(base);
    await apply([
      svc('orders', { owner: 'team-orders' }),
      intention('orders-in', 'orders', ['frontend', 'billing']),
      intention('orders-extra', 'orders', ['billing']),
    ]);
    expect((await http(base, 'DELETE', '/v1/intentions/billing-in')).status).toBe(200);
    const before = await state(base);
    const current = await revisionOf(base);

    const dry = await rollback({ to: r1, dryRun: true });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, changed: false, revision: current });
    expect(dry.body.summary).toEqual({ created: 1, updated: 2, unchanged: 0, deleted: 1 });
    const actions = Object.fromEntries(
      dry.body.results.map((r: { kind: string; name: string; action: string }) => [
        `${r.kind}/${r.name}`,
        r.action,
      ]),
    );
    expect(actions).toEqual({
      'Service/orders': 'updated',
      'Intention/billing-in': 'created',
      'Intention/orders-extra': 'deleted',
      'Intention/orders-in': 'updated',
    });
    const ordersDiff = dry.body.results.find(
      (r: { name: string; kind: string }) => r.kind === 'Service' && r.name === 'orders',
    ).diff;
    expect(ordersDiff).toEqual([{ path: '/spec/owner', op: 'remove', before: 'team-orders' }]);
    expect(await state(base)).toEqual(before);
    expect(await revisionOf(base)).toBe(current);

    const done = await rollback({ to: r1, expectedRevision: current });
    expect(done.status, done.text).toBe(200);
    expect(done.body).toMatchObject({ dryRun: false, changed: true, revision: current + 1 });
    expect(done.body.results).toEqual(dry.body.results);
    expect(await state(base)).toEqual(atR1);

    const history = await http(base, 'GET', `/v1/history/${current + 1}`);
    expect(history.body.operation).toBe('rollback');
    expect(history.body.changes).toHaveLength(4);
    const audit = await http(base, 'GET', '/v1/audit?limit=5');
    const entry = audit.body.items.find(
      (a: { action: string }) => a.action === 'documents.rollback',
    );
    expect(entry).toMatchObject({
      revision: current + 1,
      detail: { to: r1, service: null, summary: dry.body.summary },
    });

    // Replayed with the revision it was reviewed at, it is refused: its own write moved on.
    expectProblem(
      await rollback({ to: r1, expectedRevision: current }),
      412,
      'API_PRECONDITION_FAILED',
    );
    // Back at r1's state: nothing to do, and nothing is written.
    const again = await rollback({ to: r1 });
    expect(again.body).toMatchObject({ changed: false, revision: current + 1, results: [] });
    expect(await revisionOf(base)).toBe(current + 1);
  });

  it('rolls back one service only: its Service and the intentions whose destination it is', async () => {
    const to = await revisionOf(base);
    await apply([
      svc('orders', { owner: 'someone' }),
      intention('orders-in', 'orders', ['billing']),
      intention('orders-new', 'orders', ['frontend']),
      intention('billing-in', 'billing', ['orders']),
    ]);
    const after = await state(base);
    const res = await rollback({ to, service: 'orders' });
    expect(res.status, res.text).toBe(200);
    expect(
      res.body.results.map((r: { name: string; action: string }) => `${r.name}:${r.action}`),
    ).toEqual(['orders:updated', 'orders-in:updated', 'orders-new:deleted']);
    const now = await state(base);
    expect(now['Intention/billing-in']).toEqual(after['Intention/billing-in']);
    expect(now['Intention/orders-new']).toBeUndefined();
    expect(now['Service/orders']).toEqual(svc('orders'));
    const audit = await http(base, 'GET', '/v1/audit?limit=1');
    expect(audit.body.items[0]).toMatchObject({
      action: 'documents.rollback',
      detail: { to, service: 'orders' },
    });
  });

  it('lets a team token roll back only a service it owns, and only documents it owns', async () => {
    const tok = await http(base, 'POST', '/v1/tokens', {
      body: { name: `team-billing-${backend.label}`, scope: 'team', services: ['billing'] },
    });
    const team = tok.body.token as string;
    const to = await revisionOf(base);
    await apply([intention('billing-in', 'billing', ['frontend', 'orders'])]);
    const changed = await state(base);

    expectProblem(await rollback({ to }, { token: team }), 403, 'API_FORBIDDEN');
    const other = await rollback({ to, service: 'orders', dryRun: true }, { token: team });
    expectProblem(other, 403, 'API_FORBIDDEN');
    expect(other.text).not.toContain('orders-in');
    expect(await state(base)).toEqual(changed);

    const own = await rollback({ to, service: 'billing' }, { token: team });
    expect(own.status, own.text).toBe(200);
    expect(own.body.summary.updated).toBe(1);
    const audit = await http(base, 'GET', '/v1/audit?limit=1');
    expect(audit.body.items[0].actor.name).toBe(`team-billing-${backend.label}`);

    // An intention that pointed at billing then and at orders now: restoring it would take it
    // from the orders team, so the team token is refused and nothing is written.
    const then = await revisionOf(base);
    await apply([intention('billing-in', 'orders', ['frontend'])]);
    const moved = await state(base);
    const refused = await rollback({ to: then, service: 'billing' }, { token: team });
    expectProblem(refused, 403, 'API_FORBIDDEN');
    expect(refused.body.errors[0]).toMatchObject({ code: 'API_NOT_OWNER' });
    expect(await state(base)).toEqual(moved);
    // The admin may.
    expect((await rollback({ to: then, service: 'billing' })).body.changed).toBe(true);

    // Passport trust is the platform's call: a team cannot take back what an admin set.
    const unset = await revisionOf(base);
    await apply([svc('billing', { passport: { verify: true } })]);
    const set = await state(base);
    const passport = await rollback({ to: unset, service: 'billing' }, { token: team });
    expectProblem(passport, 403, 'API_FORBIDDEN');
    expect(passport.body.errors[0]).toMatchObject({ code: 'API_ADMIN_ONLY_FIELD' });
    expect(await state(base)).toEqual(set);
  });

  it('refuses (412) when something in scope changed since the reviewed revision', async () => {
    const to = await revisionOf(base);
    await apply([intention('orders-in', 'orders', ['frontend', 'billing'])]);
    const dry = await rollback({ to, service: 'orders', dryRun: true });
    const reviewed = dry.body.revision as number;
    // Someone changes orders after the review: the rollback must not undo it unseen.
    await apply([intention('orders-in', 'orders', ['billing'])]);
    const changed = await state(base);
    for (const precondition of [
      { body: { expectedRevision: reviewed } },
      { headers: { 'if-match': `"r${reviewed}"` } },
    ]) {
      const res = await rollback(
        { to, service: 'orders', ...precondition.body },
        { ...(precondition.headers ? { headers: precondition.headers } : {}) },
      );
      expectProblem(res, 412, 'API_PRECONDITION_FAILED');
      expect(res.body.errors[0].message).toContain('Intention orders-in');
    }
    expect(await state(base)).toEqual(changed);

    // A change outside the scope does not stop a per-service rollback reviewed before it.
    const review = (await rollback({ to, service: 'orders', dryRun: true })).body.revision;
    await apply([intention('billing-in', 'billing', ['orders', 'frontend'])]);
    const ok = await rollback(
      { to, service: 'orders' },
      { headers: { 'if-match': `"r${review}"` } },
    );
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.changed).toBe(true);

    const now = await revisionOf(base);
    expectProblem(
      await rollback({ to, expectedRevision: now + 5 }),
      412,
      'API_PRECONDITION_FAILED',
    );
    expectProblem(
      await rollback({ to }, { headers: { 'if-match': '"not-ours"' } }),
      412,
      'API_PRECONDITION_FAILED',
    );
    expectProblem(
      await rollback({ to, expectedRevision: now }, { headers: { 'if-match': `"r${now - 1}"` } }),
      400,
      'API_VALIDATION',
    );
  });

  it('refuses (422) a restored set that does not compile, writing nothing', async () => {
    await apply([svc('ledger', { spiffeId: 'spiffe://example.org/ledger' })]);
    const to = await revisionOf(base);
    await apply([svc('ledger', { spiffeId: 'spiffe://example.org/ledger-v2' })]);
    // Another service takes ledger's old identity: restoring it would give two services one ID.
    await apply([svc('ledger-next', { spiffeId: 'spiffe://example.org/ledger' })]);
    const before = await state(base);
    const revision = await revisionOf(base);
    const res = await rollback({ to, service: 'ledger' });
    expectProblem(res, 422, 'API_DOCUMENT_INVALID');
    expect(JSON.stringify(res.body.errors)).toContain('POLICY_DUPLICATE_NAME');
    expect(await state(base)).toEqual(before);
    expect(await revisionOf(base)).toBe(revision);
  });

  it('declares If-Match, the body and the 412 in /openapi.json', async () => {
    const spec = (await http(base, 'GET', '/openapi.json', { token: null })).body;
    const op = spec.paths['/v1/rollback'].post;
    expect(
      op.parameters
        .filter((p: { in: string }) => p.in === 'header')
        .map((p: { name: string }) => p.name),
    ).toEqual(['if-match']);
    expect(op.responses['412'].description).toContain('API_PRECONDITION_FAILED');
    expect(
      Object.keys(op.requestBody.content['application/json'].schema.properties).sort(),
    ).toEqual(['dryRun', 'expectedRevision', 'service', 'to']);
  });

  it('answers 404 for a revision the history does not hold', async () => {
    // An operator who trimmed the early history by hand: revision 1 can no longer be rebuilt.
    await server.app.ward.db.deleteFrom('revisions').where('revision', '=', 1).execute();
    const res = await rollback({ to: 1, dryRun: true });
    expectProblem(res, 404, 'API_NOT_FOUND');
    expect(res.body.detail).toContain('revision 1 does not exist');
  });

  it('answers 400 for a revision after the current one or a malformed body', async () => {
    const now = await revisionOf(base);
    expectProblem(await rollback({ to: now + 1 }), 400, 'API_VALIDATION');
    expectProblem(await rollback({ to: 0 }), 400, 'API_VALIDATION');
    expectProblem(await rollback({ to: 1, service: 'Not A Name' }), 400, 'API_VALIDATION');
    expectProblem(await rollback({ to: 1, extra: true }), 400, 'API_VALIDATION');
    expectProblem(
      await rollback({ to: 1 }, { token: null as unknown as string }),
      401,
      'API_UNAUTHENTICATED',
    );
  });
});

/**
 * A rollback reviewed at revision R races an apply to the same document (on PostgreSQL from two
 * replicas): whatever the order, the concurrent change is never undone unseen. Either the
 * rollback commits first (and the apply after it), or it is refused with 412.
 */
interface Pair {
  label: string;
  start(): Promise<{ a: string; b: string; stop(): Promise<void> }>;
}
const pairs: Pair[] = [
  {
    label: 'SQLite',
    async start() {
      const server = await startTestServer();
      return { a: server.url, b: server.url, stop: () => server.close() };
    },
  },
];
if (PG) {
  pairs.push({
    label: 'PostgreSQL, two replicas',
    async start() {
      const schema = await createPgSchema();
      const key = join(tempDir(), 'shared-signing.key');
      const [ra, rb] = await Promise.all([
        startTestServer({ database: schema.url, signingKeyFile: key }),
        startTestServer({ database: schema.url, signingKeyFile: key }),
      ]);
      return {
        a: ra.url,
        b: rb.url,
        async stop() {
          await ra.close();
          await rb.close();
          await schema.drop();
        },
      };
    },
  });
}

describe.each(pairs)('rollback racing an apply on $label', (pair) => {
  it('never undoes a change it did not review', async () => {
    const { a, b, stop } = await pair.start();
    try {
      const race = (description: string) => ({
        ...intention('race', 'orders', ['frontend']),
        spec: {
          destination: 'orders',
          rules: [{ sources: ['frontend'], action: 'allow', description }],
        },
      });
      const put = async (base: string, description: string) =>
        http(base, 'POST', '/v1/apply', FILE(yamlOf([race(description)])));
      expect(
        (await http(a, 'POST', '/v1/apply', FILE(yamlOf([svc('orders'), svc('frontend')])))).status,
      ).toBe(200);
      const outcomes = { first: 0, refused: 0 };
      for (let round = 0; round < 20; round++) {
        const to = (await put(a, `base-${round}`)).body.revision as number;
        const reviewed = (await put(a, `bad-${round}`)).body.revision as number;
        const [rolled, applied] = await Promise.all([
          http(a, 'POST', '/v1/rollback', {
            body: { to, service: 'orders', expectedRevision: reviewed },
          }),
          put(b, `concurrent-${round}`),
        ]);
        expect(applied.status, applied.text).toBe(200);
        expect([200, 412], rolled.text).toContain(rolled.status);
        if (rolled.status === 200) {
          expect(rolled.body.revision).toBeLessThan(applied.body.revision);
          outcomes.first++;
        } else outcomes.refused++;
        const now = await http(a, 'GET', '/v1/intentions/race');
        expect(now.body.document.spec.rules[0].description).toBe(`concurrent-${round}`);
      }
      expect(outcomes.first + outcomes.refused).toBe(20);
    } finally {
      await stop();
    }
  });
});

describe('POST /v1/rollback with arbitrary input', () => {
  it('never answers 500, whatever the body and If-Match', async () => {
    const server = await startTestServer();
    try {
      const base = server.url;
      for (const docs of [
        [svc('orders'), svc('web'), intention('orders-in', 'orders', ['web'])],
        [
          intention('orders-in', 'orders', ['web', 'orders']),
          intention('web-in', 'web', ['orders']),
        ],
      ]) {
        expect((await http(base, 'POST', '/v1/apply', FILE(yamlOf(docs)))).status).toBe(200);
      }
      // Mostly well-formed, so runs reach the plan, the preconditions and the write.
      const revision = fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 6 },
        { arbitrary: fc.integer({ min: -2, max: 2 ** 32 }), weight: 1 },
        { arbitrary: fc.jsonValue(), weight: 1 },
      );
      const body = fc.oneof(
        { arbitrary: fc.jsonValue(), weight: 1 },
        {
          arbitrary: fc.record(
            {
              to: revision,
              service: fc.oneof(
                { arbitrary: fc.constantFrom('orders', 'web', 'nobody'), weight: 4 },
                { arbitrary: fc.string({ maxLength: 70 }), weight: 1 },
              ),
              dryRun: fc.oneof(
                { arbitrary: fc.boolean(), weight: 6 },
                { arbitrary: fc.jsonValue(), weight: 1 },
              ),
              expectedRevision: revision,
            },
            { requiredKeys: ['to'] },
          ),
          weight: 6,
        },
      );
      const ifMatch = fc.option(
        fc.oneof(
          fc.string({ maxLength: 30 }),
          fc.integer({ min: 0, max: 6 }).map((n) => `"r${n}"`),
          fc.constantFrom('*', 'W/"r2"', '"r1", "r2"', '"r99999999999"', '"r1", W/"r2"'),
        ),
        { nil: undefined, freq: 3 },
      );
      let answered = 0;
      await fc.assert(
        fc.asyncProperty(body, ifMatch, async (value, tag) => {
          const res = await http(base, 'POST', '/v1/rollback', {
            raw: JSON.stringify(value) ?? 'null',
            ...(tag === undefined ? {} : { headers: { 'if-match': tag } }),
          });
          expect(res.status, res.text).toBeLessThan(500);
          if (res.status >= 400) expect(res.body.code).toMatch(/^API_/);
          else answered++;
        }),
        { numRuns: 200 },
      );
      expect(answered).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});
