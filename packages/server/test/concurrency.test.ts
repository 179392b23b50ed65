/**
 * Optimistic concurrency against real servers on loopback, on SQLite and on PostgreSQL (two
 * replicas sharing one schema): document reads carry a strong ETag and answer 304 to
 * If-None-Match; every write honours If-Match / If-None-Match with 412 checked in the write's own
 * transaction; apply refuses a whole change set when a document's metadata.revision is stale.
 * The lost-update attack: two writers read a document, then both write it. Before, both got 200
 * and one change vanished; now exactly one wins and the other learns it must read again.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEntityTags } from '../src/apply/preconditions.ts';
import { ServerError } from '../src/errors.ts';
import type { RunningServer } from '../src/index.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  intention,
  pgAvailable,
  startTestServer,
  svc,
  tempDir,
  yamlOf,
} from './helpers.ts';

const PG = await pgAvailable('concurrency.test.ts');
const ROUNDS = 50;

afterAll(() => cleanupDirs());

type Labels = Record<string, string>;
const labelled = (name: string, labels: Labels) => ({
  ...svc(name),
  metadata: { name, labels },
});

function suite(
  label: string,
  start: () => Promise<{ a: string; b: string; close(): Promise<void> }>,
) {
  describe(`optimistic concurrency on ${label}`, () => {
    let a: string;
    let b: string;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ a, b, close } = await start());
    });
    afterAll(async () => close?.());

    it('reads carry a strong ETag of the revision of the last change; If-None-Match gives 304', async () => {
      const put = await http(a, 'PUT', '/v1/services/etag', { body: svc('etag') });
      expect(put.status).toBe(200);
      const read = await http(a, 'GET', '/v1/services/etag');
      expect(read.status).toBe(200);
      expect(read.headers.get('etag')).toBe(`"r${read.body.updatedRevision}"`);
      expect(read.body.updatedRevision).toBe(put.body.revision);
      const etag = read.headers.get('etag')!;
      const again = await http(b, 'GET', '/v1/services/etag', {
        headers: { 'if-none-match': etag },
      });
      expect(again.status).toBe(304);
      expect(again.text).toBe('');
      expect(again.headers.get('etag')).toBe(etag);
      // A change to another document leaves this one's tag as it was.
      await http(a, 'PUT', '/v1/services/other', { body: svc('other') });
      expect(
        (await http(a, 'GET', '/v1/services/etag', { headers: { 'if-none-match': etag } })).status,
      ).toBe(304);
      // A change to this one does not.
      await http(a, 'PUT', '/v1/services/etag', { body: labelled('etag', { v: '2' }) });
      const changed = await http(b, 'GET', '/v1/services/etag', {
        headers: { 'if-none-match': etag },
      });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      // Intentions too.
      await http(a, 'PUT', '/v1/intentions/etag-in', {
        body: intention('etag-in', 'etag', ['other']),
      });
      const i = await http(a, 'GET', '/v1/intentions/etag-in');
      expect(i.headers.get('etag')).toBe(`"r${i.body.updatedRevision}"`);
    });

    it('two writers who read then write: the second gets 412 naming the document and both revisions', async () => {
      await http(a, 'PUT', '/v1/services/lost', { body: labelled('lost', { base: '1' }) });
      const [ra, rb] = await Promise.all([
        http(a, 'GET', '/v1/services/lost'),
        http(b, 'GET', '/v1/services/lost'),
      ]);
      const tag = ra.headers.get('etag')!;
      expect(rb.headers.get('etag')).toBe(tag);
      const first = await http(a, 'PUT', '/v1/services/lost', {
        body: labelled('lost', { ...ra.body.document.metadata.labels, alice: 'x' }),
        headers: { 'if-match': tag },
      });
      expect(first.status).toBe(200);
      const second = await http(b, 'PUT', '/v1/services/lost', {
        body: labelled('lost', { ...rb.body.document.metadata.labels, bob: 'x' }),
        headers: { 'if-match': tag },
      });
      expect(second.status).toBe(412);
      expect(second.headers.get('content-type')).toContain('application/problem+json');
      expect(second.body.code).toBe('API_PRECONDITION_FAILED');
      const was = tag.slice(2, -1);
      const message = second.body.errors[0].message as string;
      expect(second.body.errors[0].field).toBe('headers.if-match');
      expect(message).toContain('Service lost');
      expect(message).toContain(`expected revision ${was}`);
      expect(message).toContain(`it is at revision ${first.body.revision}`);
      const now = await http(a, 'GET', '/v1/services/lost');
      expect(now.body.document.metadata.labels).toEqual({ base: '1', alice: 'x' });
    });

    it('If-Match * means "must exist", If-None-Match * means "must not exist"', async () => {
      const absent = await http(a, 'PUT', '/v1/services/ghost', {
        body: svc('ghost'),
        headers: { 'if-match': '*' },
      });
      expect(absent.status).toBe(412);
      expect(absent.body.errors[0].message).toContain('it does not exist');
      expect((await http(a, 'GET', '/v1/services/ghost')).status).toBe(404);

      const created = await http(a, 'PUT', '/v1/services/ghost', {
        body: svc('ghost'),
        headers: { 'if-none-match': '*' },
      });
      expect(created.status).toBe(200);
      for (const [method, path] of [
        ['PUT', '/v1/services/ghost'],
        ['POST', '/v1/services'],
      ] as const) {
        const again = await http(b, method, path, {
          body: labelled('ghost', { late: 'x' }),
          headers: { 'if-none-match': '*' },
        });
        expect(again.status).toBe(412);
        expect(again.body.errors[0].message).toContain(
          `it is at revision ${created.body.revision}`,
        );
      }
      const update = await http(a, 'PUT', '/v1/services/ghost', {
        body: labelled('ghost', { v: '2' }),
        headers: { 'if-match': '*' },
      });
      expect(update.status).toBe(200);
    });

    it('a stale DELETE is refused and the document stays', async () => {
      const put = await http(a, 'PUT', '/v1/services/doomed', { body: svc('doomed') });
      const stale = `"r${put.body.revision}"`;
      await http(a, 'PUT', '/v1/services/doomed', { body: labelled('doomed', { v: '2' }) });
      const del = await http(b, 'DELETE', '/v1/services/doomed', {
        headers: { 'if-match': stale },
      });
      expect(del.status).toBe(412);
      expect((await http(a, 'GET', '/v1/services/doomed')).body.document.metadata.labels).toEqual({
        v: '2',
      });
      const fresh = (await http(a, 'GET', '/v1/services/doomed')).headers.get('etag')!;
      expect(
        (await http(b, 'DELETE', '/v1/services/doomed', { headers: { 'if-match': fresh } })).status,
      ).toBe(200);
    });

    it('weak, foreign and malformed tags: a weak or unknown tag never matches; garbage is 400', async () => {
      await http(a, 'PUT', '/v1/services/tags', { body: svc('tags') });
      const tag = (await http(a, 'GET', '/v1/services/tags')).headers.get('etag')!;
      for (const header of [`W/${tag}`, '"abc"', '"r99999999999"']) {
        const r = await http(a, 'PUT', '/v1/services/tags', {
          body: labelled('tags', { x: '1' }),
          headers: { 'if-match': header },
        });
        expect(r.status, header).toBe(412);
      }
      const listed = await http(a, 'PUT', '/v1/services/tags', {
        body: labelled('tags', { x: '1' }),
        headers: { 'if-match': `"r0", ${tag}` },
      });
      expect(listed.status).toBe(200);
      for (const header of ['r5', '"r5', 'W/', '"a"b"', ',']) {
        const r = await http(a, 'PUT', '/v1/services/tags', {
          body: svc('tags'),
          headers: { 'if-match': header },
        });
        expect(r.status, header).toBe(400);
        expect(r.body.code).toBe('API_VALIDATION');
        expect(r.body.errors[0].field).toBe('headers.if-match');
        const g = await http(a, 'GET', '/v1/services/tags', {
          headers: { 'if-none-match': header },
        });
        expect(g.status, header).toBe(400);
      }
    });

    it('apply refuses the whole change set when one document changed since its metadata.revision', async () => {
      await http(a, 'POST', '/v1/apply', {
        body: { files: [{ name: 'base.yaml', content: yamlOf([svc('ap-one'), svc('ap-two')]) }] },
      });
      const one = (await http(a, 'GET', '/v1/services/ap-one')).body;
      const two = (await http(a, 'GET', '/v1/services/ap-two')).body;
      // Someone else changes ap-two.
      const theirs = await http(b, 'PUT', '/v1/services/ap-two', {
        body: labelled('ap-two', { theirs: 'x' }),
      });
      const before = (await http(a, 'GET', '/v1/history?limit=1')).body;
      const mine = yamlOf([
        {
          ...svc('ap-one'),
          metadata: { name: 'ap-one', revision: one.updatedRevision, labels: { mine: 'x' } },
        },
        {
          ...svc('ap-two'),
          metadata: { name: 'ap-two', revision: two.updatedRevision, labels: { mine: 'x' } },
        },
        { ...svc('ap-new'), metadata: { name: 'ap-new', revision: 0 } },
      ]);
      for (const dryRun of [true, false]) {
        const r = await http(a, 'POST', '/v1/apply', {
          body: { files: [{ name: 'mine.yaml', content: mine }], dryRun },
        });
        expect(r.status, `dryRun ${dryRun}`).toBe(412);
        expect(r.body.code).toBe('API_PRECONDITION_FAILED');
        expect(r.body.errors).toHaveLength(1);
        expect(r.body.errors[0]).toMatchObject({
          field: '/metadata/revision',
          file: 'mine.yaml',
          line: expect.any(Number),
        });
        expect(r.body.errors[0].message).toContain(
          `Service ap-two: expected revision ${two.updatedRevision}, but it is at revision ${theirs.body.revision}`,
        );
      }
      // Nothing was written: no new revision, ap-one and ap-new untouched.
      expect((await http(a, 'GET', '/v1/history?limit=1')).body).toEqual(before);
      expect((await http(a, 'GET', '/v1/services/ap-one')).body.updatedRevision).toBe(
        one.updatedRevision,
      );
      expect((await http(a, 'GET', '/v1/services/ap-new')).status).toBe(404);

      // force overwrites; metadata.revision is never stored.
      const forced = await http(a, 'POST', '/v1/apply', {
        body: { files: [{ name: 'mine.yaml', content: mine }], force: true },
      });
      expect(forced.status).toBe(200);
      expect(forced.body.summary).toMatchObject({ created: 1, updated: 2 });
      const stored = (await http(a, 'GET', '/v1/services/ap-two')).body.document;
      expect(stored.metadata).toEqual({ name: 'ap-two', labels: { mine: 'x' } });
      // metadata.revision 0 now fails: ap-new exists.
      const recreate = await http(a, 'POST', '/v1/apply', {
        body: {
          files: [
            {
              name: 'new.yaml',
              content: yamlOf([{ ...svc('ap-new'), metadata: { name: 'ap-new', revision: 0 } }]),
            },
          ],
        },
      });
      expect(recreate.status).toBe(412);
      expect(recreate.body.errors[0].message).toContain('expected it not to exist');
    });

    it('a PUT body carrying a stale metadata.revision is refused like a stale If-Match', async () => {
      const put = await http(a, 'PUT', '/v1/services/body-rev', { body: svc('body-rev') });
      await http(b, 'PUT', '/v1/services/body-rev', { body: labelled('body-rev', { v: '2' }) });
      const stale = await http(a, 'PUT', '/v1/services/body-rev', {
        body: { ...svc('body-rev'), metadata: { name: 'body-rev', revision: put.body.revision } },
      });
      expect(stale.status).toBe(412);
      expect(stale.body.errors[0].field).toBe('/metadata/revision');
    });

    it('concurrent applies of overlapping sets: one wins whole, the other writes nothing', async () => {
      const names = ['set-x', 'set-y', 'set-z'];
      await http(a, 'POST', '/v1/apply', {
        body: { files: [{ name: 'set.yaml', content: yamlOf(names.map((n) => svc(n))) }] },
      });
      for (let round = 0; round < 20; round++) {
        const read = Object.fromEntries(
          await Promise.all(
            names.map(
              async (n) =>
                [n, (await http(a, 'GET', `/v1/services/${n}`)).body.updatedRevision] as const,
            ),
          ),
        );
        const set = (who: string, docs: string[]) =>
          yamlOf(
            docs.map((n) => ({
              ...svc(n),
              metadata: { name: n, revision: read[n], labels: { who, round: String(round) } },
            })),
          );
        const [wa, wb] = await Promise.all([
          http(a, 'POST', '/v1/apply', {
            body: { files: [{ name: 'a.yaml', content: set('a', ['set-x', 'set-y']) }] },
          }),
          http(b, 'POST', '/v1/apply', {
            body: { files: [{ name: 'b.yaml', content: set('b', ['set-y', 'set-z']) }] },
          }),
        ]);
        expect([wa.status, wb.status].sort(), `round ${round}`).toEqual([200, 412]);
        const winner = wa.status === 200 ? 'a' : 'b';
        const labels = async (n: string) =>
          (await http(a, 'GET', `/v1/services/${n}`)).body.document.metadata.labels?.who;
        expect(await labels('set-y')).toBe(winner);
        // The loser's other document is still at the revision read: nothing of its set was written.
        const untouched = winner === 'a' ? 'set-z' : 'set-x';
        expect((await http(b, 'GET', `/v1/services/${untouched}`)).body.updatedRevision).toBe(
          read[untouched],
        );
      }
    });

    it(`${ROUNDS} rounds of two concurrent read-then-write writers (one per replica): exactly one wins, no update is lost`, async () => {
      await http(a, 'PUT', '/v1/services/race', { body: labelled('race', {}) });
      const writer = async (base: string, key: string): Promise<number> => {
        const read = await http(base, 'GET', '/v1/services/race');
        const labels = { ...read.body.document.metadata.labels, [key]: 'x' };
        const write = await http(base, 'PUT', '/v1/services/race', {
          body: labelled('race', labels),
          headers: { 'if-match': read.headers.get('etag')! },
        });
        return write.status;
      };
      const retry = async (base: string, key: string) => {
        for (let i = 0; i < 10; i++) if ((await writer(base, key)) === 200) return;
        throw new Error(`${key} never got through`);
      };
      let conflicts = 0;
      for (let round = 0; round < ROUNDS; round++) {
        // Both read before either writes (the lost-update interleaving), then both write at once.
        const [ra, rb] = await Promise.all([
          http(a, 'GET', '/v1/services/race'),
          http(b, 'GET', '/v1/services/race'),
        ]);
        const write = (base: string, read: typeof ra, key: string) =>
          http(base, 'PUT', '/v1/services/race', {
            body: labelled('race', { ...read.body.document.metadata.labels, [key]: 'x' }),
            headers: { 'if-match': read.headers.get('etag')! },
          });
        const [wa, wb] = await Promise.all([write(a, ra, `a${round}`), write(b, rb, `b${round}`)]);
        expect([wa.status, wb.status].sort(), `round ${round}`).toEqual([200, 412]);
        conflicts++;
        // The loser reads again and gets through.
        if (wa.status === 412) await retry(a, `a${round}`);
        else await retry(b, `b${round}`);
      }
      expect(conflicts).toBe(ROUNDS);
      const labels = (await http(a, 'GET', '/v1/services/race')).body.document.metadata.labels;
      expect(Object.keys(labels)).toHaveLength(2 * ROUNDS);
      for (let round = 0; round < ROUNDS; round++) {
        expect(labels[`a${round}`]).toBe('x');
        expect(labels[`b${round}`]).toBe('x');
      }
    });
  });
}

suite('SQLite', async () => {
  const server = await startTestServer();
  return { a: server.url, b: server.url, close: () => server.close() };
});

describe.skipIf(!PG)('PostgreSQL', () => {
  suite('PostgreSQL, two replicas', async () => {
    const schema = await createPgSchema();
    const key = join(tempDir(), 'shared-signing.key');
    const [ra, rb]: RunningServer[] = await Promise.all([
      startTestServer({ database: schema.url, signingKeyFile: key }),
      startTestServer({ database: schema.url, signingKeyFile: key }),
    ]);
    return {
      a: ra!.url,
      b: rb!.url,
      async close() {
        await ra!.close();
        await rb!.close();
        await schema.drop();
      },
    };
  });
});

describe('OpenAPI', () => {
  it('declares the conditional headers, the ETag and the 412 of every document route and apply', async () => {
    const server = await startTestServer();
    try {
      const spec = (await http(server.url, 'GET', '/openapi.json')).body;
      const headerParams = (op: { parameters?: { in: string; name: string }[] }) =>
        (op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name);
      for (const kind of ['services', 'intentions']) {
        const one = spec.paths[`/v1/${kind}/{name}`];
        expect(headerParams(one.get)).toEqual(['if-none-match']);
        expect(one.get.responses['200'].headers.etag).toBeDefined();
        expect(one.get.responses['304']).toBeDefined();
        for (const op of [one.put, one.delete, spec.paths[`/v1/${kind}`].post]) {
          expect(headerParams(op)).toEqual(['if-match', 'if-none-match']);
          expect(op.responses['412'].description).toContain('API_PRECONDITION_FAILED');
        }
      }
      expect(spec.paths['/v1/apply'].post.responses['412']).toBeDefined();
    } finally {
      await server.close();
    }
  });
});

describe('conditional header parser', () => {
  it('accepts exactly * or a list of entity tags, and says which header is bad otherwise', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc
            .array(
              fc.oneof(
                fc.constant('*'),
                fc.string({ maxLength: 12 }).map((t) => `"${t}"`),
                fc.string({ maxLength: 12 }).map((t) => `W/"${t}"`),
                fc.nat().map((n) => `"r${n}"`),
              ),
              { maxLength: 80 },
            )
            .map((tags) => tags.join(', ')),
        ),
        (header) => {
          try {
            const tags = parseEntityTags(header, 'if-match');
            if (tags !== '*') {
              expect(tags.length).toBeGreaterThan(0);
              for (const t of tags) expect(t.tag).toMatch(/^"[^"]*"$/);
            }
          } catch (error) {
            expect(error).toBeInstanceOf(ServerError);
            expect((error as ServerError).code).toBe('API_VALIDATION');
            expect((error as ServerError).errors[0]?.field).toBe('headers.if-match');
          }
        },
      ),
      { numRuns: 2000 },
    );
    expect(parseEntityTags(' "r1" , W/"r2" ', 'if-match')).toEqual([
      { tag: '"r1"', weak: false },
      { tag: '"r2"', weak: true },
    ]);
    expect(parseEntityTags('*', 'if-match')).toBe('*');
  });
});
