/**
 * `decision-ingest`: decisions per second that ONE control plane aggregates from 100 concurrent
 * decision-log shippers (the real SDK shipper, in a separate process).
 *
 * The control plane runs in this process (SQLite by default; `--pg` for PostgreSQL at
 * WARD_BENCH_PG_URL or 127.0.0.1:5432/test). The shippers offer `--rate` decisions per second over
 * 2,000 edges between 200 services; `per_sec` is what the control plane accepted (durable:
 * answered only after its transaction committed) in the steady-state window. `--fold` lets the
 * shipper fold identical decisions (the SDK default); without it every decision is its own wire
 * record, the worst case for the control plane.
 *
 * Peer, same run: storing every decision as its own row (what aggregation replaces), as fast as
 * node:sqlite takes them — one prepared INSERT per decision, 500 per transaction, no HTTP.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { startServer } from '@ward/server';
import pg from 'pg';
import { ingestPlugin } from '../packages/server/src/ingest/index.ts';
import { progress, round } from './_stats.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const ADMIN = 'ward-bench-admin-token-0123456789abcdef';

interface Options {
  shippers: number;
  rate: number;
  seconds: number;
  warmup: number;
  fold: boolean;
  pg: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    shippers: 100,
    rate: 80_000,
    seconds: 10,
    warmup: 3,
    fold: false,
    pg: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new TypeError(`${a} needs a positive number`);
      return v;
    };
    if (a === '--shippers') o.shippers = num();
    else if (a === '--rate') o.rate = num();
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--fold') o.fold = true;
    else if (a === '--pg') o.pg = true;
    else throw new TypeError(`unknown argument ${a}`);
  }
  return o;
}

interface Stats {
  type: string;
  recorded: number;
  shipped: number;
  dropped: number;
  failed: number;
  lastError: string | null;
  at: number;
}

async function pgSchema(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.WARD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ward_bench_${process.pid}`;
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  await c.end();
  return {
    url: `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const d = new pg.Client({ connectionString: base });
      await d.connect();
      await d.query(`DROP SCHEMA ${schema} CASCADE`);
      await d.end();
    },
  };
}

/** The peer: one row per decision into node:sqlite, 500 per transaction. */
function rawInsertPeer(records: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-raw-'));
  try {
    const db = new DatabaseSync(join(dir, 'raw.db'));
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
    db.exec(`CREATE TABLE decisions (time INTEGER, source TEXT, destination TEXT, method TEXT, path TEXT,
      effect TEXT, enforced INTEGER, rule TEXT, revision INTEGER)`);
    db.exec('CREATE INDEX decisions_time ON decisions(time)');
    const insert = db.prepare('INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const t0 = performance.now();
    for (let i = 0; i < records; i += 500) {
      db.exec('BEGIN');
      for (let j = 0; j < 500; j++) {
        insert.run(
          Date.now(),
          `svc-${j % 200}`,
          `svc-${(i + j) % 199}`,
          'GET',
          '/orders/{id}',
          'allow',
          1,
          'p#0',
          7,
        );
      }
      db.exec('COMMIT');
    }
    const ms = performance.now() - t0;
    db.close();
    return records / (ms / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const o = parseArgs(args);
  const dataDir = mkdtempSync(join(tmpdir(), 'ward-bench-ingest-'));
  const pgdb = o.pg ? await pgSchema() : undefined;
  const server = await startServer({
    dataDir,
    port: 0,
    adminToken: ADMIN,
    ...(pgdb ? { database: pgdb.url } : {}),
    plugins: [ingestPlugin()],
  });
  let child: ChildProcess | undefined;
  try {
    const res = await fetch(`${server.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      // pdp tokens are bound to one service (ingest does not yet check the binding).
      body: JSON.stringify({ name: 'bench-pdp', scope: 'pdp', services: ['bench'] }),
    });
    const { token } = (await res.json()) as { token: string };
    progress(
      `control plane ${server.url} (${server.database}); ${o.shippers} shippers offering ${o.rate}/s`,
    );
    child = fork(join(here, '_decision-ingest-worker.ts'), [
      JSON.stringify({
        url: server.url,
        token,
        shippers: o.shippers,
        services: 200,
        edges: 2000,
        rate: o.rate,
        fold: o.fold,
      }),
    ]);
    const samples: Stats[] = [];
    let final: Stats | undefined;
    child.on('message', (m: Stats) => {
      if (m.type === 'stats') samples.push(m);
      if (m.type === 'final') final = m;
    });
    const { sql } = await import('kysely');
    // Counted where it matters: decisions committed to the store (shippers get their answer
    // only after that), read at both ends of the window.
    const committed = async () => {
      const r = await sql<{
        n: string;
      }>`SELECT COALESCE(SUM(count), 0) AS n FROM ingest_decision_edges`.execute(
        server.app.ward.db,
      );
      return { n: Number(r.rows[0]!.n), at: performance.now() };
    };
    const sampleAt = async (seconds: number) => {
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return { worker: samples[samples.length - 1]!, store: await committed() };
    };
    const a = await sampleAt(o.warmup);
    progress(`warm: committed ${a.store.n}, measuring ${o.seconds}s`);
    const b = await sampleAt(o.seconds);
    const perSec = (b.store.n - a.store.n) / ((b.store.at - a.store.at) / 1000);
    const offered = (b.worker.recorded - a.worker.recorded) / ((b.worker.at - a.worker.at) / 1000);
    const shipperSide =
      (b.worker.shipped - a.worker.shipped) / ((b.worker.at - a.worker.at) / 1000);
    progress(
      `committed ${b.store.n - a.store.n} in ${round((b.store.at - a.store.at) / 1000, 2)}s; shippers saw ${Math.round(shipperSide)}/s accepted; dropped ${b.worker.dropped}; failed attempts ${b.worker.failed}`,
    );
    if (b.worker.lastError) progress(`last shipper error: ${b.worker.lastError}`);
    child.send({ type: 'stop' });
    await new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    // Cross-check: the store holds every decision the shippers say was accepted.
    const stored = await sql<{
      n: string;
    }>`SELECT COALESCE(SUM(count), 0) AS n FROM ingest_decision_edges`.execute(server.app.ward.db);
    const rows = await sql<{ n: string }>`SELECT COUNT(*) AS n FROM ingest_decision_edges`.execute(
      server.app.ward.db,
    );
    const storedDecisions = Number(stored.rows[0]!.n);
    progress(
      `store: ${storedDecisions} decisions in ${rows.rows[0]!.n} rows; shippers report ${final?.shipped} accepted`,
    );
    progress('peer: one row per decision into node:sqlite…');
    const peer = rawInsertPeer(500_000);
    return {
      database: server.database,
      shippers: o.shippers,
      services: 200,
      edges: 2000,
      fold: o.fold,
      offered_per_sec: Math.round(offered),
      per_sec: Math.round(perSec),
      shipper_side_per_sec: Math.round(shipperSide),
      dropped_by_shippers: b.worker.dropped,
      stored_decisions: storedDecisions,
      shipped_total: final?.shipped ?? null,
      stored_rows: Number(rows.rows[0]!.n),
      peer: 'raw row per decision, node:sqlite, 500 per transaction, in-process (no HTTP)',
      peer_per_sec: Math.round(peer),
      target_per_sec: 50_000,
    };
  } finally {
    child?.kill();
    await server.close();
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
