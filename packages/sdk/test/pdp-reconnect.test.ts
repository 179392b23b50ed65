import { join } from 'node:path';
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
 * PDPs that know one control plane reconnect soon after it returns, with the DEFAULT backoff:
 * it doubles from 250 ms but is capped at 1 s (full jitter), so however long the control plane
 * was away, the next attempt is at most about a second off. Before, the cap was 30 s, and after
 * 8 s away a PDP typically waited several more seconds. A `ward server` process is killed,
 * kept down for 8 s (past 30 s worth of the old backoff's growth to multi-second waits), and
 * restarted on the same port and database.
 */
const PDPS = 20;
const DOWN_MS = 8000;
/** Stated bound from the restart to every PDP holding the new bundle: cap 1 s + fetch, 3 s. */
const BOUND_MS = 3000;

describe('PDPs reconnect soon after their only control plane returns', () => {
  const dir = tempDir('pdp-reconnect');
  const database = join(dir.path, 'ward.db');
  const dataDir = join(dir.path, 'data');
  const pdps: Pdp[] = [];
  let server: ControlPlaneProcess;

  beforeAll(async () => {
    server = await spawnControlPlane({ database, dataDir });
    await applyDocuments(server.url, ordersPolicy(['checkout']));
  });
  afterAll(async () => {
    for (const p of pdps) await p.close();
    await server?.kill('SIGKILL');
    dir.remove();
  });

  it(`${PDPS} PDPs with the default backoff get a new bundle within ${BOUND_MS} ms of the restart`, async () => {
    const token = await pdpToken(server.url, 'orders');
    for (let i = 0; i < PDPS; i++) {
      pdps.push(
        createPdp({
          service: 'orders',
          controlPlanes: server.url,
          publicKey: server.publicKey,
          token,
          logger: memoryLogger(),
        }),
      );
    }
    await Promise.all(pdps.map((p) => p.ready));
    await until(() => pdps.every((p) => p.status().connected === server.url), 'all watching');
    const port = new URL(server.url).port;
    await server.kill('SIGKILL');
    await until(() => pdps.every((p) => p.status().connected === null), 'all disconnected');
    await new Promise((r) => setTimeout(r, DOWN_MS));

    server = await spawnControlPlane({ database, dataDir, listen: `127.0.0.1:${port}` });
    const restartedAt = Date.now();
    await applyDocuments(server.url, ordersPolicy(['checkout', 'billing']));
    const took: (number | undefined)[] = pdps.map(() => undefined);
    await until(
      () => {
        pdps.forEach((p, i) => {
          if (took[i] === undefined && p.decide(fromBilling).allowed) {
            took[i] = Date.now() - restartedAt;
          }
        });
        return took.every((t) => t !== undefined);
      },
      'every PDP on the new bundle',
      BOUND_MS + 30_000,
    );
    const slowest = Math.max(...(took as number[]));
    console.log(`reconnect after restart: slowest of ${PDPS} PDPs ${slowest} ms`);
    expect(slowest).toBeLessThan(BOUND_MS);
    for (const p of pdps) expect(p.decide(fromCheckout).allowed).toBe(true);
  }, 60_000);
});
