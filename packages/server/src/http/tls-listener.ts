/**
 * TLS for the control plane: the options of an HTTPS listener that requests (not requires)
 * client SVIDs, and an extra HTTPS listener beside a running server's plain one (for an embedder
 * whose serving certificate only exists once the control plane runs, such as the demo, whose
 * certificate comes from the control plane's own CA).
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { trustAnchors } from '../auth/mtls.ts';
import { ServerError } from '../errors.ts';
import { serverTimeoutOptions } from './app.ts';

/** PEM material of the control plane's TLS listener. */
export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** Roots client SVIDs must chain to (PEM); without it no client certificate is asked for. */
  clientCa?: string | Buffer;
}

/**
 * Listener options: client certificates are requested (when a client CA is given) but not
 * required, and an unverified one does not fail the handshake — it authenticates nothing, and the
 * request may still carry a token. TLS 1.2 or later.
 */
export function httpsOptions(tls: ServerTlsOptions): TlsOptions {
  if (tls.clientCa !== undefined && trustAnchors(tls.clientCa).length === 0) {
    throw new ServerError('SERVER_CONFIG_INVALID', 'the client CA holds no PEM certificate');
  }
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ...(tls.clientCa !== undefined
      ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }
      : {}),
  };
}

/** An extra HTTPS listener of a running control plane. */
export interface TlsListener {
  url: string;
  /** Swaps the serving certificate (a rotated SVID); open connections keep theirs. */
  setCertificate(cert: string | Buffer, key: string | Buffer): void;
  close(): Promise<void>;
}

/** Serves `app` over HTTPS on `host:port` as well; client SVIDs are checked against `clientCa`. */
export async function listenTls(
  app: FastifyInstance,
  tls: ServerTlsOptions,
  host: string,
  port: number,
): Promise<TlsListener> {
  let options = httpsOptions(tls);
  if (tls.clientCa !== undefined) app.ward.clientRoots = trustAnchors(tls.clientCa);
  // `routing` is Fastify's whole request life cycle (hooks, authentication, handlers).
  // The same request timeouts as the main listener (slowloris).
  const timeouts = serverTimeoutOptions({
    headersMs: app.server.headersTimeout,
    requestMs: app.server.requestTimeout,
  });
  const server = createServer({ ...options, ...timeouts }, (req, res) => app.routing(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `https://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    setCertificate(cert, key) {
      options = { ...options, cert, key };
      server.setSecureContext(options);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
