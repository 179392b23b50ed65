import type {
  PeerCertificate,
  SecureContextOptions,
  Server,
  TLSSocket,
  TlsOptions,
} from 'node:tls';
import { spiffeIdOfSubjectAltName } from '../middleware/peer.ts';
import { matchSpiffeId, peerIdentity, type SpiffeIdMatcher } from './peer.ts';
import type { X509Svid } from './svid.ts';

/** Key, chain and trust bundle of an SVID, TLS 1.3 only. */
export function secureContextOptions(svid: X509Svid): SecureContextOptions {
  return { key: svid.keyPem, cert: svid.certChainPem, ca: svid.bundlePem, minVersion: 'TLSv1.3' };
}

/** Server TLS options that demand and verify a client SVID against the bundle. */
export function serverTlsOptions(svid: X509Svid): TlsOptions {
  return { ...secureContextOptions(svid), requestCert: true, rejectUnauthorized: true };
}

/**
 * A `checkServerIdentity` that replaces hostname checks with SPIFFE ID checks: SPIFFE servers are
 * named by their URI SAN, and Node never looks at URI SANs. The chain itself was already
 * verified against the trust bundle (`rejectUnauthorized`).
 */
export function spiffeServerIdentityCheck(
  expect: SpiffeIdMatcher | undefined,
  trustDomain: string,
) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    if (cert.ca) return refused('the server presented a CA certificate, not an SVID');
    const id =
      typeof cert.subjectaltname === 'string'
        ? spiffeIdOfSubjectAltName(cert.subjectaltname)
        : undefined;
    if (id === undefined) return refused('the server certificate has no single SPIFFE ID');
    const ok =
      expect === undefined ? id.startsWith(`spiffe://${trustDomain}/`) : matchSpiffeId(expect, id);
    return ok ? undefined : refused(`server SPIFFE ID ${id} is not the one expected`);
  };
}

/** Node's code for a server name mismatch, so callers classify it like a host name check. */
function refused(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
}

/**
 * Closes every TLS connection of `server` whose peer is not an SVID accepted by `authorize`
 * (default: any SPIFFE ID of `trustDomain`). Returns a function that stops the check.
 *
 * The check is prepended to `secureConnection`, so it runs before an HTTP server's own listener
 * attaches its parser: a client may send its request right behind the handshake, and that
 * request must never reach a handler once the connection is refused.
 */
export function enforcePeerIdentity(
  server: Server,
  options: { authorize?: SpiffeIdMatcher; trustDomain: string },
): () => void {
  const { authorize, trustDomain } = options;
  const onSecure = (socket: TLSSocket) => {
    const id = peerIdentity(socket, authorize === undefined ? trustDomain : undefined);
    if (id === undefined || (authorize !== undefined && !matchSpiffeId(authorize, id))) {
      socket.destroy();
    }
  };
  server.prependListener('secureConnection', onSecure);
  return () => {
    server.off('secureConnection', onSecure);
  };
}
