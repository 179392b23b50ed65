import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPdp, type Pdp } from '../src/index.ts';
import {
  applyDocuments,
  type ControlPlaneProcess,
  pdpToken,
  spawnControlPlane,
} from './_control-plane.ts';
import {
  fromBilling,
  fromCheckout,
  memoryLogger,
  ordersPolicy,
  tempDir,
  until,
} from './_pdp-fixture.ts';

/**
 * Two control-plane replicas (two `ward server` processes) on one PostgreSQL schema, sharing one
 * signing key file: a change through A reaches a PDP that watches B (LISTEN/NOTIFY between the
 * replicas), and a PDP fails over from A to B when A is killed.
 */
const PG = process.env.WARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const available = await postgresAvailable();
if (!available) {
  console.warn(
    `\n!!! SKIPPING the PDP high-availability tests: PostgreSQL is not reachable at ${PG}.\n` +
      '!!! Start it (database `test`, trust auth) or set WARD_TEST_PG to run them.\n',
  );
}

describe.skipIf(!available)('PDP with two control-plane replicas on PostgreSQL', () => {
  const schema = `ward_pdp_ha_${randomBytes(4).toString('hex')}`;
  const url = `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const dir = tempDir('pdp-ha');
  const pdps: Pdp[] = [];
  let a: ControlPlaneProcess;
  let b: ControlPlaneProcess;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    const signingKey = join(dir.path, 'bundle-signing.key');
    // Replicas on one database share the key that seals the CA keys stored in it.
    const env = { WARD_CA_KEY: randomBytes(32).toString('hex') };
    // A first: it creates the signing key file that B then reads.
    a = await spawnControlPlane({ database: url, dataDir: join(dir.path, 'a'), signingKey, env });
    b = await spawnControlPlane({ database: url, dataDir: join(dir.path, 'b'), signingKey, env });
  });

  afterAll(async () => {
    for (const p of pdps) await p.close();
    await a?.kill('SIGKILL');
    await b?.kill('SIGKILL');
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
    dir.remove();
  });

  const start = (controlPlanes: string[], token: string) => {
    const pdp = createPdp({
      service: 'orders',
      controlPlanes,
      publicKey: a.publicKey,
      token,
      logger: memoryLogger(),
      backoff: { initialMs: 50, maxMs: 500 },
    });
    pdps.push(pdp);
    return pdp;
  };

  it('shares one signing key between the replicas', () => {
    expect(b.publicKey).toBe(a.publicKey);
  });

  it('a change through replica A reaches a PDP watching replica B', async () => {
    await applyDocuments(a.url, ordersPolicy(['checkout']));
    const token = await pdpToken(a.url, 'orders');
    const onB = start([b.url], token);
    await onB.ready;
    expect(onB.decide(fromCheckout).allowed).toBe(true);
    await until(() => onB.status().connected === b.url, 'watching B');
    await applyDocuments(a.url, ordersPolicy(['billing']));
    await until(() => onB.decide(fromBilling).allowed, 'change through A seen on B');
    expect(onB.decide(fromCheckout).allowed).toBe(false);
    expect(onB.status().source).toBe(b.url);
  });

  it('fails over from A to B when A is killed, and keeps receiving changes', async () => {
    const token = await pdpToken(b.url, 'orders');
    const pdp = start([a.url, b.url], token);
    await pdp.ready;
    await until(() => pdp.status().connected === a.url, 'watching A');
    const held = pdp.status().revision;
    await a.kill('SIGKILL');
    await until(() => pdp.status().connected === b.url, 'failed over to B');
    expect(pdp.status().revision).toBe(held);
    await applyDocuments(b.url, ordersPolicy(['checkout', 'billing']));
    await until(
      () => pdp.decide(fromCheckout).allowed && pdp.decide(fromBilling).allowed,
      'change via B',
    );
    expect(pdp.status().revision).toBeGreaterThan(held!);
  });
});
