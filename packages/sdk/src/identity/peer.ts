import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isWorkloadSpiffeId, trustDomainOf } from '@ward/spiffe';
import { spiffeIdOfSubjectAltName } from '../middleware/peer.ts';

const kVerified = Symbol('ward.identity.peer');

interface Marked extends TLSSocket {
  [kVerified]?: string | null;
}

/**
 * The verified SPIFFE ID of a TLS connection's peer, or undefined. Node has already checked the
 * chain against the trust bundle (`authorized`); this adds the X509-SVID §5.2 leaf rules Node does
 * not know: the peer certificate is not a CA and carries exactly one URI SAN, a SPIFFE ID with a
 * path. `trustDomain` (optional) pins the peer's trust domain. The result is cached on the socket,
 * so a keep-alive connection pays for it once.
 */
export function peerIdentity(socket: Socket | TLSSocket, trustDomain?: string): string | undefined {
  const tls = socket as Marked;
  if (tls.encrypted !== true || tls.authorized !== true) return undefined;
  let id = tls[kVerified];
  if (id === undefined) {
    id = verifiedIdOf(tls) ?? null;
    tls[kVerified] = id;
  }
  if (id === null) return undefined;
  return trustDomain === undefined || trustDomainOf(id) === trustDomain ? id : undefined;
}

function verifiedIdOf(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerX509Certificate?.();
  if (!cert || cert.ca) return undefined;
  const id = cert.subjectAltName ? spiffeIdOfSubjectAltName(cert.subjectAltName) : undefined;
  // A leaf SVID's ID has a path (X509-SVID §3.1).
  return isWorkloadSpiffeId(id) ? id : undefined;
}

/** A check of the peer's SPIFFE ID: an exact ID, a list, or a predicate. */
export type SpiffeIdMatcher = string | readonly string[] | ((spiffeId: string) => boolean);

/** True when `id` satisfies `matcher`. */
export function matchSpiffeId(matcher: SpiffeIdMatcher, id: string): boolean {
  if (typeof matcher === 'string') return id === matcher;
  if (typeof matcher === 'function') return matcher(id);
  return matcher.includes(id);
}
