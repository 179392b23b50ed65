import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPdp } from '../src/index.ts';
import { cacheFile } from '../src/pdp/cache.ts';
import { floorFile } from '../src/pdp/floor.ts';
import {
  applyDocuments,
  captureBundle,
  pdpHarness,
  pdpToken,
  revisionOf,
} from './_control-plane.ts';
import {
  bundleOf,
  fromBilling,
  fromCheckout,
  memoryLogger,
  ordersPolicy,
  signingKey,
  tempDir,
  until,
} from './_pdp-fixture.ts';
import { startReplayServer } from './_replay-server.ts';

/**
 * Replay of an older signed bundle through the disk cache, against a real `ward server`
 * process: the PDP remembers the highest revision it accepted in a floor file kept apart from
 * the cache, and refuses an older cached bundle at restart while the control plane is down.
 */
describe('PDP revision floor and maxStaleness against a real control plane', () => {
  const harness = pdpHarness('pdp-replay');
  const { dir, start } = harness;
  const cacheDir = join(dir.path, 'cache');
  const floorDir = join(dir.path, 'floor');
  afterAll(() => harness.close());

  it('refuses an older cached bundle at restart, and fails closed on a stale bundle when asked', async () => {
    const database = join(dir.path, 'ward.db');
    let server = await harness.spawn({ database, dataDir: dir.path });
    await applyDocuments(server.url, ordersPolicy(['checkout']));
    const token = await pdpToken(server.url, 'orders');
    const older = await captureBundle(server.url, 'orders', token); // revision N-1
    await applyDocuments(server.url, ordersPolicy(['billing']));
    const newer = await captureBundle(server.url, 'orders', token); // revision N
    expect(revisionOf(newer)).toBeGreaterThan(revisionOf(older));

    // The PDP accepts revision N from the control plane: cache and floor both hold N.
    const pdp = start({ controlPlanes: [server.url], token, cacheDir, revisionFloor: floorDir });
    await pdp.ready;
    expect(pdp.status().revision).toBe(revisionOf(newer));
    await pdp.close();
    const floor = floorFile(floorDir, 'orders');
    expect(JSON.parse(readFileSync(floor, 'utf8'))).toEqual({
      service: 'orders',
      revision: revisionOf(newer),
    });
    expect(statSync(floor).mode & 0o777).toBe(0o600);
    expect(statSync(floorDir).mode & 0o777).toBe(0o700);

    // The control plane goes away; the attacker swaps the cache for revision N-1's signed bundle.
    await server.kill('SIGKILL');
    writeFileSync(cacheFile(cacheDir, 'orders'), older);

    const restarted = start({
      controlPlanes: [server.url],
      token,
      cacheDir,
      revisionFloor: floorDir,
    });
    const status = restarted.status();
    expect(status).toMatchObject({
      ready: false,
      revision: null,
      revisionFloor: revisionOf(newer),
    });
    expect(status.lastError?.code).toBe('PDP_REVISION_ROLLBACK');
    expect(status.lastError?.message).toMatch(/older than revision/);
    expect(status.rejected.PDP_REVISION_ROLLBACK).toBe(1);
    // Revision N-1 allowed checkout; it is not enforced: the PDP denies as not ready.
    expect(restarted.decide(fromCheckout).allowed).toBe(false);
    expect(restarted.decide(fromCheckout).reason).toMatch(/no policy bundle/);

    // Without a floor (the old behaviour) the same swap put revision N-1 back in force.
    const unprotected = start({
      controlPlanes: [server.url],
      token,
      cacheDir,
      revisionFloor: false,
    });
    expect(unprotected.status().revision).toBe(revisionOf(older));
    expect(unprotected.decide(fromCheckout).allowed).toBe(true);
    await unprotected.close();

    // The same older bundle served by a peer on the network is refused too (no cache involved).
    const peer = await startReplayServer();
    try {
      peer.bundle = older;
      const fetched = start({ controlPlanes: [peer.url], revisionFloor: floorDir });
      await until(
        () => (fetched.status().rejected.PDP_REVISION_ROLLBACK ?? 0) > 0,
        'network replay refused',
      );
      expect(fetched.status().ready).toBe(false);
      await fetched.close();
    } finally {
      await peer.close();
    }

    // maxStaleness: with the control plane down, a current cached bundle (revision N) whose
    // issue time is further back than the limit denies, and says why.
    writeFileSync(cacheFile(cacheDir, 'orders'), newer);
    const strict = start({
      controlPlanes: [server.url],
      token,
      cacheDir,
      revisionFloor: floorDir,
      maxStaleness: 1,
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(strict.status()).toMatchObject({
      ready: true,
      stale: true,
      revision: revisionOf(newer),
    });
    const denied = strict.decide(fromBilling);
    expect(denied.allowed).toBe(false);
    expect(denied.reason).toMatch(/older than maxStaleness \(1 ms\)/);
    const lenient = start({
      controlPlanes: [server.url],
      token,
      cacheDir,
      revisionFloor: floorDir,
      maxStaleness: 3_600_000,
    });
    expect(lenient.status().stale).toBe(false);
    expect(lenient.decide(fromBilling).allowed).toBe(true);

    // The control plane comes back (same database, a new port): once it confirms the bundle,
    // even the strict PDP decides again, and it goes stale again when the plane is gone.
    server = await harness.spawn({ database, dataDir: dir.path });
    const back = start({ controlPlanes: [server.url], token, cacheDir, maxStaleness: 200 });
    await until(() => back.status().connected === server.url, 'watch open');
    expect(back.status().stale).toBe(false);
    expect(back.decide(fromBilling).allowed).toBe(true);
    await server.kill('SIGKILL');
    await until(() => back.status().stale, 'stale after the control plane is gone');
    expect(back.decide(fromBilling).allowed).toBe(false);
  });

  it('keeps the cache out when the floor file is unreadable, and rewrites it from the control plane', async () => {
    const local = tempDir('pdp-floor-bad');
    try {
      const floors = join(local.path, 'floor');
      mkdirSync(floors, { mode: 0o700 });
      writeFileSync(floorFile(floors, 'orders'), '{"service":"orders","revision":"x"}');
      const pdp = createPdp({
        service: 'orders',
        controlPlanes: ['http://127.0.0.1:9'],
        publicKey: signingKey().publicKey,
        logger: memoryLogger(),
        cacheDir: join(local.path, 'cache'),
        revisionFloor: floors,
      });
      expect(pdp.status().lastError?.code).toBe('PDP_FLOOR_UNREADABLE');
      expect(pdp.status().ready).toBe(false);
      await pdp.close();
    } finally {
      local.remove();
    }
  });

  it('takes a caller-supplied floor store: refuses a cache below it, raises it on a newer bundle', async () => {
    const local = tempDir('pdp-floor-store');
    const peer = await startReplayServer();
    try {
      const key = signingKey();
      const cache = join(local.path, 'cache');
      mkdirSync(cache, { mode: 0o700 });
      writeFileSync(
        cacheFile(cache, 'orders'),
        JSON.stringify(bundleOf('orders', 3, ordersPolicy(['checkout']), key.privateKey)),
      );
      const floors = new Map<string, number>([['orders', 5]]);
      const writes: number[] = [];
      const store = {
        read: (service: string) => floors.get(service),
        async write(service: string, revision: number) {
          writes.push(revision);
          floors.set(service, revision);
        },
      };
      peer.bundle = Buffer.from(
        JSON.stringify(bundleOf('orders', 7, ordersPolicy(['billing']), key.privateKey)),
      );
      const pdp = createPdp({
        service: 'orders',
        controlPlanes: [peer.url],
        publicKey: key.publicKey,
        logger: memoryLogger(),
        cacheDir: cache,
        revisionFloor: store,
      });
      expect(pdp.status()).toMatchObject({ ready: false, revisionFloor: 5 });
      expect(pdp.status().lastError?.code).toBe('PDP_REVISION_ROLLBACK');
      await pdp.ready;
      await pdp.close();
      expect(pdp.status()).toMatchObject({ revision: 7, revisionFloor: 7 });
      expect(writes).toEqual([7]);
      expect(pdp.decide(fromBilling).allowed).toBe(true);
      expect(() =>
        createPdp({
          service: 'orders',
          controlPlanes: [peer.url],
          publicKey: key.publicKey,
          revisionFloor: {} as never,
        }),
      ).toThrow(TypeError);
    } finally {
      await peer.close();
      local.remove();
    }
  });
});
