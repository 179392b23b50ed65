import type { PolicyDocument } from '@ward/policy';
import { afterEach, describe, expect, it } from 'vitest';
import { createPdp, type Pdp } from '../src/index.ts';
import {
  bundleOf,
  fromBilling,
  fromCheckout,
  memoryLogger,
  ordersPolicy,
  signingKey,
  until,
} from './_pdp-fixture.ts';
import { type ReplayServer, startReplayServer } from './_replay-server.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function track<T extends Pdp | ReplayServer>(thing: T): T {
  cleanups.push(() => thing.close());
  return thing;
}

// A kind the policy engine does not compile: the PDP carries it for its other consumers.
const gatewayDoc = (revision: number) =>
  ({
    apiVersion: 'ward.dev/v1',
    kind: 'FutureKind',
    metadata: { name: 'orders' },
    spec: { revision },
  }) as unknown as PolicyDocument;

describe('pdp.documents() and pdp.onUpdate()', () => {
  it('carries documents of kinds the engine does not know, and reports each swap', async () => {
    const key = signingKey();
    const peer = track(await startReplayServer());
    peer.bundle = Buffer.from(
      JSON.stringify(
        bundleOf('orders', 1, [...ordersPolicy(['checkout']), gatewayDoc(1)], key.privateKey),
      ),
    );
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: [peer.url],
        publicKey: key.publicKey,
        logger: memoryLogger(),
      }),
    );
    expect(pdp.documents()).toEqual([]);
    const seen: number[] = [];
    const unsubscribe = pdp.onUpdate((revision) => {
      seen.push(revision);
      throw new Error('a failing listener does not stop the PDP');
    });
    const kinds: string[][] = [];
    pdp.onUpdate(() => kinds.push(pdp.documents().map((d) => d.kind)));
    await pdp.ready;
    expect(seen).toEqual([1]);
    expect(pdp.documents().find((d) => d.kind === ('FutureKind' as string))?.spec).toEqual({
      revision: 1,
    });
    expect(Object.isFrozen(pdp.documents())).toBe(true);
    expect(pdp.trustDomain()).toBe('test.local');
    // The engine compiled the rest: decisions work as without the extra document.
    expect(pdp.decide(fromCheckout).allowed).toBe(true);
    expect(pdp.decide(fromBilling).allowed).toBe(false);

    await until(() => pdp.status().connected === peer.url, 'watching');
    unsubscribe();
    const rev2 = bundleOf(
      'orders',
      2,
      [...ordersPolicy(['billing']), gatewayDoc(2)],
      key.privateKey,
    );
    pdp.onUpdate(() => {});
    peer.pushBundle(2, JSON.stringify(rev2));
    await until(() => pdp.revision() === 2, 'revision 2');
    expect(seen).toEqual([1]); // unsubscribed
    expect(kinds).toHaveLength(2);
    expect(pdp.documents().find((d) => d.kind === ('FutureKind' as string))?.spec).toEqual({
      revision: 2,
    });
    expect(pdp.decide(fromBilling).allowed).toBe(true);
  });

  it('refuses a listener that is not a function', () => {
    const pdp = track(
      createPdp({
        service: 'orders',
        controlPlanes: ['http://127.0.0.1:9'],
        publicKey: signingKey().publicKey,
        logger: memoryLogger(),
      }),
    );
    expect(() => pdp.onUpdate(42 as never)).toThrow(TypeError);
  });
});
