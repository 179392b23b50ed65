import type * as X509 from '@peculiar/x509';
import type { Authority } from './authority.ts';
import type { VerifiedCsr } from './csr.ts';
import { CaError } from './errors.ts';
import { SIGNING_ALGORITHM } from './keys.ts';
import { parseWorkloadId } from './spiffe-id.ts';
import { pemOf, randomSerial, x509 } from './x509.ts';

/** Default X.509-SVID lifetime: one hour. */
export const DEFAULT_X509_SVID_TTL_SECONDS = 3600;
/** Longest X.509-SVID lifetime the CA grants: 14 days. */
export const MAX_X509_SVID_TTL_SECONDS = 14 * 86400;

/** An issued X.509-SVID: the leaf and the chain to present (leaf first, then intermediate). */
export interface IssuedX509Svid {
  readonly spiffeId: string;
  /** PEM certificates, leaf first. */
  readonly chain: readonly string[];
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** Validates a TTL in seconds (1 s … 14 d). Throws `CA_BAD_TTL` naming `field`. */
export function parseTtl(
  value: unknown,
  field = 'ttlSeconds',
  max = MAX_X509_SVID_TTL_SECONDS,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new CaError(
      'CA_BAD_TTL',
      `${field}: must be a whole number of seconds from 1 to ${max}`,
      {
        field,
      },
    );
  }
  return value;
}

/**
 * Signs an X.509-SVID for `spiffeId` over the CSR's public key, per the X509-SVID standard:
 * exactly one URI SAN, CA=false, key usage critical digitalSignature only, extended key usage
 * serverAuth and clientAuth. The lifetime is `ttlSeconds` (default 1 h) but never past the
 * signing intermediate's own notAfter.
 */
export async function issueX509Svid(
  authority: Authority,
  request: {
    csr: VerifiedCsr;
    spiffeId: string;
    ttlSeconds?: number;
    dnsNames?: readonly string[];
    now?: number;
  },
): Promise<IssuedX509Svid> {
  const id = parseWorkloadId(request.spiffeId, authority.trustDomain);
  return signLeaf(authority, { ...request, spiffeId: id.id });
}

/**
 * Like {@link issueX509Svid} without the workload-path restriction; for agent identities
 * (`/ward/agent/<node>`), which only attestation may mint.
 */
export async function signLeaf(
  authority: Authority,
  request: {
    csr: VerifiedCsr;
    spiffeId: string;
    ttlSeconds?: number;
    dnsNames?: readonly string[];
    now?: number;
  },
): Promise<IssuedX509Svid> {
  const now = request.now ?? Date.now();
  const ttl = parseTtl(request.ttlSeconds ?? DEFAULT_X509_SVID_TTL_SECONDS);
  const signer = authority.intermediate;
  const notAfter = Math.min(now + ttl * 1000, signer.notAfter.getTime());
  // Backdate a little for clock skew, but never before the signer's own validity.
  const notBefore = Math.max(now - 10_000, signer.notBefore.getTime());
  if (notAfter <= now) {
    throw new CaError('CA_BAD_STATE', 'the signing intermediate has expired; rotate it');
  }
  const names: X509.JsonGeneralName[] = [{ type: 'url', value: request.spiffeId }];
  for (const dns of request.dnsNames ?? []) names.push({ type: 'dns', value: dns });
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: 'O=Ward',
    issuer: signer.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey: request.csr.publicKey,
    signingKey: authority.intermediateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(request.csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
    ],
  });
  return {
    spiffeId: request.spiffeId,
    chain: [pemOf(cert), pemOf(signer)],
    serial,
    notBefore,
    notAfter,
  };
}
