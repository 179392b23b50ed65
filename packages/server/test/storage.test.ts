/**
 * The store against BOTH SQLite (node:sqlite) and PostgreSQL, through the same migrations and
 * code. PostgreSQL gets a fresh schema per run, dropped afterwards; when it is unreachable that
 * suite is skipped with a loud warning.
 */
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSealKey, parseSealKey } from '@ward/ca';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findTokenByHash,
  generateToken,
  hashToken,
  insertToken,
  revokeToken,
} from '../src/auth/tokens.ts';
import { appendAudit, listAudit } from '../src/store/audit.ts';
import { type OpenedDatabase, openDatabase } from '../src/store/database.ts';
import { getRevision, listHistory } from '../src/store/history.ts';
import { migrate } from '../src/store/migrations.ts';
import {
  bundlePassportKeys,
  ensurePassportKey,
  rotatePassportKeys,
  sealPlaintextSecrets,
} from '../src/store/passport-keys.ts';
import { type Actor, Store } from '../src/store/store.ts';
import { cleanupDirs, createPgSchema, intention, pgAvailable, svc, tempDir } from './helpers.ts';

const PG = await pgAvailable('storage.test.ts');
// The SQLite file tests below make temp dirs outside the backend suites' own cleanup.
afterAll(() => cleanupDirs());
const actor: Actor = { id: 'tok_test', name: 'tester', scope: 'admin' };
const sealKey = parseSealKey(generateSealKey());

function storageSuite(
  label: string,
  open: () => Promise<{ opened: OpenedDatabase; drop(): Promise<void> }>,
) {
  describe(`store on ${label}`, () => {
    let opened: OpenedDatabase;
    let drop: () => Promise<void>;
    let store: Store;

    beforeAll(async () => {
      ({ opened, drop } = await open());
      await migrate(opened.db as never, opened.dialect);
      await migrate(opened.db as never, opened.dialect); // idempotent
      store = new Store(opened.db, opened.dialect, 'test.local', sealKey);
    });
    afterAll(async () => {
      await opened?.close();
      await drop?.();
    });

    it('starts at revision 0', async () => {
      expect(await store.revision()).toEqual({ revision: 0, keysRevision: 0 });
    });

    it('commits a change set as one revision with history and bundle revisions', async () => {
      const a = svc('alpha');
      const b = svc('beta');
      const i = intention('alpha-from-beta', 'alpha', ['beta']);
      const r1 = await store.transaction(
        (trx) =>
          store.commit(
            trx,
            [
              {
                kind: 'Service',
                name: 'alpha',
                action: 'created',
                before: null,
                after: a as never,
              },
              { kind: 'Service', name: 'beta', action: 'created', before: null, after: b as never },
              {
                kind: 'Intention',
                name: 'alpha-from-beta',
                action: 'created',
                before: null,
                after: i as never,
                file: 'x.yaml',
              },
            ],
            actor,
            'apply',
          ),
        true,
      );
      expect(r1).toEqual({ revision: 1, services: ['alpha', 'beta'] });
      expect(
        (await store.listDocuments({ kind: 'Intention', destination: 'alpha' })).map((d) => d.name),
      ).toEqual(['alpha-from-beta']);
      // Changing beta's document touches alpha's bundle (alpha's rules name beta), not gamma's.
      const b2 = svc('beta', { owner: 'team-b' });
      const r2 = await store.transaction((trx) =>
        store.commit(
          trx,
          [
            {
              kind: 'Service',
              name: 'beta',
              action: 'updated',
              before: b as never,
              after: b2 as never,
            },
          ],
          actor,
          'replace',
        ),
      );
      expect(r2).toEqual({ revision: 2, services: ['alpha', 'beta'] });
      expect(await store.serviceRevision('alpha')).toBe(2);
      const stored = await store.getDocument('Service', 'beta');
      expect(stored?.document).toEqual(b2);
      expect(stored?.createdRevision).toBe(1);
      expect(stored?.updatedRevision).toBe(2);

      const history = await listHistory(opened.db, { limit: 10 });
      expect(history.map((h) => h.revision)).toEqual([2, 1]);
      expect(history[1]!.changes).toHaveLength(3);
      const detail = await getRevision(opened.db, 2);
      expect(detail?.changes[0]?.diff).toEqual([
        { path: '/spec/owner', op: 'add', after: 'team-b' },
      ]);
      expect(await store.revisionsAfter(0, 10)).toEqual([
        // No Secret document changed: no secret named.
        { revision: 1, services: ['alpha', 'beta'], secrets: [] },
        { revision: 2, services: ['alpha', 'beta'], secrets: [] },
      ]);
    });

    it('rolls back a failed transaction entirely', async () => {
      const before = await store.revision();
      await expect(
        store.transaction(async (trx) => {
          await store.commit(
            trx,
            [
              {
                kind: 'Service',
                name: 'ghost',
                action: 'created',
                before: null,
                after: svc('ghost') as never,
              },
            ],
            actor,
            'apply',
          );
          throw new Error('boom');
        }, true),
      ).rejects.toThrow('boom');
      expect(await store.revision()).toEqual(before);
      expect(await store.getDocument('Service', 'ghost')).toBeUndefined();
    });

    it('keeps the audit log append-only at the database level', async () => {
      await appendAudit(opened.db, actor, 'test.action', 'target', { n: 1 });
      const [entry] = await listAudit(opened.db, { limit: 1 });
      expect(entry).toMatchObject({
        action: 'test.action',
        target: 'target',
        actor: { id: 'tok_test' },
      });
      await expect(sql`UPDATE audit_log SET action = 'x'`.execute(opened.db)).rejects.toThrow(
        /append-only/,
      );
      await expect(sql`DELETE FROM audit_log`.execute(opened.db)).rejects.toThrow(/append-only/);
      expect((await listAudit(opened.db, { limit: 10 })).length).toBeGreaterThan(0);
    });

    it('stores tokens only as hashes and revokes them', async () => {
      const token = generateToken();
      expect(token).toMatch(/^ward_[A-Za-z0-9_-]{43}$/);
      const info = await insertToken(opened.db, token, {
        name: 'ci',
        scope: 'team',
        services: ['b', 'a'],
        createdBy: 'tester',
      });
      expect(info.services).toEqual(['a', 'b']);
      const rows = await sql<{
        hash: string;
      }>`SELECT hash FROM tokens WHERE id = ${info.id}`.execute(opened.db);
      expect(rows.rows[0]!.hash).toBe(hashToken(token));
      expect(JSON.stringify(rows.rows)).not.toContain(token);
      expect((await findTokenByHash(opened.db, hashToken(token)))?.name).toBe('ci');
      expect((await revokeToken(opened.db, info.id))?.revokedAt).toBeTruthy();
      expect(await revokeToken(opened.db, 'tok_nope')).toBeUndefined();
    });

    it('rotates passport keys, keeping the previous one for verification', async () => {
      await ensurePassportKey(store);
      await ensurePassportKey(store); // only one first key
      const first = await bundlePassportKeys(opened.db, sealKey);
      expect(first).toHaveLength(1);
      const r = await rotatePassportKeys(store, actor, false);
      const keys = await bundlePassportKeys(opened.db, sealKey);
      expect(keys.map((k) => k.kid)).toEqual([r.kid, first[0]!.kid]);
      expect(await store.revision()).toEqual({ revision: r.revision, keysRevision: r.revision });
      const r2 = await rotatePassportKeys(store, actor, true);
      expect((await bundlePassportKeys(opened.db, sealKey)).map((k) => k.kid)).toEqual([r2.kid]);
      expect((await store.revisionsAfter(r.revision - 1, 10)).map((e) => e.services)).toEqual([
        ['*'],
        ['*'],
      ]);
    });

    it('keeps passport secrets sealed: never in clear in the table, bound to their key id', async () => {
      const [key] = await bundlePassportKeys(opened.db, sealKey);
      const rows = await opened.db.selectFrom('passport_keys').select(['kid', 'secret']).execute();
      expect(JSON.stringify(rows)).not.toContain(key!.key);
      for (const row of rows) expect(row.secret).toMatch(/^v1\./);
      // Another seal key cannot open them: the start fails rather than serve garbage keys.
      await expect(
        bundlePassportKeys(opened.db, parseSealKey(generateSealKey())),
      ).rejects.toMatchObject({ code: 'SERVER_UNSEAL_FAILED' });
      // A sealed secret copied into another key's row does not open (the key id is bound in).
      const other = rows.find((r) => r.kid !== key!.kid)!;
      await opened.db
        .updateTable('passport_keys')
        .set({ secret: rows.find((r) => r.kid === key!.kid)!.secret, status: 'previous' })
        .where('kid', '=', other.kid)
        .execute();
      await expect(bundlePassportKeys(opened.db, sealKey)).rejects.toMatchObject({
        code: 'SERVER_UNSEAL_FAILED',
      });
      await opened.db
        .updateTable('passport_keys')
        .set({ secret: other.secret, status: 'retired' })
        .where('kid', '=', other.kid)
        .execute();
    });

    it('seals a plaintext passport secret written by an older version', async () => {
      const active = await opened.db
        .selectFrom('passport_keys')
        .select(['kid'])
        .where('status', '=', 'active')
        .executeTakeFirstOrThrow();
      const legacy = 'bGVnYWN5LXBsYWludGV4dC1zZWNyZXQtMDEyMzQ1Njc4OQ';
      await opened.db
        .updateTable('passport_keys')
        .set({ secret: legacy })
        .where('kid', '=', active.kid)
        .execute();
      // Still served while plaintext (no outage during an upgrade) …
      expect((await bundlePassportKeys(opened.db, sealKey))[0]!.key).toBe(legacy);
      expect(await sealPlaintextSecrets(store)).toBe(1);
      expect(await sealPlaintextSecrets(store)).toBe(0);
      const row = await opened.db
        .selectFrom('passport_keys')
        .select(['secret'])
        .where('kid', '=', active.kid)
        .executeTakeFirstOrThrow();
      expect(row.secret).toMatch(/^v1\./);
      expect(row.secret).not.toContain(legacy);
      // … and the same key after sealing: passports minted before the upgrade keep verifying.
      expect((await bundlePassportKeys(opened.db, sealKey))[0]!.key).toBe(legacy);
    });
  });
}

storageSuite('SQLite (node:sqlite)', async () => {
  const dir = tempDir();
  const opened = await openDatabase(join(dir, 'nested', 'ward.db'));
  return { opened, drop: async () => cleanupDirs() };
});

describe.skipIf(!PG)('PostgreSQL', () => {
  storageSuite('PostgreSQL', async () => {
    const schema = await createPgSchema();
    const opened = await openDatabase(schema.url);
    return { opened, drop: () => schema.drop() };
  });

  it("keeps the TCP user timeout when the URL brings its own options (the test schema's search_path)", async () => {
    const schema = await createPgSchema();
    const opened = await openDatabase(schema.url);
    try {
      const show = async (name: string) =>
        (await sql<Record<string, string>>`SHOW ${sql.raw(name)}`.execute(opened.db)).rows[0]?.[
          name
        ];
      expect(await show('tcp_user_timeout')).toBe('5000'); // milliseconds
      expect(await show('search_path')).toMatch(/^ward_test_/);
    } finally {
      await opened.close();
      await schema.drop();
    }
  });
});

describe('SQLite file settings', () => {
  it('uses WAL mode and a busy timeout', async () => {
    const opened = await openDatabase(join(tempDir(), 'w.db'));
    const mode = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(opened.db);
    expect(mode.rows[0]!.journal_mode).toBe('wal');
    const busy = await sql<{ timeout: number }>`PRAGMA busy_timeout`.execute(opened.db);
    expect(Number(Object.values(busy.rows[0]!)[0])).toBe(5000);
    await opened.close();
  });

  it('creates the database and its WAL and shared-memory files owner-only (0600)', async () => {
    const dir = tempDir();
    const file = join(dir, 'data', 'ward.db');
    const opened = await openDatabase(file);
    await migrate(opened.db as never, opened.dialect); // writes: the -wal and -shm files exist now
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    await opened.close();

    // Files an older version left world-readable are tightened at the next open.
    const old = join(dir, 'old.db');
    writeFileSync(old, '');
    chmodSync(old, 0o644);
    const reopened = await openDatabase(old);
    expect(statSync(old).mode & 0o777).toBe(0o600);
    expect(reopened.warnings).toEqual([]);
    await reopened.close();
  });

  it('reports an unreachable PostgreSQL as STORE_UNREACHABLE', async () => {
    await expect(openDatabase('postgres://postgres@127.0.0.1:1/none')).rejects.toMatchObject({
      code: 'STORE_UNREACHABLE',
    });
  });
});
