/**
 * Client-certificate (mTLS) authentication: a PDP that presents its X.509-SVID is the service
 * whose SPIFFE ID the certificate carries. The TLS handshake already checked the chain against
 * the client CA; the leaf is then checked once more as an SVID (not a CA, exactly one URI SAN
 * that is a SPIFFE ID, within its validity) with the CA package's own verifier, and the result
 * is remembered per connection, so a request on a kept-alive connection costs one lookup.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { certificatesFromPem, verifyX509Svid } from '@ward/ca';

/** The SPIFFE ID a connection's client certificate proves, and when that certificate expires. */
export interface PeerSvid {
  spiffeId: string;
  /** notAfter of the leaf, ms since epoch. */
  expiresAt: number;
}

const seen = new WeakMap<Socket, PeerSvid | null>();

/** The DER chain the client sent, leaf first (issuer links end at a self-signed certificate). */
function peerChain(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && chain.length < 5) {
    chain.push(cert.raw);
    const next: DetailedPeerCertificate | undefined = cert.issuerCertificate;
    if (!next || next === cert || next.raw?.equals(cert.raw)) break;
    cert = next;
  }
  return chain;
}

/**
 * The client SVID of `socket` when it presented one that chains to `roots`, else null. Never
 * throws: a certificate that is not an SVID authenticates nothing (the request may still carry
 * a token).
 */
export function peerSvid(
  socket: Socket,
  roots: readonly X509Certificate[],
  now = Date.now(),
): PeerSvid | null {
  const tls = socket as TLSSocket;
  if (!tls.encrypted || !tls.authorized) return null;
  let found = seen.get(socket);
  if (found === undefined) {
    try {
      const v = verifyX509Svid(peerChain(tls), roots, now);
      found = { spiffeId: v.spiffeId, expiresAt: v.notAfter };
    } catch {
      found = null;
    }
    seen.set(socket, found);
  }
  return found && found.expiresAt > now ? found : null;
}

/** Certificates of a PEM trust bundle (the Ward CA's roots), for {@link peerSvid}. */
export function trustAnchors(pem: string | Buffer): X509Certificate[] {
  return certificatesFromPem(pem.toString()).map((der) => new X509Certificate(der));
}
