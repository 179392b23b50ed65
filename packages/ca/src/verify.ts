import { X509Certificate as NodeCert } from 'node:crypto';
import { CaError } from './errors.ts';
import { parseSpiffeId } from './spiffe-id.ts';
import { x509 } from './x509.ts';

/** A chain that verified: the leaf's SPIFFE ID and expiry. */
export interface VerifiedX509Svid {
  readonly spiffeId: string;
  readonly notAfter: number;
  readonly leaf: NodeCert;
  /**
   * The window in which this verification holds, ms since epoch: the latest notBefore and the
   * earliest notAfter of the chain and its anchoring root (what a cache of it must honour).
   */
  readonly validFrom: number;
  readonly validUntil: number;
}

const MAX_CHAIN = 4;

/**
 * Verifies an X.509-SVID chain (DER, leaf first) against trust anchors, per X509-SVID §5:
 * RFC 5280 path validation (signatures, validity, CA flags) and the leaf rules: CA=false, no
 * keyCertSign/cRLSign, exactly one URI SAN that is a SPIFFE ID with a path. Throws
 * `CA_BAD_CERTIFICATE` saying which link failed.
 */
export function verifyX509Svid(
  chainDer: readonly Uint8Array[],
  roots: readonly NodeCert[],
  now = Date.now(),
): VerifiedX509Svid {
  const fail = (why: string): never => {
    throw new CaError('CA_BAD_CERTIFICATE', `x5c: ${why}`, { field: 'x5c' });
  };
  if (chainDer.length === 0 || chainDer.length > MAX_CHAIN) {
    return fail(`expected 1 to ${MAX_CHAIN} certificates`);
  }
  let chain: NodeCert[];
  try {
    chain = chainDer.map((d) => new NodeCert(d));
  } catch (cause) {
    throw new CaError('CA_BAD_CERTIFICATE', 'x5c: not DER X.509 certificates', {
      cause,
      field: 'x5c',
    });
  }
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (c.validFromDate.getTime() > now) fail(`certificate ${i} is not valid yet`);
    if (c.validToDate.getTime() <= now) fail(`certificate ${i} has expired`);
    if (i > 0) {
      if (!c.ca) fail(`certificate ${i} is not a CA`);
      const below = chain[i - 1]!;
      if (!below.checkIssued(c) || !below.verify(c.publicKey)) {
        fail(`certificate ${i - 1} is not signed by certificate ${i}`);
      }
    }
  }
  const top = chain.at(-1)!;
  const anchored = roots.find(
    (r) =>
      r.validToDate.getTime() > now &&
      (r.raw.equals(top.raw) || (top.checkIssued(r) && top.verify(r.publicKey))),
  );
  if (!anchored) fail('does not chain to the trust bundle');
  const leaf = chain[0]!;
  const parsed = new x509.X509Certificate(leaf.raw);
  const basic = parsed.getExtension(x509.BasicConstraintsExtension);
  if (basic?.ca) fail('the leaf is a CA certificate');
  const usage = parsed.getExtension(x509.KeyUsagesExtension);
  if (!usage) fail('the leaf has no key usage extension');
  if ((usage!.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) !== 0) {
    fail('the leaf may sign certificates');
  }
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url') ?? [];
  if (uris.length !== 1) fail(`the leaf must carry exactly one URI SAN (has ${uris.length})`);
  let id: string;
  try {
    id = parseSpiffeId(uris[0]!.value, 'x5c').id;
  } catch {
    return fail('the URI SAN is not a SPIFFE ID');
  }
  if (parseSpiffeId(id).path === '') fail('the leaf SPIFFE ID has no path');
  const certs = [...chain, anchored!];
  return {
    spiffeId: id,
    notAfter: leaf.validToDate.getTime(),
    leaf,
    validFrom: Math.max(...certs.map((c) => c.validFromDate.getTime())),
    validUntil: Math.min(...certs.map((c) => c.validToDate.getTime())),
  };
}
