import type { PeerCertificate } from 'node:tls';
import { isSpiffeId, isWorkloadSpiffeId } from '@ward/spiffe';

/**
 * The SPIFFE ID of an (already chain-verified) peer certificate, per the X509-SVID leaf rules:
 * not a CA, exactly one URI SAN, a well-formed SPIFFE ID with a path. Else undefined.
 */
export function spiffeIdOfCertificate(cert: PeerCertificate | undefined): string | undefined {
  const san = cert?.subjectaltname;
  if (typeof san !== 'string' || cert?.ca === true) return undefined;
  const id = spiffeIdOfSubjectAltName(san);
  return isWorkloadSpiffeId(id) ? id : undefined;
}

/**
 * Parses Node's `subjectaltname` text (`DNS:a, URI:spiffe://td/x`). Node quotes a value that
 * contains `,` or quotes (JSON string syntax); such a value can never be a valid SPIFFE ID, so a
 * quoted URI counts as a URI SAN (it still makes "exactly one" fail) but is never returned.
 */
export function spiffeIdOfSubjectAltName(san: string): string | undefined {
  if (san.length > 16_384) return undefined;
  let found: string | undefined;
  let uris = 0;
  let i = 0;
  while (i < san.length) {
    let end: number;
    let value: string;
    const colon = san.indexOf(':', i);
    if (colon < 0) break;
    const type = san.slice(i, colon);
    if (san.charCodeAt(colon + 1) === 34 /* " */) {
      // Quoted value: skip to the closing quote, honouring backslash escapes.
      let j = colon + 2;
      while (j < san.length && san.charCodeAt(j) !== 34) j += san.charCodeAt(j) === 92 ? 2 : 1;
      end = j + 1;
      value = '';
    } else {
      end = san.indexOf(', ', colon + 1);
      if (end < 0) end = san.length;
      value = san.slice(colon + 1, end);
    }
    if (type === 'URI') {
      uris++;
      if (isSpiffeId(value)) found = value;
    }
    i = end;
    if (san.startsWith(', ', i)) i += 2;
    else if (i < san.length) i++;
  }
  return uris === 1 ? found : undefined;
}

/** SPIFFE ID checks come from the one implementation in `@ward/spiffe`. */
export { isSpiffeId, serviceByConvention, trustDomainOf } from '@ward/spiffe';
