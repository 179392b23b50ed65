import type * as X509 from '@peculiar/x509';
import { CaError } from './errors.ts';
import { derFromText } from './pem.ts';
import type { CryptoKeyPair, EcKeyAlgorithm } from './webcrypto.ts';
import { x509 } from './x509.ts';

/** A CSR whose self-signature verified: proof that the requester holds the private key. */
export interface VerifiedCsr {
  readonly publicKey: X509.PublicKey;
}

/**
 * Parses a PKCS#10 CSR (PEM, or base64 DER), checks that its key is ECDSA P-256 and that its
 * signature verifies. Names, SANs and extensions in the CSR are ignored on purpose: the CA alone
 * decides the SPIFFE ID. Throws `CA_BAD_CSR` / `CA_CSR_SIGNATURE` naming `field`.
 */
export async function verifyCsr(value: unknown, field = 'csr'): Promise<VerifiedCsr> {
  const der = derFromText(value, 'CERTIFICATE REQUEST', field, 'CA_BAD_CSR');
  let csr: X509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (cause) {
    throw new CaError('CA_BAD_CSR', `${field}: not a DER PKCS#10 certificate request`, {
      cause,
      field,
    });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  let curveOk = false;
  try {
    const spki = await csr.publicKey.export();
    curveOk =
      (spki.algorithm as EcKeyAlgorithm).name === 'ECDSA' &&
      (spki.algorithm as EcKeyAlgorithm).namedCurve === 'P-256';
  } catch {
    curveOk = false;
  }
  if (!curveOk) {
    throw new CaError(
      'CA_BAD_CSR',
      `${field}: the key must be ECDSA P-256 (got ${alg.name ?? 'unknown'}${alg.namedCurve ? ` ${alg.namedCurve}` : ''})`,
      { field },
    );
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (cause) {
    throw new CaError('CA_CSR_SIGNATURE', `${field}: the signature cannot be checked`, {
      cause,
      field,
    });
  }
  if (!ok) {
    throw new CaError('CA_CSR_SIGNATURE', `${field}: the signature does not verify`, { field });
  }
  return { publicKey: csr.publicKey };
}

/** Builds a CSR for `keys` (used by agents; the CA ignores the subject). */
export async function createCsr(keys: CryptoKeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=Ward',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return csr.toString('pem');
}
