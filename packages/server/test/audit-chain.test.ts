/**
 * The tamper-evident audit log against real servers on SQLite and PostgreSQL. Someone with
 * database access lifts the append-only triggers and edits, deletes, reorders, rewrites or
 * truncates entries directly in the database; `GET /v1/audit/verify` names the first break, an
 * operator-recorded head catches a rewrite that recomputed every hash, and an untouched log
 * verifies. Also: the pure chain (property test), the migration that chains existing entries,
 * concurrent appends from two PostgreSQL replicas, the export, and backup/restore round trips.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { Migrator, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChainEntry, entryHash, GENESIS_HASH, verifyChain } from '../src/audit/chain.ts';
import { auditExportCsv } from '../src/audit/export.ts';
import type { RunningServer } from '../src/index.ts';
import { appendAudit, verifyAuditChain } from '../src/store/audit.ts';
import { openDatabase } from '../src/store/database.ts';
import { core, migrate } from '../src/store/migrations.ts';
import {
  cleanupDirs,
  createPgSchema,
  http,
  PG_URL,
  pgAvailable,
  startTestServer,
  svc,
  tempDir,
} from './helpers.ts';

const PG = await pgAvailable('audit-chain.test.ts');

afterAll(() => cleanupDirs());

/** A valid chain of `n` entries built with the real hash. */
function chain(n: number): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const f = {
      seq,
      prevHash,
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      actorId: `tok_${seq % 3}`,
      actorName: `actor-${seq % 3}`,
      action: 'documents.apply',
      target: `svc-${seq}`,
      revision: seq,
      detail: JSON.stringify({ scope: 'admin', n: seq }),
    };
    const hash = entryHash(f);
    out.push({ ...f, id: seq + 100, hash });
    prevHash = hash;
  }
  return out;
}

describe('the chain (pure)', () => {
  it('verifies an untouched chain and an empty one', () => {
    const c = chain(5);
    expect(verifyChain(c)).toEqual({ ok: true, entries: 5, head: c[4]!.hash, headSeq: 5 });
    expect(verifyChain([])).toEqual({ ok: true, entries: 0, head: GENESIS_HASH, headSeq: 0 });
  });

  it('detects any single change to any hashed field of any entry', () => {
    const fields = [
      'at',
      'actorId',
      'actorName',
      'action',
      'target',
      'detail',
      'prevHash',
    ] as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.nat(),
        fc.constantFrom(...fields, 'revision' as const),
        fc.string({ minLength: 1 }),
        (n, i, field, junk) => {
          const c = chain(n);
          const at = i % n;
          const e = c[at]!;
          const tampered =
            field === 'revision'
              ? { ...e, revision: (e.revision ?? 0) + 1 }
              : { ...e, [field]: `${e[field]}${junk}` };
          c[at] = tampered;
          const r = verifyChain(c);
          expect(r.ok).toBe(false);
          expect(r.firstBreak?.seq).toBe(at + 1);
        },
      ),
    );
  });

  it('names deletions, reorderings and a recomputed rewrite', () => {
    const c = chain(6);
    expect(verifyChain([...c.slice(0, 2), ...c.slice(3)]).firstBreak).toMatchObject({
      kind: 'sequence-gap',
      seq: 3,
    });
    expect(verifyChain(c.slice(1)).firstBreak).toMatchObject({ kind: 'sequence-gap', seq: 1 });
    // Swapped positions (seq values swapped with the rows).
    const swapped = [...c];
    [swapped[2], swapped[3]] = [
      { ...c[3]!, seq: 3 },
      { ...c[2]!, seq: 4 },
    ];
    expect(verifyChain(swapped).firstBreak).toMatchObject({ kind: 'hash-mismatch', seq: 3 });
    // An attacker who edits entry 3 and recomputes its hash breaks the link to entry 4.
    const edited = [...c];
    const e3 = { ...c[2]!, target: 'forged' };
    edited[2] = { ...e3, hash: entryHash(e3) };
    expect(verifyChain(edited).firstBreak).toMatchObject({ kind: 'prev-hash-mismatch', seq: 4 });
    // A duplicated sequence number.
    expect(verifyChain([...c.slice(0, 3), c[2]!, ...c.slice(3)]).firstBreak).toMatchObject({
      kind: 'sequence-disorder',
    });
  });

  it('an anchor must be in the chain; the stored head must be the last entry', () => {
    const c = chain(4);
    expect(verifyChain(c, { anchor: c[1]!.hash }).ok).toBe(true);
    expect(verifyChain(c, { anchor: 'ab'.repeat(32) }).firstBreak?.kind).toBe('anchor-not-found');
    expect(
      verifyChain(c.slice(0, 3), { storedHead: { seq: 4, hash: c[3]!.hash } }).firstBreak?.kind,
    ).toBe('head-mismatch');
    expect(verifyChain(c, { totalRows: 5 }).firstBreak?.kind).toBe('unchained-entry');
  });
});

/** Direct database access, as an insider with the database password has it. */
interface Tamper {
  exec(text: string, params?: unknown[]): Promise<void>;
  rows<T>(text: string, params?: unknown[]): Promise<T[]>;
  liftTriggers(): Promise<void>;
  close(): Promise<void>;
}

function sqliteTamper(file: string): Tamper {
  const db = new DatabaseSync(file, { timeout: 5000 });
  return {
    exec: async (text, params = []) => void db.prepare(text).run(...(params as never[])),
    rows: async <T>(text: string, params: unknown[] = []) =>
      db.prepare(text).all(...(params as never[])) as T[],
    liftTriggers: async () => {
      db.exec('DROP TRIGGER IF EXISTS audit_log_no_update');
      db.exec('DROP TRIGGER IF EXISTS audit_log_no_delete');
    },
    close: async () => db.close(),
  };
}

async function pgTamper(url: string): Promise<Tamper> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const num = (text: string) => {
    let i = 0;
    return text.replace(/\?/g, () => `$${++i}`);
  };
  return {
    exec: async (text, params = []) => void (await c.query(num(text), params)),
    rows: async <T>(text: string, params: unknown[] = []) =>
      (await c.query(num(text), params)).rows as T[],
    liftTriggers: async () =>
      void (await c.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only')),
    close: () => c.end(),
  };
}

type Row = Record<string, unknown> & { id: number; seq: number; hash: string };
const PAYLOAD = ['at', 'actor_id', 'actor_name', 'action', 'target', 'revision', 'detail'];

async function verify(s: RunningServer, head?: string) {
  const r = await http(s.url, 'GET', `/v1/audit/verify${head ? `?head=${head}` : ''}`);
  expect(r.status).toBe(200);
  return r.body;
}

/** Makes a few audit entries through the API: token creations and applies. */
async function activity(s: RunningServer, tag: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    expect(
      (await http(s.url, 'POST', '/v1/tokens', { body: { name: `${tag}-${i}`, scope: 'admin' } }))
        .status,
    ).toBe(201);
    expect(
      (await http(s.url, 'POST', '/v1/services', { body: svc(`${tag}-svc-${i}`) })).status,
    ).toBe(201);
  }
}

function tamperSuite(
  label: string,
  setup: () => Promise<{ server: RunningServer; tamper: Tamper; cleanup(): Promise<void> }>,
) {
  describe(`tampering on ${label}`, () => {
    let server: RunningServer;
    let db: Tamper;
    let cleanup: () => Promise<void>;
    const all = () => db.rows<Row>('SELECT * FROM audit_log ORDER BY seq');
    const setRow = async (id: number, from: Row) => {
      const cols = PAYLOAD.map((c) => `${c} = ?`).join(', ');
      await db.exec(`UPDATE audit_log SET ${cols} WHERE id = ?`, [
        ...PAYLOAD.map((c) => from[c]),
        id,
      ]);
    };

    beforeAll(async () => {
      ({ server, tamper: db, cleanup } = await setup());
      await activity(server, 'a');
    });
    afterAll(async () => {
      await db?.close();
      await server?.close();
      await cleanup?.();
    });

    it('an untouched log verifies, and appends keep it verifying', async () => {
      const r = await verify(server);
      expect(r).toMatchObject({ ok: true });
      expect(r.entries).toBeGreaterThanOrEqual(6);
      expect(r.firstBreak).toBeUndefined();
      const rows = await all();
      expect(rows.map((x) => Number(x.seq))).toEqual(rows.map((_, i) => i + 1));
      expect(r.head).toBe(rows.at(-1)!.hash);
      // The append-only triggers still refuse a plain UPDATE.
      await expect(db.exec("UPDATE audit_log SET target = 'x'")).rejects.toThrow(/append-only/);
    });

    it('detects an edited entry (UPDATE with the triggers lifted)', async () => {
      await db.liftTriggers();
      const rows = await all();
      const victim = rows[2]!;
      await db.exec("UPDATE audit_log SET actor_name = 'someone-else' WHERE id = ?", [victim.id]);
      const r = await verify(server);
      expect(r).toMatchObject({
        ok: false,
        firstBreak: { kind: 'hash-mismatch', seq: 3, id: Number(victim.id) },
      });
      await setRow(Number(victim.id), victim);
      expect((await verify(server)).ok).toBe(true);
    });

    it('detects a deleted entry', async () => {
      const rows = await all();
      const victim = rows[1]!;
      await db.exec('DELETE FROM audit_log WHERE id = ?', [victim.id]);
      expect(await verify(server)).toMatchObject({
        ok: false,
        firstBreak: { kind: 'sequence-gap', seq: 2 },
      });
      const cols = Object.keys(victim);
      await db.exec(
        `INSERT INTO audit_log (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        cols.map((c) => victim[c]),
      );
      expect((await verify(server)).ok).toBe(true);
    });

    it('detects two entries whose contents were swapped', async () => {
      const rows = await all();
      const [x, y] = [rows[1]!, rows[3]!];
      await setRow(Number(x.id), y);
      await setRow(Number(y.id), x);
      expect(await verify(server)).toMatchObject({
        ok: false,
        firstBreak: { kind: 'hash-mismatch', seq: 2 },
      });
      await setRow(Number(x.id), x);
      await setRow(Number(y.id), y);
      // Swapping the sequence numbers (moving whole entries) is caught too.
      await db.exec('UPDATE audit_log SET seq = -1 WHERE id = ?', [x.id]);
      await db.exec('UPDATE audit_log SET seq = ? WHERE id = ?', [x.seq, y.id]);
      await db.exec('UPDATE audit_log SET seq = ? WHERE id = ?', [y.seq, x.id]);
      expect(await verify(server)).toMatchObject({
        ok: false,
        firstBreak: { kind: 'hash-mismatch', seq: 2 },
      });
      await db.exec('UPDATE audit_log SET seq = -1 WHERE id = ?', [x.id]);
      await db.exec('UPDATE audit_log SET seq = ? WHERE id = ?', [y.seq, y.id]);
      await db.exec('UPDATE audit_log SET seq = ? WHERE id = ?', [x.seq, x.id]);
      expect((await verify(server)).ok).toBe(true);
    });

    it('detects a removed tail, and a recorded head catches a full rewrite', async () => {
      const before = await verify(server);
      const anchor = before.head as string;
      expect((await verify(server, anchor)).ok).toBe(true);
      const rows = await all();
      const last = rows.at(-1)!;
      await db.exec('DELETE FROM audit_log WHERE id = ?', [last.id]);
      expect((await verify(server)).firstBreak).toMatchObject({ kind: 'head-mismatch' });
      // The insider also winds the stored head back: the chain looks whole, the anchor is gone.
      const prev = rows.at(-2)!;
      await db.exec('UPDATE ward_state SET audit_seq = ?, audit_head = ? WHERE id = 1', [
        prev.seq,
        prev.hash,
      ]);
      expect((await verify(server)).ok).toBe(true);
      expect(await verify(server, anchor)).toMatchObject({
        ok: false,
        firstBreak: { kind: 'anchor-not-found' },
      });
      // A forged entry with every hash recomputed passes the chain alone, never the anchor.
      await db.exec('UPDATE audit_log SET target = ? WHERE seq = 1', ['forged']);
      let prevHash = GENESIS_HASH;
      for (const r of await all()) {
        const hash = entryHash({
          seq: Number(r.seq),
          prevHash,
          at: r.at as string,
          actorId: r.actor_id as string,
          actorName: r.actor_name as string,
          action: r.action as string,
          target: r.target as string,
          revision: r.revision === null ? null : Number(r.revision),
          detail: r.detail as string,
        });
        await db.exec('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?', [
          prevHash,
          hash,
          r.id,
        ]);
        prevHash = hash;
      }
      await db.exec('UPDATE ward_state SET audit_head = ? WHERE id = 1', [prevHash]);
      expect((await verify(server)).ok).toBe(true);
      expect((await verify(server, anchor)).firstBreak).toMatchObject({ kind: 'anchor-not-found' });
    });

    it('rejects a malformed head', async () => {
      const r = await http(server.url, 'GET', '/v1/audit/verify?head=nothex');
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('API_VALIDATION');
    });
  });
}

tamperSuite('SQLite', async () => {
  const dir = tempDir();
  const server = await startTestServer({ dataDir: dir });
  return { server, tamper: sqliteTamper(join(dir, 'ward.db')), cleanup: async () => {} };
});

describe.skipIf(!PG)('PostgreSQL', () => {
  tamperSuite('PostgreSQL', async () => {
    const schema = await createPgSchema();
    const server = await startTestServer({ database: schema.url });
    return { server, tamper: await pgTamper(schema.url), cleanup: schema.drop };
  });

  it('appends from two replicas at once keep one linear chain', async () => {
    const schema = await createPgSchema();
    const key = join(tempDir(), 'shared-signing.key');
    const [a, b] = await Promise.all([
      startTestServer({ database: schema.url, signingKeyFile: key }),
      startTestServer({ database: schema.url, signingKeyFile: key }),
    ]);
    try {
      const before = (await verify(a)).entries as number;
      const writes = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          i % 3
            ? http(i % 2 ? a.url : b.url, 'POST', '/v1/tokens', {
                body: { name: `conc-${i}`, scope: 'team', services: ['x'] },
              })
            : http(i % 2 ? a.url : b.url, 'POST', '/v1/services', { body: svc(`conc-${i}`) }),
        ),
      );
      for (const w of writes) expect(w.status).toBe(201);
      const r = await verify(b);
      expect(r).toMatchObject({ ok: true, entries: before + 24 });
    } finally {
      await a.close();
      await b.close();
      await schema.drop();
    }
  });

  it('a pg_dump / pg_restore round trip into a fresh schema still verifies', async () => {
    const src = await createPgSchema();
    const server = await startTestServer({ database: src.url });
    const srcSchema = new URL(src.url).searchParams.get('options')!.split('=')[1]!;
    const dst = `ward_restore_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await activity(server, 'dump');
      const head = (await verify(server)).head;
      await server.close();
      // Custom-format dump of the one schema, restored under a new name.
      const dump = join(tempDir(), 'ward.dump');
      execFileSync('pg_dump', ['--format=custom', `--schema=${srcSchema}`, '-f', dump, PG_URL]);
      await admin.query(`ALTER SCHEMA ${srcSchema} RENAME TO ${dst}`);
      execFileSync('pg_restore', ['--dbname', PG_URL, '--exit-on-error', dump]);
      const restored = await startTestServer({ database: src.url });
      try {
        expect(await verify(restored, head)).toMatchObject({ ok: true, head });
      } finally {
        await restored.close();
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${dst} CASCADE`);
      await admin.end();
      await src.drop();
    }
  });
});

describe('migration, export and SQLite backups', () => {
  it.each([
    ['SQLite', false],
    ['PostgreSQL', true],
  ] as const)(
    'chains the entries that existed before the chain, in id order (%s)',
    async (_, onPg) => {
      if (onPg && !PG) return;
      const schema = onPg ? await createPgSchema() : undefined;
      const opened = await openDatabase(schema?.url ?? join(tempDir(), 'old.db'));
      try {
        const pgSchema = schema
          ? (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(opened.db)).rows[0]!.s
          : undefined;
        const m = new Migrator({
          db: opened.db as never,
          provider: { getMigrations: async () => core(opened.dialect) },
          ...(pgSchema ? { migrationTableSchema: pgSchema } : {}),
        });
        const { error } = await m.migrateTo('0002_passport_zones');
        expect(error).toBeUndefined();
        for (let i = 0; i < 4; i++) {
          await sql`INSERT INTO audit_log (at, actor_id, actor_name, action, target, revision, detail)
          VALUES (${`2025-01-0${i + 1}T00:00:00.000Z`}, 'tok_old', 'old', 'token.create', ${`t${i}`}, NULL, '{"scope":"admin"}')`.execute(
            opened.db,
          );
        }
        await migrate(opened.db as never, opened.dialect);
        const r = await verifyAuditChain(opened.db);
        expect(r).toMatchObject({ ok: true, entries: 4, headSeq: 4 });
        await appendAudit(opened.db, { id: 'tok_new', name: 'new', scope: 'admin' }, 'x', 'y');
        expect(await verifyAuditChain(opened.db)).toMatchObject({ ok: true, entries: 5 });
        // The triggers are back after the backfill.
        await expect(sql`DELETE FROM audit_log`.execute(opened.db)).rejects.toThrow(/append-only/);
        await expect(sql`UPDATE audit_log SET target = 'x'`.execute(opened.db)).rejects.toThrow(
          /append-only/,
        );
      } finally {
        await opened.close();
        await schema?.drop();
      }
    },
  );

  it('exports who, what, when, revision and chain fields, with the head and verdict', async () => {
    const server = await startTestServer();
    try {
      const t0 = new Date().toISOString();
      await activity(server, 'exp');
      const x = (await http(server.url, 'GET', `/v1/audit/export?since=${t0}`)).body;
      expect(x).toMatchObject({ format: 'ward-audit-export-v1', chain: { ok: true } });
      expect(x.range.since).toBe(t0);
      expect(x.approvals).toMatch(/no separate approval step/);
      expect(x.entries).toHaveLength(6);
      const tok = x.entries.find((e: { action: string }) => e.action === 'token.create');
      expect(tok).toMatchObject({
        actorName: 'bootstrap-admin',
        actorScope: 'admin',
        target: expect.any(String),
      });
      const apply = x.entries.find((e: { action: string }) => e.action !== 'token.create');
      expect(apply.revision).toBeGreaterThan(0);
      // Each exported entry's hash can be recomputed from the export alone.
      for (const e of x.entries) expect(entryHash(e)).toBe(e.hash);
      expect(x.chain.head).toBe(x.entries.at(-1).hash);
      const all = (await http(server.url, 'GET', '/v1/audit/export')).body;
      expect(all.entries.length).toBe(all.chain.entries);
      const none = (await http(server.url, 'GET', `/v1/audit/export?until=${t0}`)).body;
      expect(none.entries.length).toBe(all.entries.length - 6);
      const csv = await http(server.url, 'GET', `/v1/audit/export?since=${t0}&format=csv`);
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      // The server's CSV is the CLI's: the same function over the same export.
      const csvAt = /exported_at: (\S+)/.exec(csv.text)![1]!;
      expect(csv.text).toBe(auditExportCsv({ ...x, exportedAt: csvAt }));
      expect(csv.text.split('\r\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(7);
      expect(csv.text).toContain(`head=${x.chain.head}`);
      const bad = await http(server.url, 'GET', '/v1/audit/export?since=yesterday');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'API_VALIDATION' });
      expect(bad.body.errors[0].field).toBe('query.since');
      expect((await http(server.url, 'GET', '/v1/audit/export?since=1h')).body.entries.length).toBe(
        all.entries.length,
      );
      const team = (
        await http(server.url, 'POST', '/v1/tokens', {
          body: { name: 'team-exp', scope: 'team', services: ['x'] },
        })
      ).body.token;
      for (const path of ['/v1/audit/export', '/v1/audit/verify'])
        expect((await http(server.url, 'GET', path, { token: team })).status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('a live SQLite backup (node:sqlite backup and VACUUM INTO) restores and still verifies', async () => {
    const dir = tempDir();
    const server = await startTestServer({ dataDir: dir });
    try {
      await activity(server, 'bk');
      const { head } = await verify(server);
      // Online backups of the running server's database file.
      const live = new DatabaseSync(join(dir, 'ward.db'), { timeout: 5000 });
      const viaApi = join(tempDir(), 'ward.db');
      await backup(live, viaApi);
      const vacuumDir = tempDir();
      live.exec(`VACUUM INTO '${join(vacuumDir, 'ward.db')}'`);
      live.close();
      for (const restoredDir of [join(viaApi, '..'), vacuumDir]) {
        const restored = await startTestServer({
          dataDir: restoredDir,
          signingKeyFile: join(dir, 'bundle-signing.key'),
        });
        try {
          expect(await verify(restored, head)).toMatchObject({ ok: true, head });
        } finally {
          await restored.close();
        }
      }
    } finally {
      await server.close();
    }
  });
});
