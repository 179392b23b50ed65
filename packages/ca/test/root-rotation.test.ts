import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CaService,
  certificatesFromPem,
  createCsr,
  generateKeyPair,
  generateSealKey,
  issueX509Svid,
  MemoryCaStore,
  parseSealKey,
  verifyCsr,
  verifyX509Svid,
} from '../src/index.ts';

describe('root rotation (prepare → activate → retire)', () => {
  it('never leaves a live SVID untrusted, and retires the old root only when its SVIDs are gone', async () => {
    let now = Date.now();
    const ca = new CaService({
      store: new MemoryCaStore(),
      sealKey: parseSealKey(generateSealKey()),
      trustDomain: 'example.org',
      now: () => now,
    });
    const csr = await verifyCsr(await createCsr(await generateKeyPair()));
    const issue = async () =>
      issueX509Svid(await ca.authority(), { csr, spiffeId: 'spiffe://example.org/app', now });
    const bundle = async () =>
      certificatesFromPem(await ca.trustBundlePem()).map((d) => new X509Certificate(d));
    const verifies = async (svid: { chain: readonly string[] }, at = now) => {
      try {
        verifyX509Svid(
          svid.chain.map((p) => new X509Certificate(p).raw),
          await bundle(),
          at,
        );
        return true;
      } catch {
        return false;
      }
    };

    const old = await issue();
    const before = await bundle();
    await ca.prepareRoot();
    expect(await bundle()).toHaveLength(2);
    // Prepared, not signing: new SVIDs still chain to the old root.
    const stillOld = await issue();
    expect(stillOld.chain[1]).toBe(old.chain[1]);
    await expect(ca.prepareRoot()).rejects.toMatchObject({ code: 'CA_CONFLICT' });

    now += 10_000;
    await ca.activateRoot();
    const fresh = await issue();
    expect(new X509Certificate(fresh.chain[1]!).checkIssued(before[0]!)).toBe(false);
    expect(await verifies(old)).toBe(true);
    expect(await verifies(fresh)).toBe(true);
    await expect(ca.retireRoots()).rejects.toMatchObject({ code: 'CA_CONFLICT' });

    // After the longest SVID lifetime (1 h default) plus skew, the old root can go.
    now += 3600_000 + 61_000;
    await ca.retireRoots();
    const after = await bundle();
    expect(after).toHaveLength(1);
    expect(after[0]!.raw.equals(before[0]!.raw)).toBe(false);
    const renewed = await issue();
    expect(await verifies(renewed)).toBe(true);
    // An SVID of the old root would no longer verify (it would have expired anyway).
    expect(await verifies(old, Date.now())).toBe(false);
    await expect(ca.retireRoots()).rejects.toMatchObject({ code: 'CA_CONFLICT' });
  });
});
