import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createPdp, type Decider, type Pdp } from '../src/index.ts';
import { cacheFile } from '../src/pdp/cache.ts';
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
import { type ReplayServer, startReplayServer } from './_replay-server.ts';

// A port nothing listens on: connecting fails at once with ECONNREFUSED.
const DEAD = 'http://127.0.0.1:9';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function track<T extends Pdp | ReplayServer>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

describe('createPdp without any bundle', () => {
  it('denies with a reason that says no bundle was loaded, and reports why', async () => {
    const { publicKey } = signingKey();
    const logger = memoryLogger();
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [DEAD],
        publicKey,
        logger,
        backoff: { initialMs: 50 },
      }),
    );
    const decision = pdp.decide(fromCheckout);
    expect(decision).toMatchObject({ effect: 'deny', allowed: false, enforced: true, rule: null });
    expect(decision.reason).toMatch(/no policy bundle for orders has been loaded/);
    await until(() => pdp.status().lastError !== null, 'a connection error');
    expect(pdp.status()).toMatchObject({
      ready: false,
      revision: null,
      connected: null,
      lastError: { code: 'PDP_FETCH_FAILED' },
      decisions: { deny: 1, allow: 0 },
    });
    expect(pdp.revision()).toBe(0);
    expect(pdp.passportKeys()).toEqual([]);
  });

  it('rejects `ready` with PDP_CLOSED when closed before a bundle arrived', async () => {
    const { publicKey } = signingKey();
    const pdp = createPdp({
      service: 'orders',
      controlPlanes: DEAD,
      publicKey,
      logger: memoryLogger(),
    });
    const ready = pdp.ready;
    await pdp.close();
    await expect(ready).rejects.toMatchObject({ code: 'PDP_CLOSED' });
    await pdp.close(); // idempotent
  });

  it('throws TypeError on caller misuse', () => {
    const { publicKey } = signingKey();
    const base = { service: 'orders', controlPlanes: [DEAD], publicKey };
    expect(() => createPdp({ ...base, service: '' })).toThrow(TypeError);
    expect(() => createPdp({ ...base, controlPlanes: [] })).toThrow(TypeError);
    expect(() => createPdp({ ...base, controlPlanes: ['ftp://x'] })).toThrow(/http or https/);
    expect(() => createPdp({ ...base, publicKey: 'not-a-key' })).toThrow(/publicKey\[0\]/);
    expect(() => createPdp({ ...base, readTimeoutMs: 0 })).toThrow(/readTimeoutMs/);
  });
});

describe('createPdp against a replaying peer', () => {
  it('loads, hot-swaps on a watch event, and refuses tampered, foreign, unknown-key and older bundles', async () => {
    const key = signingKey();
    const other = signingKey();
    const peer = track(await startReplayServer());
    const cache = tempDir('pdp-runtime');
    cleanups.push(() => cache.remove());
    const rev5 = bundleOf('orders', 5, ordersPolicy(['checkout']), key.privateKey);
    peer.bundle = Buffer.from(JSON.stringify(rev5));
    const logger = memoryLogger();
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [peer.url],
        publicKey: [other.publicKey, key.publicKey],
        cacheDir: cache.path,
        logger,
      }),
    );
    await pdp.ready;
    // A PDP is what the middleware takes (type-checked here by tsc).
    const decider: Decider = pdp;
    expect(decider.revision?.()).toBe(5);
    expect(decider.serviceForSpiffeId?.('spiffe://test.local/ns/shop/sa/checkout')).toBe(
      'checkout',
    );
    expect(pdp.decide(fromCheckout).allowed).toBe(true);
    expect(pdp.decide(fromBilling).allowed).toBe(false);
    expect(pdp.status()).toMatchObject({ revision: 5, source: peer.url, hash: rev5.hash });
    const keysAt5 = pdp.passportKeys();
    expect(keysAt5.map((k) => k.kid)).toEqual(['k5']);
    await until(() => pdp.status().connected === peer.url, 'watch stream open');

    // Refusals, each followed by a watch event; the bundle in use stays revision 5.
    const tampered = JSON.stringify(
      bundleOf('orders', 6, ordersPolicy(['billing']), key.privateKey),
    ).replace('\\"billing\\"', '\\"monitoring\\"');
    const cases: [Buffer, string][] = [
      [Buffer.from(tampered), 'BUNDLE_BAD_SIGNATURE'],
      [
        Buffer.from(JSON.stringify(bundleOf('payments', 7, [], key.privateKey))),
        'BUNDLE_WRONG_SERVICE',
      ],
      [
        Buffer.from(JSON.stringify(bundleOf('orders', 8, [], signingKey().privateKey))),
        'BUNDLE_UNKNOWN_KEY',
      ],
      [
        Buffer.from(JSON.stringify(bundleOf('orders', 4, ordersPolicy([]), key.privateKey))),
        'BUNDLE_ROLLBACK',
      ],
      [Buffer.from('{"payload": 1}'), 'BUNDLE_MALFORMED'],
    ];
    let revision = 5;
    for (const [body, code] of cases) {
      peer.bundle = body;
      peer.push(++revision, ['orders']);
      await until(() => (pdp.status().rejected[code] ?? 0) === 1, `a ${code} refusal`);
      expect(pdp.status().revision).toBe(5);
      expect(pdp.decide(fromCheckout).allowed).toBe(true);
      expect(
        logger.lines.some(
          (l) => l.level === 'warn' && (l.fields as { code?: string }).code === code,
        ),
      ).toBe(true);
    }
    expect(pdp.passportKeys()).toBe(keysAt5);

    // An event for another service is ignored; one for this service swaps the new bundle in.
    const rev20 = bundleOf('orders', 20, ordersPolicy(['billing']), key.privateKey);
    peer.bundle = Buffer.from(JSON.stringify(rev20));
    const before = peer.requests.length;
    peer.push(19, ['payments']);
    peer.push(20, ['orders']);
    await until(() => pdp.status().revision === 20, 'revision 20 in use');
    expect(
      peer.requests.slice(before).filter((r) => r.startsWith('GET /v1/bundles/')),
    ).toHaveLength(1);
    expect(pdp.decide(fromCheckout).allowed).toBe(false);
    expect(pdp.decide(fromBilling).allowed).toBe(true);
    expect(pdp.passportKeys()).not.toBe(keysAt5);

    // close() waits for the cache write: it holds revision 20, owner-only, written by rename
    // (no temporary file left).
    await pdp.close();
    const file = cacheFile(cache.path, 'orders');
    expect(JSON.parse(readFileSync(file, 'utf8')).hash).toBe(rev20.hash);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(cache.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // Metrics reflect the same state.
    const text = await pdp.metrics().metrics();
    expect(text).toMatch(/ward_pdp_bundle_revision 20/);
    expect(text).toMatch(/ward_pdp_bundle_rejected_total\{code="BUNDLE_ROLLBACK"\} 1/);
    expect(text).toMatch(/ward_pdp_decisions_total\{effect="allow",enforced="true"\} \d+/);
    expect(text).toMatch(/ward_pdp_watch_connected 0/);
    expect(text).toMatch(/ward_pdp_bundle_age_seconds \d/);
  });

  it('installs a bundle the watch stream pushes itself, without a fetch, and verifies it too', async () => {
    const key = signingKey();
    const peer = track(await startReplayServer());
    peer.bundle = Buffer.from(
      JSON.stringify(bundleOf('orders', 1, ordersPolicy(['checkout']), key.privateKey)),
    );
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [peer.url],
        publicKey: key.publicKey,
        logger: memoryLogger(),
      }),
    );
    await until(() => pdp.status().connected === peer.url, 'watching');
    expect(peer.watchInclude).toBe('bundle');
    const fetches = peer.requests.filter((r) => r.startsWith('GET /v1/bundles/')).length;
    const forged = bundleOf('orders', 2, ordersPolicy(['billing']), signingKey().privateKey);
    peer.pushBundle(2, JSON.stringify(forged));
    await until(() => pdp.status().rejected.BUNDLE_UNKNOWN_KEY === 1, 'forged push refused');
    const pushed = bundleOf('orders', 3, ordersPolicy(['billing']), key.privateKey);
    peer.pushBundle(3, JSON.stringify(pushed));
    await until(() => pdp.status().revision === 3, 'pushed bundle in use');
    expect(pdp.decide(fromBilling).allowed).toBe(true);
    expect(peer.requests.filter((r) => r.startsWith('GET /v1/bundles/'))).toHaveLength(fetches);
  });

  it('starts from a verified disk cache, and refuses a corrupt or tampered one without failing', async () => {
    const key = signingKey();
    const cache = tempDir('pdp-cache');
    cleanups.push(() => cache.remove());
    const file = cacheFile(cache.path, 'orders');
    const good = bundleOf('orders', 3, ordersPolicy(['checkout']), key.privateKey);
    writeFileSync(file, JSON.stringify(good), { mode: 0o600 });
    const options = {
      service: 'orders',
      controlPlanes: [DEAD],
      publicKey: key.publicKey,
      cacheDir: cache.path,
    };

    const fromCache = track(createPdp({ ...options, logger: memoryLogger() }));
    // Decides from the cache as soon as createPdp returns: no await needed.
    expect(fromCache.decide(fromCheckout).allowed).toBe(true);
    expect(fromCache.status()).toMatchObject({ ready: true, revision: 3, source: 'cache' });
    await fromCache.ready;

    for (const [content, code] of [
      ['{ not json', 'PDP_CACHE_UNREADABLE'],
      [
        JSON.stringify({ ...good, payload: good.payload.replace('checkout', 'billing') }),
        'BUNDLE_BAD_SIGNATURE',
      ],
    ] as const) {
      writeFileSync(file, content);
      const logger = memoryLogger();
      const pdp = track(createPdp({ ...options, logger }));
      expect(pdp.decide(fromCheckout).allowed).toBe(false);
      expect(pdp.status()).toMatchObject({ ready: false, rejected: { [code]: 1 } });
      expect(
        logger.lines.some(
          (l) => l.level === 'warn' && (l.fields as { code?: string }).code === code,
        ),
      ).toBe(true);
    }
  });

  it('property: whatever bytes the cache file holds, the PDP starts, refuses them with a code, and denies', async () => {
    const key = signingKey();
    const cache = tempDir('pdp-cache-fuzz');
    cleanups.push(() => cache.remove());
    const file = cacheFile(cache.path, 'orders');
    const good = JSON.stringify(bundleOf('orders', 3, ordersPolicy(['checkout']), key.privateKey));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          // A real cache file with one character changed or cut short.
          fc
            .tuple(fc.nat(good.length - 1), fc.string({ minLength: 1, maxLength: 1 }))
            .map(([at, c]) => good.slice(0, at) + c + good.slice(at + 1)),
          fc.nat(good.length - 1).map((n) => good.slice(0, n)),
        ),
        async (content) => {
          writeFileSync(file, content);
          const pdp = createPdp({
            service: 'orders',
            controlPlanes: [DEAD],
            publicKey: key.publicKey,
            cacheDir: cache.path,
            logger: memoryLogger(),
          });
          try {
            const status = pdp.status();
            if (status.ready) {
              // Only an unchanged bundle may load (e.g. the edit replaced a character by itself).
              expect(status.hash).toBe(JSON.parse(good).hash);
            } else {
              expect(Object.keys(status.rejected)).toHaveLength(1);
              expect(Object.keys(status.rejected)[0]).toMatch(/^(BUNDLE|PDP)_[A-Z_]+$/);
              expect(pdp.decide(fromCheckout).allowed).toBe(false);
            }
          } finally {
            await pdp.close();
          }
        },
      ),
      // `null` once loaded as "no cache" silently: kept as a fixed example.
      { numRuns: 60, examples: [['null'], ['{}'], ['']] },
    );
  });

  it('keeps deciding with a new bundle when the cache cannot be written, and says so', async () => {
    const key = signingKey();
    const peer = track(await startReplayServer());
    const dir = tempDir('pdp-nocache');
    cleanups.push(() => dir.remove());
    const notADir = join(dir.path, 'file');
    writeFileSync(notADir, 'x');
    peer.bundle = Buffer.from(
      JSON.stringify(bundleOf('orders', 1, ordersPolicy(['checkout']), key.privateKey)),
    );
    const logger = memoryLogger();
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [peer.url],
        publicKey: key.publicKey,
        cacheDir: notADir,
        // The floor would default to the same unusable folder; this test is about the cache.
        revisionFloor: false,
        logger,
      }),
    );
    expect(pdp.status().lastError?.code).toBe('PDP_CACHE_WRITE_FAILED');
    await pdp.ready;
    await pdp.close(); // waits for the failed write
    expect(pdp.decide(fromCheckout).allowed).toBe(true);
    expect(pdp.status()).toMatchObject({
      revision: 1,
      rejected: {},
      lastError: { code: 'PDP_CACHE_WRITE_FAILED' },
    });
    expect(logger.lines.filter((l) => l.message.includes('cache'))).toHaveLength(2);
  });

  it('takes a silent watch stream for dead after readTimeoutMs and fails over to the next control plane', async () => {
    const key = signingKey();
    const silent = track(await startReplayServer());
    const healthy = track(await startReplayServer());
    silent.watchMode = 'hang';
    silent.bundle = Buffer.from(
      JSON.stringify(bundleOf('orders', 1, ordersPolicy(['checkout']), key.privateKey)),
    );
    healthy.bundle = Buffer.from(
      JSON.stringify(bundleOf('orders', 2, ordersPolicy(['billing']), key.privateKey)),
    );
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [silent.url, healthy.url],
        publicKey: key.publicKey,
        readTimeoutMs: 300,
        backoff: { initialMs: 20 },
        logger: memoryLogger(),
      }),
    );
    await until(() => pdp.status().connected === healthy.url, 'failover to the healthy peer');
    expect(pdp.status()).toMatchObject({ revision: 2, source: healthy.url });
    expect(silent.requests).toContain('GET /v1/watch');
  });
});
