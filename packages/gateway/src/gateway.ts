/**
 * `createGateway`: the edge as one object. The PDP of the gateway's own service key supplies the
 * configuration (the bundle's `Gateway` + `Route` documents) and the passport keys; every bundle
 * update is compiled and swapped in atomically, and a bad one is refused while the last good
 * config keeps serving.
 *
 * node:http, not fastify: the request path's budget is < 0.5 ms added at p50, and the pipeline
 * needs no routing or parsing a framework would add (bench/gateway.ts measures it).
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { problemBody, problemTitle } from '@ward/api-types';
import type { DecisionRecorder, Pdp } from '@ward/sdk';
import { splitServiceKey } from '@ward/spiffe';
import type { Logger } from 'pino';
import { compileGatewayConfig, type GatewayConfig } from './config/compile.ts';
import type { Authenticator, RateLimiter } from './contracts.ts';
import { GatewayError } from './errors.ts';
import { createAuthenticator } from './identity/authenticator.ts';
import type { OidcVerifierOptions } from './identity/oidc.ts';
import { requestHandler } from './server/pipeline.ts';
import type { Upstream } from './server/upstream.ts';

/**
 * node:http `requestTimeout`: the longest a client may take to send one whole request. Above the
 * default `limits.requestTimeoutMs` (30 s) so the config's timeout answers first; a config that
 * allows longer uploads is still cut here, as unbounded receive time is a slow-loris door.
 */
const REQUEST_RECEIVE_TIMEOUT_MS = 300_000;

export interface GatewayOptions {
  /** The PDP of the gateway's service key (createPdp from @ward/sdk). */
  pdp: Pdp;
  /**
   * Replaces the authenticator built from the Gateway document (`spec.oidc`, `spec.apiKeys`,
   * `spec.passport.attrs`), for tests. Without it, the gateway builds one per identity config and
   * rebuilds it on a reload that changes those fields.
   */
  authenticator?: Authenticator;
  /** Tuning of the OIDC verifiers the gateway builds (timeouts, caches); logs go to `logger`. */
  oidc?: OidcVerifierOptions;
  /**
   * Counts requests (memoryRateLimiter, or redisRateLimiter shared by replicas). When it cannot
   * answer (`unavailable`), the Gateway document's `spec.rateLimit.failureMode` decides.
   */
  rateLimiter: RateLimiter;
  upstream: Upstream;
  /** pino logger: access log lines (`msg: "request"`) and config events. */
  logger: Logger;
  listen: { host?: string; port?: number; tls?: { cert: string | Buffer; key: string | Buffer } };
  /**
   * Hard ceiling on a request's header section, enforced by the HTTP parser before any config
   * is read (the config's `limits.maxHeaderBytes`, checked per request, must be below). Default
   * 64 KiB.
   */
  maxHeaderSize?: number;
  /**
   * Connections served at once; further ones are closed on accept (node:http `maxConnections`),
   * so a flood of idle sockets cannot exhaust file descriptors. Default 10 000.
   */
  maxConnections?: number;
  /**
   * How long a client may take to send a request's header section (node:http `headersTimeout`):
   * a slow-loris bound. Default 10 s. The whole request (headers and body) must arrive within
   * 5 min (node:http `requestTimeout`), whatever the config's
   * `limits.requestTimeoutMs` (which bounds the request end to end, answering 504).
   */
  headersTimeoutMs?: number;
  /** How long `close()` lets in-flight requests finish. Default 10 s. */
  shutdownGraceMs?: number;
  /**
   * Records every edge decision (e.g. a `createDecisionLogShipper` from @ward/sdk), as the
   * middleware does for a service: soft-apply reports and the console then cover the edge.
   */
  decisionLog?: DecisionRecorder;
}

export interface Gateway {
  /** `http(s)://host:port` it listens on. */
  readonly url: string;
  /** The config in use; undefined until the bundle brought a valid one. */
  config(): GatewayConfig | undefined;
  /**
   * Compiles the PDP's current documents and swaps the result in (what every bundle update does).
   * @throws GatewayError `GATEWAY_CONFIG_INVALID`; the config in use stays.
   */
  reload(): GatewayConfig;
  /**
   * Stops accepting, lets in-flight requests finish within the grace period, then cuts what is
   * left. Closes the authenticator it built; not the injected PDP, authenticator, limiter or
   * upstream.
   */
  close(): Promise<void>;
}

/** The gateway's config from a PDP's documents: its own `Gateway` and the routes naming it. */
export function configFromPdp(pdp: Pdp): GatewayConfig {
  const key = pdp.service;
  const { namespace, name } = splitServiceKey(key);
  const docs = pdp.documents() as readonly unknown[];
  const nsOf = (d: unknown) =>
    ((d as { metadata?: { namespace?: string } }).metadata?.namespace ?? 'default') as string;
  const kindOf = (d: unknown) => (d as { kind?: unknown } | null)?.kind;
  const gateway = docs.find(
    (d) =>
      kindOf(d) === 'Gateway' &&
      (d as { metadata?: { name?: string } }).metadata?.name === name &&
      nsOf(d) === namespace,
  );
  if (gateway === undefined) {
    throw new GatewayError(
      'GATEWAY_CONFIG_INVALID',
      `the bundle of ${key} has no Gateway document named ${JSON.stringify(name)} in namespace ${JSON.stringify(namespace)}`,
    );
  }
  const routes = docs.filter((d) => kindOf(d) === 'Route' && nsOf(d) === namespace);
  return compileGatewayConfig(gateway, routes, { trustDomain: pdp.trustDomain() ?? 'ward.local' });
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { pdp, logger } = options;
  let current: GatewayConfig | undefined;
  let authenticator = options.authenticator;
  /** The identity fields the built authenticator was made from (JSON): rebuilt when they change. */
  let identityOf: string | undefined;
  const oidcOptions: OidcVerifierOptions = {
    logger: { warn: (message: string) => logger.warn({ gateway: pdp.service }, message) },
    ...options.oidc,
  };
  const reload = (): GatewayConfig => {
    const next = configFromPdp(pdp);
    // Everything is built first and swapped together at the end: a step that fails (an identity
    // config the authenticator refuses, an upstream that cannot take the routes) leaves the
    // authenticator, its identity and the config all on the one in use.
    let built: Authenticator | undefined;
    let builtOf: string | undefined;
    if (options.authenticator === undefined) {
      const { oidc, apiKeys, passport } = next.document.spec;
      const identity = { oidc, apiKeys, passport: { attrs: passport?.attrs } };
      const text = JSON.stringify(identity);
      if (text !== identityOf) {
        built = createAuthenticator(identity, oidcOptions);
        builtOf = text;
      }
    }
    try {
      options.upstream.reload?.(next); // the new routes' destinations, before any request uses them
    } catch (error) {
      built?.close().catch(() => {});
      if (error instanceof GatewayError) throw error;
      throw new GatewayError(
        'GATEWAY_CONFIG_INVALID',
        `the upstream refused the routes: ${String((error as Error)?.message ?? error)}`,
      );
    }
    let previous: Authenticator | undefined;
    if (built !== undefined) {
      previous = authenticator;
      authenticator = built;
      identityOf = builtOf;
    }
    current = next; // the swap: each request reads `current` once, at its start
    // In-flight requests may still verify with the old one: close() only stops its background work.
    previous?.close().catch(() => {});
    logger.info(
      { gateway: next.key, revision: pdp.revision(), routes: next.routes.length },
      'gateway configuration in use',
    );
    return next;
  };
  const tryReload = (): void => {
    try {
      reload();
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      logger.warn(
        { gateway: pdp.service, revision: pdp.revision(), code: error.code, error: error.message },
        'gateway configuration refused; keeping the one in use',
      );
    }
  };
  const unsubscribe = pdp.onUpdate(tryReload);
  if (pdp.documents().length > 0) tryReload();

  const tls = options.listen.tls;
  const handler = requestHandler({
    pdp,
    authenticator: () => authenticator,
    rateLimiter: options.rateLimiter,
    upstream: options.upstream,
    logger,
    config: () => current,
    proto: tls === undefined ? 'http' : 'https',
    decisionLog: options.decisionLog,
  });
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  if (
    !Number.isInteger(headersTimeout) ||
    headersTimeout < 1 ||
    headersTimeout > REQUEST_RECEIVE_TIMEOUT_MS
  )
    throw new TypeError(
      `createGateway: headersTimeoutMs must be an integer in 1..${REQUEST_RECEIVE_TIMEOUT_MS}`,
    );
  const maxConnections = options.maxConnections ?? 10_000;
  if (!Number.isInteger(maxConnections) || maxConnections < 1)
    throw new TypeError('createGateway: maxConnections must be a positive integer');
  const serverOptions = {
    maxHeaderSize: options.maxHeaderSize ?? 65_536,
    headersTimeout,
    requestTimeout: REQUEST_RECEIVE_TIMEOUT_MS,
    // node:http checks both timeouts on this interval (30 s by default, which would let a
    // slow-loris connection live 4× the header timeout).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
  // node:http loads here, not at import: on Node 26 it fills undici's global dispatcher slot, and
  // importing a package must change no globals (test/package-purity.test.ts).
  const server: Server =
    tls === undefined
      ? (await import('node:http')).createServer(serverOptions)
      : ((await import('node:https')).createServer({
          ...serverOptions,
          cert: tls.cert,
          key: tls.key,
        }) as unknown as Server);
  server.maxConnections = maxConnections;
  server.on('request', (req, res) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) drained?.();
    });
    handler(req, res);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The parser refused the request (oversized or malformed header section): answer with a
    // problem body rather than Node's bare status line, then close.
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408 // headersTimeoutMs or the 5 min receive bound passed
          : 400;
    const detail =
      status === 431
        ? 'the header section is too large'
        : status === 408
          ? 'the request did not arrive in time'
          : 'malformed HTTP request';
    const body = JSON.stringify(problemBody({ status, code: 'GATEWAY_BAD_REQUEST', detail }));
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : problemTitle(status)}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port ?? 0, options.listen.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
    config: () => current,
    reload,
    close() {
      closing ??= (async () => {
        unsubscribe();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            new Promise<void>((resolve) => {
              drained = resolve;
            }),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, options.shutdownGraceMs ?? 10_000);
            }),
          ]);
          clearTimeout(timer);
        }
        server.closeAllConnections();
        await closed;
        if (options.authenticator === undefined) await authenticator?.close();
      })();
      return closing;
    },
  };
}
