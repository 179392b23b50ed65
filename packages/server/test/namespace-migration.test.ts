/**
 * The start-up data migration of documents stored before namespaces (store/migrate-namespaces.ts),
 * on SQLite and PostgreSQL: a store seeded the old way (schema before 0004, documents whose
 * `metadata.namespace` only shaped the default SPIFFE ID, names global) starts, and every
 * decision, bundle name and identity means what it meant; history and audit show the migration;
 * a restart does not run it again.
 */
import { join } from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/database.ts';
import { core } from '../src/store/migrations.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  pgAvailable,
  startTestServer,
  tempDir,
} from './helpers.ts';

const PG = await pgAvailable('namespace-migration.test.ts');
afterAll(() => cleanupDirs());

const TD = 'ward.local';

/** What a server before namespaces stored: names global, `namespace` only in the SPIFFE ID. */
const OLD = [
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name: 'payments', namespace: 'shop' },
    spec: { owner: 'pay' },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {},
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name: 'legacy', namespace: 'shop' },
    spec: { spiffeId: 'spiffe://ward.local/custom/legacy' },
  },
  { apiVersion: 'ward.dev/v1', kind: 'Service', metadata: { name: 'frontend' }, spec: {} },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Service',
    metadata: { name: 'admin-ui', namespace: 'default' },
    spec: {},
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    // In namespace `shop`, but `orders` and `frontend` named the global services.
    metadata: { name: 'payments-in', namespace: 'shop' },
    spec: {
      destination: 'payments',
      rules: [
        { sources: ['orders'], action: 'allow' },
        { sources: ['frontend'], action: 'deny' },
      ],
    },
  },
  {
    apiVersion: 'ward.dev/v1',
    kind: 'Intention',
    metadata: { name: 'orders-in' },
    spec: { destination: 'orders', rules: [{ sources: ['frontend'], action: 'allow' }] },
  },
] as const;

async function seedOldStore(url: string): Promise<void> {
  const opened = await openDatabase(url);
  try {
    const pgSchema =
      opened.dialect === 'postgres'
        ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(opened.db)).rows[0]!.s
        : undefined;
    const m = new Migrator({
      db: opened.db as never,
      provider: { getMigrations: async () => core(opened.dialect) },
      ...(pgSchema ? { migrationTableSchema: pgSchema } : {}),
    });
    const { error } = await m.migrateTo('0003_audit_chain');
    expect(error).toBeUndefined();
    const at = '2026-01-01T00:00:00.000Z';
    const db = opened.db;
    await sql`UPDATE ward_state SET revision = 1 WHERE id = 1`.execute(db);
    await sql`INSERT INTO revisions (revision, at, actor_id, actor_name, operation, services)
      VALUES (1, ${at}, 'tok_old', 'old', 'apply', ${JSON.stringify(['admin-ui', 'frontend', 'legacy', 'orders', 'payments'])})`.execute(
      db,
    );
    let seq = 0;
    for (const doc of OLD) {
      const destination = doc.kind === 'Intention' ? doc.spec.destination : null;
      const body = JSON.stringify(doc);
      await sql`INSERT INTO documents (kind, name, destination, body, created_revision, updated_revision, updated_at, updated_by)
        VALUES (${doc.kind}, ${doc.metadata.name}, ${destination}, ${body}, 1, 1, ${at}, 'old')`.execute(
        db,
      );
      await sql`INSERT INTO changes (revision, seq, kind, name, action, before, after, file)
        VALUES (1, ${seq++}, ${doc.kind}, ${doc.metadata.name}, 'created', NULL, ${body}, 'old.yaml')`.execute(
        db,
      );
    }
    for (const s of ['admin-ui', 'frontend', 'legacy', 'orders', 'payments']) {
      await sql`INSERT INTO service_revisions (service, revision) VALUES (${s}, 1)`.execute(db);
    }
  } finally {
    await opened.close();
  }
}

const decide = async (base: string, destination: string, source: object) => {
  const r = await http(base, 'POST', '/v1/playground/evaluate', {
    body: { input: { destination, source, request: { method: 'GET', path: '/' } } },
  });
  expect(r.status, r.text).toBe(200);
  return r.body.decision as { allowed: boolean; rule: { policy: string; index: number } | null };
};

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
] as const)('namespace data migration (%s)', (_, onPg) => {
  it('rewrites old documents to keep their meaning, once, as one audited revision', async () => {
    if (onPg && !PG) return;
    const schema = onPg ? await createPgSchema() : undefined;
    const dataDir = tempDir();
    const database = schema?.url ?? join(dataDir, 'old.db');
    try {
      await seedOldStore(database);
      let server = await startTestServer({ dataDir, database });
      try {
        const base = server.url;
        // One revision, by system, operation migrate-namespaces, naming what it rewrote.
        const history = await http(base, 'GET', '/v1/history?limit=10');
        expect(history.body.items.map((e: { revision: number }) => e.revision)).toEqual([2, 1]);
        const migration = history.body.items[0];
        expect(migration).toMatchObject({
          operation: 'migrate-namespaces',
          actor: { id: 'system', name: 'system' },
        });
        expect(
          migration.changes.map((c: { kind: string; name: string }) => `${c.kind}/${c.name}`),
        ).toEqual([
          'Intention/payments-in',
          'Service/legacy',
          'Service/orders',
          'Service/payments',
        ]);
        // The same keys as before (names were global); a Service keeps its identity.
        const payments = await http(base, 'GET', '/v1/services/payments');
        expect(payments.body).toMatchObject({ name: 'payments', namespace: 'default' });
        expect(payments.body.document).toEqual({
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name: 'payments' },
          spec: { owner: 'pay', spiffeId: `spiffe://${TD}/ns/shop/sa/payments` },
        });
        const legacy = await http(base, 'GET', '/v1/services/legacy');
        expect(legacy.body.document.spec).toEqual({
          spiffeId: 'spiffe://ward.local/custom/legacy',
        });
        const untouched = await http(base, 'GET', '/v1/services/admin-ui');
        expect(untouched.body.document.metadata).toEqual({
          name: 'admin-ui',
          namespace: 'default',
        });
        expect(untouched.body.updatedRevision).toBe(1);
        const intention = await http(base, 'GET', '/v1/intentions/payments-in');
        expect(intention.body.document.metadata).toEqual({ name: 'payments-in' });
        expect(intention.body.document.spec.destination).toBe('payments');
        expect(
          (await http(base, 'GET', '/v1/intentions?destination=payments')).body.items.length,
        ).toBe(1);

        // Decisions as before: orders (identity ns/shop/sa/orders) may call payments; frontend
        // may not; the shop namespace owns no `shop/orders` that could now pass as orders.
        expect(
          await decide(base, 'payments', { spiffeId: `spiffe://${TD}/ns/shop/sa/orders` }),
        ).toMatchObject({ allowed: true, rule: { policy: 'payments-in', index: 0 } });
        expect(await decide(base, 'payments', { service: 'orders' })).toMatchObject({
          allowed: true,
        });
        expect(await decide(base, 'payments', { service: 'frontend' })).toMatchObject({
          allowed: false,
          rule: { policy: 'payments-in', index: 1 },
        });
        expect(
          await decide(base, 'payments', { spiffeId: `spiffe://${TD}/ns/default/sa/orders` }),
        ).toMatchObject({ allowed: false });
        expect(await decide(base, 'orders', { service: 'frontend' })).toMatchObject({
          allowed: true,
        });
        // Bundles keep their names, and say what changed at the migration's revision.
        for (const s of ['payments', 'orders', 'legacy', 'frontend']) {
          const b = await http(base, 'GET', `/v1/bundles/${s}`);
          expect(b.status, `${s}: ${b.text}`).toBe(200);
        }
        expect((await http(base, 'GET', '/v1/bundles/shop%2Fpayments')).status).toBe(404);

        const audit = await http(base, 'GET', '/v1/audit?limit=50');
        const entry = audit.body.items.find(
          (a: { action: string }) => a.action === 'documents.migrate-namespaces',
        );
        expect(entry).toMatchObject({ actor: { id: 'system', name: 'system' }, revision: 2 });
        expect((await http(base, 'GET', '/v1/audit/verify')).body.ok).toBe(true);
        // Rolling back across the migration would re-place the old documents: refused.
        const back = await http(base, 'POST', '/v1/rollback', { body: { to: 1, dryRun: true } });
        expect(back.status).toBe(409);
        expect(back.body.errors[0]).toMatchObject({
          field: '/to',
          code: 'API_ROLLBACK_BEFORE_MIGRATION',
        });
        expect(
          (await http(base, 'POST', '/v1/rollback', { body: { to: 2, dryRun: true } })).status,
        ).toBe(200);
      } finally {
        await server.close();
      }
      // A restart runs nothing again.
      server = await startTestServer({ dataDir, database });
      try {
        const h = await http(server.url, 'GET', '/v1/history?limit=10');
        expect(h.body.items[0].revision).toBe(2);
      } finally {
        await server.close();
      }
    } finally {
      await schema?.drop();
    }
  });
});

describe('a store made after namespaces', () => {
  it('gets no migration revision and keeps namespaced documents as they are', async () => {
    const dataDir = tempDir();
    let server = await startTestServer({ dataDir });
    try {
      const r = await http(server.url, 'POST', '/v1/services', {
        body: {
          apiVersion: 'ward.dev/v1',
          kind: 'Service',
          metadata: { name: 'payments', namespace: 'team-a' },
          spec: {},
        },
      });
      expect(r.status).toBe(201);
    } finally {
      await server.close();
    }
    server = await startTestServer({ dataDir });
    try {
      const h = await http(server.url, 'GET', '/v1/history?limit=10');
      expect(h.body.items.map((e: { operation: string }) => e.operation)).toEqual(['create']);
      const doc = await http(server.url, 'GET', '/v1/services/team-a%2Fpayments');
      expect(doc.body.document.metadata).toEqual({ name: 'payments', namespace: 'team-a' });
    } finally {
      await server.close();
    }
  });
});
