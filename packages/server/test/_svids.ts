/**
 * Real X.509-SVIDs for mTLS tests, made by Ward's own CA package: an authority for a trust
 * domain, then leaves for any SPIFFE ID (with DNS names, for a serving certificate) and lifetime.
 */
import { X509Certificate } from 'node:crypto';
import {
  createAuthority,
  createCsr,
  exportPrivateKey,
  generateKeyPair,
  generateSealKey,
  openAuthority,
  parseSealKey,
  signLeaf,
  toPem,
  trustBundlePem,
  verifyCsr,
} from '@ward/ca';

/** PEM key and chain (leaf first), and the leaf's notAfter. */
export interface TestSvid {
  key: string;
  cert: string;
  notAfter: number;
}

export interface TestCa {
  /** The trust bundle (PEM roots). */
  bundle: string;
  issue(spiffeId: string, opts?: { ttlSeconds?: number; dnsNames?: string[] }): Promise<TestSvid>;
}

export async function testCa(trustDomain: string): Promise<TestCa> {
  const sealKey = parseSealKey(generateSealKey(), 'test');
  const authority = await openAuthority(await createAuthority({ trustDomain, sealKey }), sealKey);
  return {
    bundle: trustBundlePem(authority),
    async issue(spiffeId, opts = {}) {
      const keys = await generateKeyPair();
      const csr = await verifyCsr(await createCsr(keys));
      const issued = await signLeaf(authority, { csr, spiffeId, ...opts });
      return {
        key: toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY'),
        cert: issued.chain.join(''),
        // As the certificate states it (X.509 times are whole seconds).
        notAfter: new X509Certificate(issued.chain[0]!).validToDate.getTime(),
      };
    },
  };
}
