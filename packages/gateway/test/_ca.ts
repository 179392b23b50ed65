/** A test CA from Ward's own CA package, issuing real SVIDs (X.509 with a SPIFFE ID URI SAN). */
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

export async function testCa(trustDomain = 'test.local') {
  const sealKey = parseSealKey(generateSealKey(), 'test');
  const authority = await openAuthority(await createAuthority({ trustDomain, sealKey }), sealKey);
  const bundlePem = trustBundlePem(authority);
  return {
    bundlePem,
    async issue(spiffeId: string, dnsNames?: string[]) {
      const keys = await generateKeyPair();
      const csr = await verifyCsr(await createCsr(keys));
      const issued = await signLeaf(authority, {
        csr,
        spiffeId,
        ...(dnsNames ? { dnsNames } : {}),
      });
      const leaf = new X509Certificate(issued.chain[0]!);
      return {
        spiffeId,
        certChainPem: issued.chain.join(''),
        keyPem: toPem(await exportPrivateKey(keys.privateKey), 'PRIVATE KEY'),
        bundlePem,
        hint: '',
        notAfter: leaf.validToDate,
        serialNumber: leaf.serialNumber,
      };
    },
  };
}
