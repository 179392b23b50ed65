/** The HTTP API on a real server (SQLite): problem bodies, OpenAPI, CRUD, apply, history, audit. */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/index.ts';
import { cleanupDirs, http, intention, type Res, startTestServer, svc, yamlOf } from './helpers.ts';

let server: RunningServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url;
});
afterAll(async () => {
  await server.close();
  cleanupDirs();
});

function expectProblem(res: Res, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.title).toBe('string');
  expect(res.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/); // no stack traces
}

describe('problem bodies', () => {
  it('malformed JSON names the body', async () => {
    const res = await http(base, 'POST', '/v1/tokens', { raw: '{"name": "x", ' });
    expectProblem(res, 400, 'API_MALFORMED_BODY');
    expect(res.body.errors[0].field).toBe('body');
  });

  it('wrong types and unknown fields name each field', async () => {
    const res = await http(base, 'POST', '/v1/tokens', {
      body: { name: 42, scope: 'root', extra: true },
    });
    expectProblem(res, 400, 'API_VALIDATION');
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['/extra', '/name', '/scope']);
  });

  it('a missing required field is named', async () => {
    const res = await http(base, 'POST', '/v1/tokens', { body: { name: 'x' } });
    expectProblem(res, 400, 'API_VALIDATION');
    expect(res.body.errors).toContainEqual(expect.objectContaining({ field: '/scope' }));
  });

  it('bad query parameters are named', async () => {
    const res = await http(base, 'GET', '/v1/history?limit=zero');
    expectProblem(res, 400, 'API_VALIDATION');
    expect(res.body.errors[0].field).toBe('query.limit');
  });

  it('oversized bodies are refused with 413', async () => {
    const res = await http(base, 'POST', '/v1/tokens', {
      body: { name: 'x'.repeat(70 * 1024), scope: 'pdp' },
    });
    expectProblem(res, 413, 'API_PAYLOAD_TOO_LARGE');
  });

  it('unknown routes and unsupported media types are problems', async () => {
    expectProblem(await http(base, 'GET', '/v1/nope'), 404, 'API_NOT_FOUND');
    expectProblem(
      await http(base, 'POST', '/v1/tokens', {
        raw: 'name=x',
        contentType: 'application/x-www-form-urlencoded',
      }),
      415,
      'API_UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('missing or unknown tokens are 401', async () => {
    const res = await http(base, 'GET', '/v1/services', { token: null });
    expectProblem(res, 401, 'API_UNAUTHENTICATED');
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expectProblem(
      await http(base, 'GET', '/v1/services', { token: 'ward_unknown' }),
      401,
      'API_UNAUTHENTICATED',
    );
  });

  it('never answers 500 or a non-problem error for arbitrary bodies (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ files: v })),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        fc.constantFrom('/v1/tokens', '/v1/apply', '/v1/services', '/v1/passport-keys/rotate'),
        async (raw, path) => {
          const res = await http(base, 'POST', path, { raw });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400)
            expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('arbitrary YAML text to apply gives 422 diagnostics or success, never 500 (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (content) => {
        const res = await http(base, 'POST', '/v1/apply', {
          body: { files: [{ name: 'f.yaml', content }], dryRun: true },
        });
        expect([200, 422]).toContain(res.status);
      }),
      { numRuns: 60 },
    );
  });
});

describe('OpenAPI', () => {
  it('documents every route', async () => {
    const res = await http(base, 'GET', '/openapi.json', { token: null });
    expect(res.status).toBe(200);
    const doc = res.body as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    // Every registered route (except /openapi.json itself, and HEAD twins) appears.
    const registered = server.routes;
    expect(registered.length).toBeGreaterThan(15);
    for (const { method, url } of registered) {
      const path = url.replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
    }
  });
});

describe('documents CRUD', () => {
  it('creates, reads, replaces, lists and deletes', async () => {
    let res = await http(base, 'POST', '/v1/services', { body: svc('crud-a') });
    expect(res.status).toBe(201);
    expect(res.body.results[0]).toMatchObject({
      kind: 'Service',
      name: 'crud-a',
      action: 'created',
    });
    expectProblem(
      await http(base, 'POST', '/v1/services', { body: svc('crud-a') }),
      409,
      'API_CONFLICT',
    );
    res = await http(base, 'GET', '/v1/services/crud-a');
    expect(res.body).toMatchObject({ kind: 'Service', name: 'crud-a', document: svc('crud-a') });
    res = await http(base, 'PUT', '/v1/services/crud-a', { body: svc('crud-a', { owner: 'me' }) });
    expect(res.body.results[0].action).toBe('updated');
    expect(res.body.results[0].diff).toEqual([{ path: '/spec/owner', op: 'add', after: 'me' }]);
    expectProblem(
      await http(base, 'PUT', '/v1/services/other', { body: svc('crud-a') }),
      422,
      'API_DOCUMENT_INVALID',
    );
    expectProblem(
      await http(base, 'POST', '/v1/intentions', { body: svc('crud-b') }),
      422,
      'API_DOCUMENT_INVALID',
    );
    res = await http(base, 'POST', '/v1/intentions', {
      body: intention('crud-a-in', 'crud-a', ['crud-a']),
    });
    expect(res.status).toBe(201);
    res = await http(base, 'GET', '/v1/intentions?destination=crud-a');
    expect(res.body.items.map((i: { name: string }) => i.name)).toEqual(['crud-a-in']);
    res = await http(base, 'DELETE', '/v1/intentions/crud-a-in');
    expect(res.body.results[0].action).toBe('deleted');
    expectProblem(await http(base, 'GET', '/v1/intentions/crud-a-in'), 404, 'API_NOT_FOUND');
    expectProblem(await http(base, 'DELETE', '/v1/intentions/crud-a-in'), 404, 'API_NOT_FOUND');
    expectProblem(await http(base, 'GET', '/v1/services/Bad_Name'), 400, 'API_VALIDATION');
  });

  it('reports schema errors of a document with the field', async () => {
    const bad = { ...svc('crud-c'), spec: { spiffeId: 42 } };
    const res = await http(base, 'POST', '/v1/services', { body: bad });
    expectProblem(res, 422, 'API_DOCUMENT_INVALID');
    expect(res.body.errors[0]).toMatchObject({ field: '/spec/spiffeId', file: 'body' });
  });
});

describe('apply', () => {
  const docs = [svc('ap-web'), svc('ap-api'), intention('ap-api', 'ap-api', ['ap-web'])];

  it('is all or nothing: one bad document changes nothing and every diagnostic is reported', async () => {
    const before = (await http(base, 'GET', '/v1/revision')).body.revision;
    const bad = `${yamlOf(docs)}\n---\napiVersion: ward.dev/v1\nkind: Intention\nmetadata: {name: ap-bad}\nspec:\n  destination: ap-api\n  rules:\n    - sources: [ap-web]\n      action: allow\n      when: "request.method =="\n`;
    const res = await http(base, 'POST', '/v1/apply', {
      body: {
        files: [
          { name: 'good.yaml', content: bad },
          { name: 'worse.yaml', content: 'kind: [' },
        ],
      },
    });
    expectProblem(res, 422, 'API_DOCUMENT_INVALID');
    const files = res.body.errors.map((e: { file: string }) => e.file);
    expect(files).toContain('worse.yaml');
    for (const e of res.body.errors) expect(e.line).toBeGreaterThan(0);
    expect((await http(base, 'GET', '/v1/revision')).body.revision).toBe(before);
    expectProblem(await http(base, 'GET', '/v1/services/ap-web'), 404, 'API_NOT_FOUND');
  });

  it('reports compile errors (CEL) with file, line and column', async () => {
    const text = `apiVersion: ward.dev/v1\nkind: Intention\nmetadata: {name: ap-cel}\nspec:\n  destination: ap-api\n  rules:\n    - sources: [ap-web]\n      action: allow\n      when: "nosuchvar.x == 1"\n`;
    const res = await http(base, 'POST', '/v1/apply', {
      body: { files: [{ name: 'cel.yaml', content: text }] },
    });
    expectProblem(res, 422, 'API_DOCUMENT_INVALID');
    expect(res.body.errors[0]).toMatchObject({
      file: 'cel.yaml',
      line: 9,
      field: '/spec/rules/0/when',
    });
  });

  it('dry run plans, apply commits, re-apply is unchanged (idempotent), raw YAML works', async () => {
    let res = await http(base, 'POST', '/v1/apply', {
      body: { files: [{ name: 'a.yaml', content: yamlOf(docs) }], dryRun: true },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dryRun: true, changed: false, summary: { created: 3 } });
    expectProblem(await http(base, 'GET', '/v1/services/ap-web'), 404, 'API_NOT_FOUND');
    res = await http(base, 'POST', '/v1/apply', {
      raw: yamlOf(docs),
      contentType: 'application/yaml',
    });
    expect(res.body).toMatchObject({ dryRun: false, changed: true, summary: { created: 3 } });
    const rev = res.body.revision;
    res = await http(base, 'POST', '/v1/apply', {
      body: { files: [{ name: 'a.json', content: JSON.stringify(docs[0]) }] },
    });
    expect(res.body).toMatchObject({ changed: false, revision: rev, summary: { unchanged: 1 } });
    const changed = intention('ap-api', 'ap-api', ['ap-web'], 'deny');
    res = await http(base, 'POST', '/v1/apply?dryRun=true', {
      raw: JSON.stringify(changed),
      contentType: 'application/yaml',
    });
    expect(res.body.results[0]).toMatchObject({
      action: 'updated',
      diff: [{ path: '/spec/rules/0/action', op: 'replace', before: 'allow', after: 'deny' }],
    });
    expect((await http(base, 'GET', '/v1/revision')).body.revision).toBe(rev);
  });

  it('records history and audit with the acting token', async () => {
    const res = await http(base, 'GET', '/v1/history?limit=5');
    const entry = res.body.items.find((i: { operation: string }) => i.operation === 'apply');
    expect(entry.actor.name).toBe('bootstrap-admin');
    const detail = await http(base, 'GET', `/v1/history/${entry.revision}`);
    expect(detail.body.changes.length).toBeGreaterThan(0);
    expectProblem(await http(base, 'GET', '/v1/history/99999'), 404, 'API_NOT_FOUND');
    const audit = await http(base, 'GET', '/v1/audit?limit=100');
    const actions = audit.body.items.map((a: { action: string }) => a.action);
    expect(actions).toContain('documents.apply');
    expect(actions).toContain('token.create');
    const apply = audit.body.items.find((a: { action: string }) => a.action === 'documents.apply');
    expect(apply.actor.name).toBe('bootstrap-admin');
    // There is no route that changes the audit log.
    expectProblem(await http(base, 'DELETE', '/v1/audit'), 404, 'API_NOT_FOUND');
    expectProblem(await http(base, 'PUT', '/v1/audit', { body: {} }), 404, 'API_NOT_FOUND');
  });
});
