/**
 * The demo's secrets, delivered by Ward (issue 16). Payments takes charges only with its API key
 * (`shop/payments-api-key`, examples/demo/secrets.yaml): orders sends the current version, which
 * it reads through the node agent with `connectSecrets`; payments accepts every version valid
 * now. The demo rotates the key once shortly after it starts, as an operator would with
 * `ward secret rotate`, and the control plane rotates it every minute after that: the status line
 * counts the rotations and the requests refused for a wrong key (none: a new key becomes the one
 * callers send only after every holder has it, and the old one stays accepted for a grace period).
 *
 * With `--postgres URL`, inventory also gets its database login from Ward: a `postgres` secret
 * leases it a role of its own (`CREATE ROLE … VALID UNTIL`), renewed while inventory runs and
 * revoked when it stops; inventory checks the login every few seconds.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { connectSecrets, type SecretsClient } from '@ward/sdk';
import { quoteIdent } from '@ward/secrets';
import pg from 'pg';
import type { DemoControlPlane } from './control-plane.ts';

/** The header orders sends the API key in. */
export const API_KEY_HEADER = 'x-api-key';
const API_KEY = 'payments-api-key';
const API_KEY_PATH = `/v1/secrets/${encodeURIComponent('shop/payments-api-key')}`;
/** When the demo rotates the key itself (the schedule's first rotation comes a minute later). */
const FIRST_ROTATION_MS = 15_000;
const DB_SECRET = 'inventory-db';
const DB_CHECK_MS = 5000;

/** What the status line and the banner show. */
export interface SecretsStats {
  /** The API key version orders sends now. */
  apiKeyVersion: number;
  /** Versions orders switched to since the start. */
  rotations: number;
  /** Charges payments refused for a missing or wrong key. */
  refused: number;
  /** The inventory login, with `--postgres`. */
  database?: { role: string; checks: number; failures: number; lastError?: string };
}

export interface DemoSecrets {
  /** The API key orders sends now. */
  apiKey(): string;
  /** Whether payments accepts `presented` now (any valid version; constant time per version). */
  accepts(presented: string | undefined): boolean;
  stats(): SecretsStats;
  close(): Promise<void>;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Connects orders and payments to their API key through the agent at `socketPath`, and (with
 * `postgresUrl`) inventory to its database login. Undefined when the policies in use declare no
 * `shop/payments-api-key`; throws when the agent does not deliver what is declared.
 */
export async function startDemoSecrets(options: {
  cp: DemoControlPlane;
  socketPath: string;
  postgresUrl?: string;
  warn: (message: string) => void;
}): Promise<DemoSecrets | undefined> {
  const { cp, socketPath } = options;
  // Policies kept from a run before secrets, or another policy folder, may not declare the key:
  // the demo then runs without the check (the caller says so) rather than not at all.
  const summary = await cp
    .admin<{ currentVersion: number | null; type: string }>('GET', API_KEY_PATH)
    .catch((error: unknown) => {
      if ((error as { cause?: { status?: number } }).cause?.status === 404) return undefined;
      throw error;
    });
  if (summary === undefined) return undefined;
  // A random secret's first version comes from the rotation leader's next tick; ask for it now
  // so the services start with a key.
  if (summary.currentVersion === null) await cp.admin('POST', `${API_KEY_PATH}/rotate`);
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const orders = await connectSecrets({ socketPath, service: 'shop/orders', names: [API_KEY] });
    closers.push(() => orders.close());
    const payments = await connectSecrets({
      socketPath,
      service: 'shop/payments',
      names: [API_KEY],
    });
    closers.push(() => payments.close());
    const stats: SecretsStats = {
      apiKeyVersion: orders.get(API_KEY).version,
      rotations: 0,
      refused: 0,
    };
    const unwatch = orders.watch(API_KEY, (v) => {
      if (v && v.version !== stats.apiKeyVersion) {
        stats.apiKeyVersion = v.version;
        stats.rotations++;
      }
    });
    closers.push(unwatch);
    const first = setTimeout(() => {
      cp.admin('POST', `${API_KEY_PATH}/rotate`).catch((e: Error) =>
        options.warn(`rotating the API key: ${e.message}`),
      );
    }, FIRST_ROTATION_MS);
    first.unref();
    closers.push(() => clearTimeout(first));
    if (options.postgresUrl) {
      closers.push(await databaseLogin(cp, socketPath, options.postgresUrl, stats, options.warn));
    }
    return {
      apiKey: () => orders.get(API_KEY).value ?? '',
      accepts(presented) {
        const ok =
          presented !== undefined &&
          payments
            .valid(API_KEY)
            .some(
              (v) => v.value !== undefined && timingSafeEqual(digest(v.value), digest(presented)),
            );
        if (!ok) stats.refused++;
        return ok;
      },
      stats: () => stats,
      async close() {
        for (const c of closers.reverse()) await c();
      },
    };
  } catch (error) {
    for (const c of closers.reverse()) await c();
    throw error;
  }
}

/**
 * Declares the database login (a static admin-URL secret and a `postgres` secret read by
 * inventory), takes it through the agent, and checks it every few seconds. Returns the closer:
 * closing the client is the last watcher leaving, so the agent revokes the lease.
 */
async function databaseLogin(
  cp: DemoControlPlane,
  socketPath: string,
  postgresUrl: string,
  stats: SecretsStats,
  warn: (message: string) => void,
): Promise<() => Promise<void>> {
  const database = new URL(postgresUrl).pathname.slice(1) || 'postgres';
  const doc = (name: string, spec: object) =>
    JSON.stringify({
      apiVersion: 'ward.dev/v1',
      kind: 'Secret',
      metadata: { name, namespace: 'shop' },
      spec,
    });
  await cp.admin('POST', '/v1/apply', {
    files: [
      { name: 'pg-admin.json', content: doc('pg-admin', { owner: 'inventory', readers: [] }) },
      {
        name: 'inventory-db.json',
        content: doc(DB_SECRET, {
          owner: 'inventory',
          readers: ['inventory'],
          type: 'postgres',
          postgres: {
            connection: 'pg-admin',
            ttl: '5m',
            maxTtl: '1h',
            grants: [`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO {{name}}`],
          },
        }),
      },
    ],
    dryRun: false,
  });
  await cp.admin('PUT', `/v1/secrets/${encodeURIComponent('shop/pg-admin')}`, {
    data: { url: postgresUrl },
  });
  const inventory: SecretsClient = await connectSecrets({
    socketPath,
    service: 'shop/inventory',
    names: [DB_SECRET],
    timeoutMs: 15_000,
  });
  const db: NonNullable<SecretsStats['database']> = {
    role: inventory.get(DB_SECRET).data.username ?? '?',
    checks: 0,
    failures: 0,
  };
  stats.database = db;
  let running: Promise<void> | undefined;
  const check = async () => {
    const login = inventory.get(DB_SECRET).data;
    db.role = login.username ?? '?';
    const client = new pg.Client({ connectionString: login.url });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT current_user');
      db.checks++;
    } catch (error) {
      db.failures++;
      db.lastError = (error as Error).message;
      warn(`inventory's database login failed: ${db.lastError}`);
    } finally {
      await client.end().catch(() => {});
    }
  };
  await check();
  const timer = setInterval(() => {
    running ??= check().finally(() => {
      running = undefined;
    });
  }, DB_CHECK_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    inventory.close();
  };
}
