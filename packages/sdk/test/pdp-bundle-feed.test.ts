/**
 * `createPdp({ bundleFeed })`: a PDP fed in-process (the node agent's local PDPs). The feed is a
 * relay: every envelope is verified with the PDP's own key, so a forged or older bundle from the
 * feed is refused exactly as one from a control plane.
 */
import { describe, expect, it } from 'vitest';
import { createPdp, type PdpBundleFeed } from '../src/index.ts';
import { bundleOf, memoryLogger, ordersPolicy, signingKey } from './_pdp-fixture.ts';

/** A feed whose envelopes the test pushes. */
function feed(
  initial?: unknown,
): PdpBundleFeed & { push(envelope: unknown): void; subscribers(): number } {
  const listeners = new Set<(e: unknown) => void>();
  return {
    name: 'test-feed',
    subscribe(listener) {
      listeners.add(listener);
      if (initial !== undefined) listener(initial);
      return () => listeners.delete(listener);
    },
    push: (e) => {
      for (const l of listeners) l(e);
    },
    subscribers: () => listeners.size,
  };
}
const ask = (pdp: ReturnType<typeof createPdp>, source: string) =>
  pdp.decide({ source: { service: source }, request: { method: 'GET', path: '/orders/1' } })
    .allowed;

describe('createPdp({ bundleFeed })', () => {
  it('decides from the envelope the feed holds at once, and swaps in newer ones', async () => {
    const key = signingKey();
    const f = feed(bundleOf('orders', 1, ordersPolicy(['frontend']), key.privateKey));
    const pdp = createPdp({
      service: 'orders',
      publicKey: key.publicKey,
      bundleFeed: f,
      revisionFloor: false,
      logger: memoryLogger(),
    });
    expect(pdp.status()).toMatchObject({ ready: true, revision: 1, source: 'test-feed' });
    expect(ask(pdp, 'frontend')).toBe(true);
    f.push(bundleOf('orders', 2, ordersPolicy(['checkout']), key.privateKey));
    expect(pdp.revision()).toBe(2);
    expect(ask(pdp, 'frontend')).toBe(false);
    await pdp.close();
    expect(f.subscribers()).toBe(0);
  });

  it('refuses what the feed cannot prove: another key, another service, an older revision', async () => {
    const key = signingKey();
    const forger = signingKey();
    const f = feed();
    const pdp = createPdp({
      service: 'orders',
      publicKey: key.publicKey,
      bundleFeed: f,
      revisionFloor: false,
      logger: memoryLogger(),
    });
    f.push(bundleOf('orders', 5, ordersPolicy(['mallory']), forger.privateKey));
    expect(pdp.status().ready).toBe(false);
    expect(ask(pdp, 'mallory')).toBe(false);
    f.push(bundleOf('payments', 5, ordersPolicy(['mallory']), key.privateKey));
    expect(pdp.status().ready).toBe(false);
    f.push(bundleOf('orders', 5, ordersPolicy(['frontend']), key.privateKey));
    f.push(bundleOf('orders', 4, ordersPolicy(['mallory']), key.privateKey));
    expect(pdp.revision()).toBe(5);
    expect(ask(pdp, 'mallory')).toBe(false);
    expect(Object.values(pdp.status().rejected).reduce((a, b) => a + b, 0)).toBe(3);
    await pdp.close();
  });

  it('takes no other bundle source nor credentials with it', () => {
    const key = signingKey();
    const base = { service: 'orders', publicKey: key.publicKey, bundleFeed: feed() };
    expect(() => createPdp({ ...base, controlPlanes: 'http://127.0.0.1:1' })).toThrow(
      /one of controlPlanes, agentSocket or bundleFeed/,
    );
    expect(() => createPdp({ ...base, agentSocket: '/tmp/x.sock' })).toThrow(TypeError);
    expect(() => createPdp({ ...base, token: 't' })).toThrow(/makes no requests/);
    expect(() => createPdp({ ...base, bundleFeed: {} as PdpBundleFeed })).toThrow(/subscribe/);
  });
});
