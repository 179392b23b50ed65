/**
 * `POST /v1/playground/evaluate`: decisions with their explanation against the stored set, a
 * past revision and edited documents; scopes; bad input and bad documents as 4xx problems with
 * positions; and a property test that no input or document text makes it answer 500.
 */
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
  startTestServer,
  svc,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('playground.test.ts');

let server: RunningServer;
let base: string;
let team = '';
let pdp = '';
let collector = '';
let firstRevision = 0;

const evaluate = (body: unknown, token?: string) =>
  http(base, 'POST', '/v1/playground/evaluate', { body, ...(token ? { token } : {}) });

const input = (source: string, method = 'GET', path = '/orders/1') => ({
  destination: 'orders',
  source: { service: source },
  request: { method, path },
});

beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
  const first = await http(
    base,
    'POST',
    '/v1/apply',
    FILE(
      yamlOf([
        svc('orders'),
        svc('frontend'),
        svc('billing'),
        intention('orders', 'orders', ['frontend']),
        intention('billing-in', 'billing', ['frontend']),
      ]),
    ),
  );
  expect(first.status).toBe(200);
  firstRevision = first.body.revision;
  // A later revision lets billing in too: `at` must still see only frontend.
  const second = await http(
    base,
    'POST',
    '/v1/apply',
    FILE(yamlOf([intention('orders', 'orders', ['frontend', 'billing'])])),
  );
  expect(second.body.revision).toBeGreaterThan(firstRevision);
  // ...and a later one deletes billing-in: `at` must still see it.
  expect((await http(base, 'DELETE', '/v1/intentions/billing-in')).status).toBe(200);
  const token = async (body: object) =>
    (await http(base, 'POST', '/v1/tokens', { body })).body.token as string;
  team = await token({ name: 'team-billing', scope: 'team', services: ['billing'] });
  pdp = await token({ name: 'pdp-orders', scope: 'pdp', services: ['orders'] });
  collector = await token({ name: 'collector', scope: 'collector' });
});

afterAll(async () => {
  await server?.close();
  cleanupDirs();
});

/** An edited `orders` Intention as YAML text, with these lines under `rules:`. */
const ordersIntention = (...rules: string[]): string =>
  [
    'apiVersion: ward.dev/v1',
    'kind: Intention',
    'metadata: { name: orders }',
    'spec:',
    '  destination: orders',
    '  rules:',
    ...rules,
  ].join('\n');

describe('POST /v1/playground/evaluate', () => {
  it('allows with the deciding rule and explains every rule considered', async () => {
    const res = await evaluate({ input: input('frontend') });
    expect(res.status).toBe(200);
    expect(res.body.decision).toMatchObject({ effect: 'allow', allowed: true, enforced: true });
    expect(res.body.decision.rule).toMatchObject({ policy: 'orders', index: 0, action: 'allow' });
    expect(res.body.explanation.considered).toHaveLength(1);
    expect(res.body.explanation.considered[0]).toMatchObject({ matched: true });
    expect(res.body.diagnostics).toEqual([]);
  });

  it('denies by default and says why; a past revision is evaluated as it stood', async () => {
    const now = await evaluate({ input: input('billing') });
    expect(now.body.decision.effect).toBe('allow');
    const then = await evaluate({ input: input('billing'), at: firstRevision });
    expect(then.status).toBe(200);
    expect(then.body.revision).toBe(firstRevision);
    expect(then.body.decision).toMatchObject({ effect: 'deny', allowed: false, rule: null });
    expect(then.body.decision.reason).toMatch(/default/);
    expect(then.body.explanation.considered[0]).toMatchObject({ matched: false });
    const billing = { destination: 'billing', source: { service: 'frontend' } };
    expect((await evaluate({ input: billing })).body.decision.effect).toBe('deny');
    const before = await evaluate({ input: billing, at: firstRevision });
    expect(before.body.decision).toMatchObject({ effect: 'allow', rule: { policy: 'billing-in' } });
    const future = await evaluate({ input: input('billing'), at: 10_000 });
    expect(future.status).toBe(404);
    expect(future.body.errors[0].field).toBe('/at');
  });

  it('evaluates an edited set over the stored one without storing it', async () => {
    const edited = ordersIntention(
      '    - { sources: [frontend], action: deny, description: closed for maintenance }',
    );
    const res = await evaluate({
      input: input('frontend'),
      documents: [{ name: 'orders.yaml', content: edited }],
    });
    expect(res.status).toBe(200);
    expect(res.body.edited).toEqual(['Intention/orders']);
    expect(res.body.decision).toMatchObject({ effect: 'deny', rule: { policy: 'orders' } });
    expect(res.body.explanation.considered[0].description).toBe('closed for maintenance');
    expect(res.body.explanation.considered[0].file).toBe('orders.yaml');
    // Nothing was stored.
    expect((await evaluate({ input: input('frontend') })).body.decision.effect).toBe('allow');
  });

  it('splits the path and query of the input as the middleware does, for query rules', async () => {
    const edited = ordersIntention(
      '    - sources: [frontend]',
      '      action: allow',
      '      permissions: [{ http: { paths: [{ exact: /orders/1 }], query: [{ name: tenant, exact: acme }] } }]',
    );
    const documents = [{ name: 'orders.yaml', content: edited }];
    const decide = async (path: string) =>
      (await evaluate({ input: input('frontend', 'GET', path), documents })).body.decision;
    expect(await decide('/orders/1?tenant=acme#top')).toMatchObject({ effect: 'allow' });
    expect(await decide('/orders/1?tenant=acme&tenant=evil')).toMatchObject({ effect: 'deny' });
    expect(await decide('/orders/1%3Ftenant=acme')).toMatchObject({ effect: 'deny' });
    const both = await evaluate({
      input: {
        ...input('frontend', 'GET', '/orders/1?tenant=acme'),
        request: { path: '/orders/1?a', query: 'b' },
      },
      documents,
    });
    expect(both.status).toBe(400);
    expect(both.body.errors[0]).toMatchObject({ field: '/input/request' });
    expect(both.body.errors[0].message).toMatch(
      /^REQUEST_TARGET_INVALID: .*both in its path and in `query`/,
    );
  });

  it('replaces a stored namespaced document by its key, and canonicalises the input names', async () => {
    const doc = (rules: string[]) =>
      yamlOf([
        { ...svc('ledger'), metadata: { name: 'ledger', namespace: 'team-a' } },
        {
          apiVersion: 'ward.dev/v1',
          kind: 'Intention',
          metadata: { name: 'ledger', namespace: 'team-a' },
          spec: {
            destination: 'ledger',
            rules: rules.map((r) => ({ sources: [r], action: 'allow' })),
          },
        },
      ]);
    const stored = await http(base, 'POST', '/v1/apply', FILE(doc(['default/frontend'])));
    expect(stored.status).toBe(200);
    const ask = { destination: 'team-a/ledger', source: { service: 'default/frontend' } };
    const now = await evaluate({ input: ask });
    expect(now.body.decision).toMatchObject({ effect: 'allow', rule: { policy: 'team-a/ledger' } });
    // The edit replaces the stored team-a/ledger (no duplicate-name error), and decides alone.
    const res = await evaluate({
      input: ask,
      documents: [{ name: 'ledger.yaml', content: doc(['default/billing']) }],
    });
    expect(res.status).toBe(200);
    expect(res.body.edited).toEqual(['Intention/team-a/ledger', 'Service/team-a/ledger']);
    expect(res.body.decision).toMatchObject({ effect: 'deny', rule: null });
    // A document with no metadata is a 422 naming it, not a 500.
    const bare = await evaluate({
      input: ask,
      documents: [
        { name: 'bare.yaml', content: 'apiVersion: ward.dev/v1\nkind: Intention\nspec: {}\n' },
      ],
    });
    expect(bare.status).toBe(422);
    expect(bare.body.errors[0].file).toBe('bare.yaml');
  });

  it('answers compile errors as a 422 problem with file, line and column', async () => {
    const bad = ordersIntention(
      '    - sources: [frontend]',
      '      action: allow',
      '      when: request.method ==',
    );
    const res = await evaluate({
      input: input('frontend'),
      documents: [{ name: 'edit.yaml', content: bad }],
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('API_DOCUMENT_INVALID');
    expect(res.body.errors[0]).toMatchObject({ file: 'edit.yaml', line: 9 });
    expect(res.body.errors[0].col).toBeGreaterThan(0);

    const yaml = await evaluate({
      input: input('frontend'),
      documents: [{ name: 'broken.yaml', content: 'kind: [unclosed\n  x: 1' }],
    });
    expect(yaml.status).toBe(422);
    expect(yaml.body.errors[0].file).toBe('broken.yaml');
    expect(yaml.body.errors[0].line).toBeGreaterThan(0);
  });

  it('refuses an input that is not a decision input with the field at fault', async () => {
    const res = await evaluate({ input: { destination: 'orders' } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('API_VALIDATION');
    expect(res.body.errors.some((e: { field: string }) => e.field.startsWith('/input'))).toBe(true);
    const target = await evaluate({ input: input('frontend', 'GET', 'no-slash') });
    expect(target.status).toBe(400);
    expect(target.body.errors[0].field).toBe('/input/request');
  });

  it('bounds the document count', async () => {
    const documents = Array.from({ length: 51 }, (_, i) => ({ name: `f${i}.yaml`, content: '' }));
    const res = await evaluate({ input: input('frontend'), documents });
    expect(res.status).toBe(400);
  });

  it('lets admin and team tokens evaluate, refuses pdp, collector and no token', async () => {
    expect((await evaluate({ input: input('billing') }, team)).status).toBe(200);
    expect((await evaluate({ input: input('frontend') }, pdp)).status).toBe(403);
    expect((await evaluate({ input: input('frontend') }, collector)).status).toBe(403);
    const anonymous = await http(base, 'POST', '/v1/playground/evaluate', {
      token: null,
      body: { input: input('frontend') },
    });
    expect(anonymous.status).toBe(401);
  });

  it('never answers 500, whatever the input and the document text', async () => {
    let decided = 0;
    // Inputs of the right shape with arbitrary text reach the decision itself.
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('orders', 'frontend', '*'));
    const dict = fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), {
      maxKeys: 3,
    });
    const wellFormedInput = fc.record(
      {
        destination: fc.oneof(fc.constant('orders'), text),
        source: fc.record(
          { service: text, spiffeId: text, namespace: text, labels: dict },
          { requiredKeys: [] },
        ),
        request: fc.record(
          {
            method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'get'), text),
            path: fc.oneof(fc.constantFrom('/orders/1', '/a/../b', '/%2e%2e/x'), text),
            headers: dict,
          },
          { requiredKeys: [] },
        ),
        time: fc.integer({ min: 0 }),
      },
      { requiredKeys: ['destination', 'source'] },
    );
    const yamlish = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        'apiVersion: ward.dev/v1\nkind: Intention\nmetadata: { name: x }\nspec: { destination: orders, rules: [] }',
        'apiVersion: ward.dev/v1\nkind: Service\nmetadata: { name: orders }\nspec: {}',
        'kind: Intention\n',
        '---\n---\n',
        '&a [*a]',
      ),
      fc.json().map((j) => j),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ destination: fc.string(), source: fc.jsonValue() }),
          wellFormedInput,
        ),
        fc.array(
          fc.record({ name: fc.string({ minLength: 1, maxLength: 20 }), content: yamlish }),
          {
            maxLength: 3,
          },
        ),
        fc.option(fc.integer({ min: -2, max: 50 }), { nil: undefined }),
        async (value, documents, at) => {
          const res = await evaluate({
            input: value,
            documents,
            ...(at === undefined ? {} : { at }),
          });
          expect(res.status, res.text).toBeLessThan(500);
          if (res.status === 200) decided++;
          if (res.status >= 400) expect(res.body.code).toMatch(/^API_/);
        },
      ),
      {
        numRuns: 150,
        // Random documents and revisions often stop at validation or compilation: these run
        // first, so the property always covers the decision itself as well.
        examples: [
          [
            {
              destination: 'orders',
              source: { service: 'frontend' },
              request: { method: 'GET', path: '/orders/1' },
            },
            [],
            undefined,
          ],
          [{ destination: 'orders', source: { service: 'nobody' } }, [], undefined],
        ],
      },
    );
    // Some runs got past validation and compilation to a decision.
    expect(decided).toBeGreaterThan(0);
  });
});

describe.skipIf(!PG)('POST /v1/playground/evaluate on PostgreSQL', () => {
  it('rebuilds a past revision from the history', async () => {
    const schema = await createPgSchema();
    const pg = await startTestServer({ database: schema.url });
    try {
      const apply = async (docs: object[]) =>
        (await http(pg.url, 'POST', '/v1/apply', FILE(yamlOf(docs)))).body.revision as number;
      const first = await apply([
        svc('orders'),
        svc('frontend'),
        intention('orders', 'orders', ['frontend']),
      ]);
      await apply([intention('orders', 'orders', ['frontend'], 'deny')]);
      const ask = async (at?: number) =>
        (
          await http(pg.url, 'POST', '/v1/playground/evaluate', {
            body: {
              input: { destination: 'orders', source: { service: 'frontend' } },
              ...(at === undefined ? {} : { at }),
            },
          })
        ).body.decision.effect;
      expect(await ask()).toBe('deny');
      expect(await ask(first)).toBe('allow');
    } finally {
      await pg.close();
      await schema.drop();
    }
  });
});
