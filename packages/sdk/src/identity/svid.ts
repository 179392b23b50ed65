import { X509Certificate } from 'node:crypto';
import { isWorkloadSpiffeId } from '@ward/spiffe';
import { IdentityError } from './errors.ts';

/** This workload's X.509-SVID: PEM material ready for Node's TLS options. */
export interface X509Svid {
  readonly spiffeId: string;
  /** PEM certificates, leaf first (what TLS `cert` takes). */
  readonly certChainPem: string;
  /** PKCS#8 PEM private key; in memory only. */
  readonly keyPem: string;
  /** PEM trust bundle of the SVID's trust domain (what TLS `ca` takes). */
  readonly bundlePem: string;
  readonly hint: string;
  readonly notAfter: Date;
  readonly serialNumber: string;
}

/** A Workload API `X509SVID` message as proto-loader decodes it. */
export interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}

function pem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

/** Splits concatenated DER certificates (Workload API encoding) into single DER blobs. */
export function splitDer(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < bytes.length) {
    // Each certificate is a DER SEQUENCE: 0x30, then a short or long-form length.
    if (bytes[i] !== 0x30 || i + 2 > bytes.length)
      throw new IdentityError('IDENTITY_BAD_SVID', 'malformed DER certificate list');
    let len = bytes[i + 1]!;
    let header = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || i + 2 + n > bytes.length)
        throw new IdentityError('IDENTITY_BAD_SVID', 'malformed DER length');
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + bytes[i + 2 + k]!;
      header += n;
    }
    const end = i + header + len;
    if (end > bytes.length)
      throw new IdentityError('IDENTITY_BAD_SVID', 'truncated DER certificate');
    out.push(bytes.subarray(i, end));
    i = end;
  }
  return out;
}

/** Converts a Workload API message to PEM material, checking the leaf matches the SPIFFE ID. */
export function svidFromMessage(m: X509SvidMessage): X509Svid {
  // A leaf SVID names a workload: a valid SPIFFE ID with a path (X509-SVID §3.1).
  if (!isWorkloadSpiffeId(m.spiffe_id)) {
    throw new IdentityError('IDENTITY_BAD_SVID', 'spiffe_id is not a workload SPIFFE ID');
  }
  const chain = splitDer(m.x509_svid);
  if (chain.length === 0) throw new IdentityError('IDENTITY_BAD_SVID', 'empty x509_svid');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]!);
  } catch (cause) {
    throw new IdentityError('IDENTITY_BAD_SVID', 'x509_svid is not a certificate', { cause });
  }
  if (
    leaf.subjectAltName
      ?.split(', ')
      .filter((n) => n.startsWith('URI:'))
      .join() !== `URI:${m.spiffe_id}`
  ) {
    throw new IdentityError('IDENTITY_BAD_SVID', `the certificate is not for ${m.spiffe_id}`);
  }
  return {
    spiffeId: m.spiffe_id,
    certChainPem: chain.map((c) => pem(c, 'CERTIFICATE')).join(''),
    keyPem: pem(m.x509_svid_key, 'PRIVATE KEY'),
    bundlePem: splitDer(m.bundle)
      .map((c) => pem(c, 'CERTIFICATE'))
      .join(''),
    hint: m.hint ?? '',
    notAfter: leaf.validToDate,
    serialNumber: leaf.serialNumber,
  };
}
