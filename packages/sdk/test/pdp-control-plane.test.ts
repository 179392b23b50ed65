import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyDocuments,
  captureBundle,
  pdpHarness,
  pdpToken,
  revisionOf,
} from './_control-plane.ts';
import { fromBilling, fromCheckout, ordersPolicy, until } from './_pdp-fixture.ts';
import { startReplayServer } from './_replay-server.ts';

/**
 * The PDP against a real `ward server` process (SQLite): a change reaches it, SIGKILL of the
 * control plane changes nothing, a PDP started while it is down decides from its disk cache, and
 * real bundles captured from it, replayed tampered or older by a loopback peer, are refused.
 */
describe('PDP against a real control-plane process', () => {
  const harness = pdpHarness('pdp-cp');
  const { dir, start } = harness;
  const cacheDir = join(dir.path, 'cache');
  afterAll(() => harness.close());

  it('runs the whole life cycle', async () => {
    const server = await harness.spawn({ database: join(dir.path, 'ward.db'), dataDir: dir.path });
    await applyDocuments(server.url, ordersPolicy(['checkout']));
    const token = await pdpToken(server.url, 'orders');
    const older = await captureBundle(server.url, 'orders', token);

    // 1. A running PDP picks up an intention change through its watch stream.
    const pdp = start({ controlPlanes: [server.url], token, cacheDir });
    await pdp.ready;
    expect(pdp.decide(fromCheckout).allowed).toBe(true);
    expect(pdp.decide(fromBilling).allowed).toBe(false);
    await until(() => pdp.status().connected === server.url, 'watch open');
    await applyDocuments(server.url, ordersPolicy(['billing']));
    await until(() => pdp.decide(fromBilling).allowed, 'the change reaches the PDP');
    expect(pdp.decide(fromCheckout).allowed).toBe(false);
    const newer = await captureBundle(server.url, 'orders', token);
    expect(revisionOf(newer)).toBeGreaterThan(revisionOf(older));
    expect(pdp.status().revision).toBe(revisionOf(newer));

    // A wrong token, another service's token and an unknown service get their own codes.
    const badToken = start({ controlPlanes: [server.url], token: 'not-a-token' });
    const otherService = start({ controlPlanes: [server.url], token, service: 'billing' });
    const unknown = start({
      controlPlanes: [server.url],
      token: await pdpToken(server.url, 'no-such-service'),
      service: 'no-such-service',
    });
    await until(() => badToken.status().lastError?.code === 'PDP_UNAUTHORIZED', '401 seen');
    await until(() => otherService.status().lastError?.code === 'PDP_UNAUTHORIZED', '403 seen');
    await until(() => unknown.status().lastError?.code === 'PDP_SERVICE_UNKNOWN', '404 seen');
    await badToken.close();
    await otherService.close();
    await unknown.close();

    // 2. SIGKILL: the stream breaks, decisions stay exactly as they were.
    const before = pdp.status().revision;
    await server.kill('SIGKILL');
    await until(
      () => pdp.status().connected === null && pdp.status().lastError !== null,
      'disconnect seen',
    );
    expect(pdp.status()).toMatchObject({ revision: before, ready: true });
    expect(pdp.decide(fromBilling).allowed).toBe(true);
    expect(pdp.decide(fromCheckout).allowed).toBe(false);

    // 3. A service started while the control plane is down decides from its disk cache at once.
    const restarted = start({ controlPlanes: [server.url], token, cacheDir });
    expect(restarted.status()).toMatchObject({ ready: true, source: 'cache', revision: before });
    expect(restarted.decide(fromBilling).allowed).toBe(true);
    expect(restarted.decide(fromCheckout).allowed).toBe(false);

    // 4. Captured real bundles replayed by a loopback peer: an older revision, then flipped bytes.
    const peer = await startReplayServer();
    try {
      peer.bundle = older;
      const fromCache = start({ controlPlanes: [peer.url], cacheDir: join(dir.path, 'cache') });
      await until(() => (fromCache.status().rejected.BUNDLE_ROLLBACK ?? 0) > 0, 'rollback refused');
      expect(fromCache.status().revision).toBe(before);
      expect(fromCache.decide(fromBilling).allowed).toBe(true);

      const text = newer.toString('utf8');
      const at = text.indexOf('billing');
      expect(at).toBeGreaterThan(0);
      const flipped = Buffer.from(newer);
      flipped[at] = 'B'.charCodeAt(0); // one byte of the signed payload
      peer.bundle = flipped;
      const fresh = start({ controlPlanes: [peer.url] });
      await until(
        () => (fresh.status().rejected.BUNDLE_BAD_SIGNATURE ?? 0) > 0,
        'tampering refused',
      );
      expect(fresh.status().ready).toBe(false);
      expect(fresh.decide(fromBilling).allowed).toBe(false);
      expect(fresh.decide(fromBilling).reason).toMatch(/no policy bundle/);
      await fresh.close();
      await fromCache.close();
    } finally {
      await peer.close();
    }
  });
});
