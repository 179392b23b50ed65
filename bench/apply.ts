/**
 * `npm run bench -- apply`: `ward apply` of 200 services and 2,000 intentions (the generated set of
 * bench/_policy-fixture.ts, one Intention document per rule) to a fresh control plane, then
 * building every service's signed bundle: `ms` (SQLite, the embedded default) and `pg_ms`
 * (PostgreSQL at 127.0.0.1:5432/test, in a throwaway schema, when reachable).
 *
 * Peer, measured in the same run: `parse_compile_ms`, the policy engine alone parsing and
 * compiling the same files — the validation floor any apply must pay. The difference is the
 * control plane's own cost (diff, one transaction of 2,200 rows with history, audit, bundles).
 * Also `reapply_ms`: the same apply again, all `unchanged` (the idempotent path).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, type IntentionDocument, type PolicyDocument, parseDocuments } from '@ward/policy';
import { startServer } from '@ward/server';
import pg from 'pg';
import { stringify } from 'yaml';
import { makePolicyFixture } from './_policy-fixture.ts';
import { progress, round } from './_stats.ts';

const PG_URL = process.env.WARD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'bench-admin-token-0123456789';

function files(): { name: string; content: string }[] {
  const { documents } = makePolicyFixture(200, 10);
  const byService = new Map<string, PolicyDocument[]>();
  for (const d of documents) {
    if (d.kind === 'Service')
      byService.set(d.metadata.name, [d, ...(byService.get(d.metadata.name) ?? [])]);
  }
  for (const d of documents) {
    if (d.kind !== 'Intention') continue;
    const i = d as IntentionDocument;
    i.spec.rules.forEach((rule, n) => {
      const one: IntentionDocument = {
        ...i,
        metadata: { name: `${i.metadata.name}-r${n}` },
        spec: { ...i.spec, rules: [rule] },
      };
      byService.get(i.spec.destination)?.push(one);
    });
  }
  return [...byService].map(([name, docs]) => ({
    name: `${name}.yaml`,
    content: docs.map((d) => stringify(d)).join('---\n'),
  }));
}

async function timeServer(
  database: string | undefined,
  input: { name: string; content: string }[],
) {
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-apply-'));
  const server = await startServer({
    dataDir: dir,
    port: 0,
    adminToken: TOKEN,
    ...(database ? { database } : {}),
  });
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ files: input });
  try {
    const t0 = performance.now();
    const res = await fetch(`${server.url}/v1/apply`, { method: 'POST', headers, body });
    const result = (await res.json()) as {
      summary?: Record<string, number>;
      code?: string;
      errors?: unknown[];
    };
    if (res.status !== 200)
      throw new Error(`apply failed: ${JSON.stringify(result).slice(0, 500)}`);
    const t1 = performance.now();
    const services = input.map((f) => f.name.replace(/\.yaml$/, ''));
    let next = 0;
    // 8 concurrent fetchers build all bundles (first GET of each builds and signs it).
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < services.length) {
          const s = services[next++]!;
          const r = await fetch(`${server.url}/v1/bundles/${s}`, { headers });
          if (r.status !== 200) throw new Error(`bundle ${s}: ${r.status}`);
          await r.arrayBuffer();
        }
      }),
    );
    const t2 = performance.now();
    const again = await fetch(`${server.url}/v1/apply`, { method: 'POST', headers, body });
    const againBody = (await again.json()) as { summary: { unchanged: number } };
    const t3 = performance.now();
    return {
      apply_ms: round(t1 - t0),
      bundles_ms: round(t2 - t1),
      ms: round(t2 - t0),
      reapply_ms: round(t3 - t2),
      summary: result.summary,
      reapply_unchanged: againBody.summary.unchanged,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pgSchema(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
  } catch (error) {
    progress(`PostgreSQL not reachable at ${PG_URL} (${(error as Error).message}): pg_ms omitted`);
    return undefined;
  }
  const schema = `ward_bench_${randomBytes(5).toString('hex')}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  return {
    url: `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export async function run(_args: string[]): Promise<Record<string, unknown>> {
  const input = files();
  const docCount = input.reduce((n, f) => n + f.content.split('\n---\n').length, 0);
  progress(
    `fixture: ${input.length} files, ${docCount} documents, ${round(input.reduce((n, f) => n + f.content.length, 0) / 1024)} KiB`,
  );

  const p0 = performance.now();
  const parsed = input.flatMap((f) => parseDocuments(f.content, f.name).documents);
  compile(parsed, { trustDomain: 'ward.local' });
  const parseCompileMs = round(performance.now() - p0);
  progress(`peer: parse + compile alone ${parseCompileMs} ms (${parsed.length} documents)`);

  progress('SQLite: apply + build all bundles…');
  const sqlite = await timeServer(undefined, input);
  progress(`SQLite: ${JSON.stringify(sqlite)}`);

  let postgres: Awaited<ReturnType<typeof timeServer>> | undefined;
  const schema = await pgSchema();
  if (schema) {
    try {
      progress('PostgreSQL: apply + build all bundles…');
      postgres = await timeServer(schema.url, input);
      progress(`PostgreSQL: ${JSON.stringify(postgres)}`);
    } finally {
      await schema.drop();
    }
  }
  return {
    services: input.length,
    intentions: parsed.filter((d) => d.document.kind === 'Intention').length,
    ms: sqlite.ms,
    apply_ms: sqlite.apply_ms,
    bundles_ms: sqlite.bundles_ms,
    reapply_ms: sqlite.reapply_ms,
    ...(postgres
      ? {
          pg_ms: postgres.ms,
          pg_apply_ms: postgres.apply_ms,
          pg_bundles_ms: postgres.bundles_ms,
          pg_reapply_ms: postgres.reapply_ms,
        }
      : {}),
    peer: 'parse+compile only (@ward/policy)',
    parse_compile_ms: parseCompileMs,
  };
}
