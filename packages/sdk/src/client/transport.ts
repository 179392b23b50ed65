/**
 * The connection pools of one destination: undici keep-alive pools, one per endpoint (an Agent
 * keys its pools by origin). https endpoints go through the SVID dispatcher of
 * ../pdp/svid-dispatcher.ts: each new connection presents the SVID current at that moment, the
 * pool is replaced when the SVID rotates, and the server must present an SVID of the trust bundle
 * with the destination's expected SPIFFE ID (checked on every new connection).
 */
import type { Dispatcher } from 'undici';
import type { SpiffeIdMatcher } from '../identity/peer.ts';
import { type SvidSource, svidDispatcher } from '../pdp/svid-dispatcher.ts';
import { undici } from '../undici.ts';

export interface Transport {
  /** The dispatcher for an endpoint URL. */
  for(url: URL): Dispatcher;
  close(): Promise<void>;
}

export function createTransport(
  identity: SvidSource | undefined,
  serverSpiffeId: SpiffeIdMatcher | undefined,
  connections: number | undefined,
): Transport {
  let plain: Dispatcher | undefined;
  let mtls: Dispatcher | undefined;
  return {
    for(url) {
      if (url.protocol === 'http:') {
        plain ??= new (undici().Agent)(connections === undefined ? {} : { connections });
        return plain;
      }
      // Options were validated: an https endpoint implies an identity and an expected ID.
      mtls ??= svidDispatcher(
        { source: identity as SvidSource, serverSpiffeId: serverSpiffeId as SpiffeIdMatcher },
        connections,
      );
      return mtls;
    },
    async close() {
      await Promise.all([plain?.close(), mtls?.close()]);
    },
  };
}

// OpenSSL's verdicts on a peer chain, as Node reports them in `error.code`.
const CHAIN_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
]);

/** True when `error` is the server failing our TLS checks (or refusing our certificate). */
export function isPeerRejection(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CHAIN_CODES.has(code);
}

/** undici's errors that are the caller's misuse (a bad header, method, body), not the network. */
export function isMisuse(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED';
}
