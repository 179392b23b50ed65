/**
 * The request path of the gateway, in order: request id, header limits, CORS preflight, route,
 * body limit, header hygiene, authentication, rate limits, passport, edge decision, JSON Schema,
 * proxy. Each request reads the config once at its start: a reload never changes a request
 * mid-way. No framework: the whole path must add well under a millisecond (bench/gateway.ts).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type PassportClaims, RequestProblem, tryCanonicalRequest } from '@ward/policy';
import { type DecisionRecorder, PASSPORT_HEADER, type Pdp } from '@ward/sdk';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/compile.ts';
import { hostOf } from '../config/routes.ts';
import type { Authenticator, Principal, RateLimiter } from '../contracts.ts';
import { GatewayError } from '../errors.ts';
import { hasBody, isJson, limitStream, readBody } from './body.ts';
import { isPreflight, preflightHeaders, responseCorsHeaders, withGatewayCors } from './cors.ts';
import {
  clientIp,
  clientResponseHeaders,
  forwardingHeaders,
  plainIp,
  requestIdOf,
  traceparentOf,
  upstreamRequestHeaders,
} from './http-headers.ts';
import { passportMinter } from './passport.ts';
import { applyRateLimits, rateLimitAddress } from './rate-limit.ts';
import { type AccessRecord, logAccess, loggedPath, sendProblem } from './respond.ts';
import type { Upstream, UpstreamResponse } from './upstream.ts';

export interface PipelineDeps {
  pdp: Pdp;
  /** The authenticator of the config in use (swapped with it); undefined: no credential is valid. */
  authenticator(): Authenticator | undefined;
  rateLimiter: RateLimiter;
  upstream: Upstream;
  logger: Logger;
  /** The config in use (undefined before the first good one). */
  config(): GatewayConfig | undefined;
  proto: 'http' | 'https';
  /**
   * Where edge decisions go (a decision-log shipper), so soft-apply reports, `ward logs` and the
   * console cover the edge like every other service.
   */
  decisionLog: DecisionRecorder | undefined;
}

const STATUS: Record<string, number> = {
  GATEWAY_UNAUTHENTICATED: 401,
  GATEWAY_FORBIDDEN: 403,
  GATEWAY_RATE_LIMITED: 429,
  GATEWAY_RATE_LIMIT_UNAVAILABLE: 503,
  GATEWAY_NO_ROUTE: 404,
  GATEWAY_BAD_REQUEST: 400,
  GATEWAY_UPSTREAM_UNAVAILABLE: 502,
  GATEWAY_UPSTREAM_TIMEOUT: 504,
};

/** Headers a decision never sees: credentials (rules match on the passport instead). */
const HIDDEN = new Set([
  'authorization',
  'cookie',
  'x-api-key',
  PASSPORT_HEADER,
  'proxy-authorization',
]);

/** A `(req, res)` listener for node:http / node:https running the pipeline. */
export function requestHandler(deps: PipelineDeps) {
  const mint = passportMinter(deps.pdp);
  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(deps, mint, req, res).catch((error) => {
      deps.logger.error(
        { error: String((error as Error)?.message ?? error) },
        'gateway pipeline failed',
      );
      sendProblem(
        res,
        502,
        'GATEWAY_UPSTREAM_UNAVAILABLE',
        'the gateway failed to proxy the request',
        undefined,
      );
    });
  };
}

async function handle(
  deps: PipelineDeps,
  mint: ReturnType<typeof passportMinter>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const startedAt = performance.now();
  const config = deps.config();
  const authenticator = deps.authenticator(); // read with the config: both are swapped together
  const peer = plainIp(req.socket.remoteAddress);
  const trustedPeer = config?.isTrustedProxy(peer) ?? false;
  const record: AccessRecord = {
    reqId: requestIdOf(req.headers, trustedPeer),
    method: String(req.method),
    path: loggedPath(String(req.url).split('?', 1)[0]!, undefined),
  };
  res.setHeader('x-request-id', record.reqId);
  let cors: OutgoingHttpHeaders | undefined;
  const abort = new AbortController();
  const fail = (
    status: number,
    code: GatewayError['code'],
    detail: string,
    headers?: OutgoingHttpHeaders,
    extra?: Record<string, unknown>,
  ): void => {
    record.code = code;
    sendProblem(
      res,
      status,
      code,
      detail,
      cors === undefined ? headers : { ...cors, ...headers },
      extra,
    );
  };
  const failLimited = (result: 'limited' | 'unavailable', headers: OutgoingHttpHeaders): void => {
    if (result === 'unavailable') {
      fail(503, 'GATEWAY_RATE_LIMIT_UNAVAILABLE', 'the rate-limit store is unavailable', headers);
    } else {
      fail(429, 'GATEWAY_RATE_LIMITED', 'a rate limit of this route is exhausted', headers);
    }
  };
  const timeoutMs = config?.limits.requestTimeoutMs ?? 30_000;
  const timer = setTimeout(() => {
    abort.abort(new GatewayError('GATEWAY_UPSTREAM_TIMEOUT', `no answer within ${timeoutMs} ms`));
    fail(504, 'GATEWAY_UPSTREAM_TIMEOUT', `the request did not complete within ${timeoutMs} ms`, {
      connection: 'close',
    });
  }, timeoutMs);
  res.once('close', () => {
    clearTimeout(timer);
    const aborted = !res.writableFinished;
    if (aborted) abort.abort(); // the client went away: so does the upstream request
    logAccess(deps.logger, record, res.statusCode, startedAt, aborted);
  });

  if (config === undefined) {
    fail(503, 'GATEWAY_UPSTREAM_UNAVAILABLE', 'the gateway has no configuration yet');
    return;
  }
  const { limits } = config;
  // 1. Header limits (the server refuses larger header sections itself; a reload may lower it).
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) {
    fail(431, 'GATEWAY_BAD_REQUEST', `more than ${limits.maxHeaderCount} header fields`);
    return;
  }
  let headerBytes = 0;
  for (let i = 0; i < raw.length; i++) headerBytes += raw[i]!.length + 2;
  if (headerBytes > limits.maxHeaderBytes) {
    fail(
      431,
      'GATEWAY_BAD_REQUEST',
      `the header section is larger than ${limits.maxHeaderBytes} bytes`,
    );
    return;
  }
  cors = responseCorsHeaders(config.cors, req.headers);
  // 2. CORS preflight: answered here, never forwarded.
  if (isPreflight(req.method, req.headers)) {
    const allowed = preflightHeaders(config.cors, req.headers);
    if (allowed === undefined) {
      cors = undefined;
      fail(
        403,
        'GATEWAY_FORBIDDEN',
        'CORS preflight refused: origin, method or headers not allowed',
      );
      return;
    }
    res.writeHead(204, allowed);
    res.end();
    return;
  }
  // 3. Route, on the canonical path: the one decided on and forwarded.
  const canonical = tryCanonicalRequest(String(req.method), String(req.url));
  if (canonical instanceof RequestProblem) {
    fail(400, 'GATEWAY_BAD_REQUEST', `request target refused: ${canonical.message}`);
    return;
  }
  const query = canonical.query;
  record.path = loggedPath(canonical.path, query);
  const route = config.match(canonical.method, hostOf(req.headers.host), canonical.path);
  if (route === undefined) {
    fail(404, 'GATEWAY_NO_ROUTE', 'no route matches the host, method and path');
    return;
  }
  record.route = route.key;
  // 4. Body limit, from the declared length (streamed bodies are counted below).
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
    fail(
      413,
      'GATEWAY_BAD_REQUEST',
      `the request body is larger than ${limits.maxBodyBytes} bytes`,
      {
        connection: 'close',
      },
    );
    return;
  }
  // 5. Header hygiene: the upstream sees no hop-by-hop header, no caller passport, and forwarding
  // headers it can believe.
  const headers = upstreamRequestHeaders(req.headers, route.auth !== 'none');
  Object.assign(headers, forwardingHeaders(req.headers, peer, deps.proto, trustedPeer));
  headers['x-request-id'] = record.reqId;
  const trace = traceparentOf(req.headers);
  if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
  // 6. Authentication.
  let principal: Principal | undefined;
  if (route.auth !== 'none') {
    const realm = `Bearer realm="${config.key}"`;
    try {
      principal = await authenticator?.authenticate(req.headers);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      if (error.code === 'GATEWAY_IDP_UNAVAILABLE') {
        // The token is not known to be bad: 503, so a client retries instead of signing in again.
        fail(503, 'GATEWAY_IDP_UNAVAILABLE', error.message, { 'retry-after': '5' });
        return;
      }
      if (error.code !== 'GATEWAY_UNAUTHENTICATED') throw error;
      // A refused credential is charged to the route's limits as an anonymous caller (counted by
      // client address): otherwise guessing API keys or replaying bad tokens would be unlimited.
      const ip = rateLimitAddress(clientIp(peer, req.headers, config.isTrustedProxy));
      const charged = await applyRateLimits(
        deps.rateLimiter,
        route,
        ip,
        undefined,
        config.failureMode,
      );
      if (abort.signal.aborted) return;
      if (charged.result !== 'ok') {
        failLimited(charged.result, charged.headers);
        return;
      }
      fail(401, 'GATEWAY_UNAUTHENTICATED', error.message, {
        ...charged.headers,
        'www-authenticate': `${realm}, error="invalid_token"`,
      });
      return;
    }
    if (principal === undefined && route.auth === 'required') {
      fail(401, 'GATEWAY_UNAUTHENTICATED', 'this route requires a bearer token or an API key', {
        'www-authenticate': realm,
      });
      return;
    }
    record.subject = principal?.subject;
    if (abort.signal.aborted) return; // timed out or the client left while authenticating
  }
  // 7. Rate limits.
  const ip = rateLimitAddress(clientIp(peer, req.headers, config.isTrustedProxy));
  const limited = await applyRateLimits(deps.rateLimiter, route, ip, principal, config.failureMode);
  if (abort.signal.aborted) return;
  const limitHeaders = limited.headers;
  if (limited.result !== 'ok') {
    failLimited(limited.result, limitHeaders);
    return;
  }
  // 8. Passport, then the edge decision with its claims.
  let passport: string | undefined;
  let claims: PassportClaims | undefined;
  if (principal !== undefined) {
    const minted = mint(principal, config.key, config.passportTtlSec);
    if (minted === undefined) {
      fail(503, 'GATEWAY_UPSTREAM_UNAVAILABLE', 'the gateway holds no passport signing key yet');
      return;
    }
    passport = minted.token;
    claims = minted.claims;
  }
  // The decision sees the headers the upstream will get (after hygiene, with the gateway's own
  // forwarding headers): a rule on X-Forwarded-For cannot be met by a caller's spoofed value.
  const decisionHeaders: Record<string, string> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !HIDDEN.has(name))
      decisionHeaders[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  // Host is not forwarded (the upstream gets its own) but routing matched on it: rules may too.
  if (req.headers.host !== undefined) decisionHeaders.host = req.headers.host;
  const decision = deps.pdp.decideCanonical({
    destination: config.key,
    source: {},
    request: {
      method: canonical.method,
      path: canonical.path,
      ...(query === undefined ? {} : { query }),
      headers: decisionHeaders,
    },
    ...(claims === undefined ? {} : { passport: claims }),
  });
  // Outside callers have no workload identity: `anonymous`, as the middleware logs them.
  deps.decisionLog?.record({
    time: Date.now(),
    source: 'anonymous',
    destination: config.key,
    method: canonical.method,
    path: canonical.path,
    routed: false,
    effect: decision.effect,
    enforced: decision.enforced,
    rule: decision.rule,
    revision: deps.pdp.revision(),
    subject: claims?.sub,
    kid: claims?.kid,
  });
  const rule = decision.rule === null ? null : `${decision.rule.policy}#${decision.rule.index}`;
  if (!decision.allowed) {
    record.rule = rule ?? undefined;
    fail(403, 'GATEWAY_FORBIDDEN', decision.reason, limitHeaders, {
      rule: decision.rule,
      reason: decision.reason,
    });
    return;
  }
  if (decision.effect === 'deny') {
    // A dry-run rule would deny: the request passes, the log says which rule.
    record.rule = rule ?? undefined;
    record.dryRunDenied = true;
  }
  // 9. Body: validated against the route's schema (buffered), else streamed under the limit.
  let body: Buffer | NodeJS.ReadableStream | undefined;
  if (hasBody(req)) {
    if (route.validateBody !== undefined) {
      if (!isJson(req.headers['content-type'])) {
        fail(415, 'GATEWAY_BAD_REQUEST', 'this route takes application/json bodies only', {
          connection: 'close',
        });
        return;
      }
      let buffer: Buffer;
      try {
        buffer = await readBody(req, limits.maxBodyBytes);
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
        fail(413, 'GATEWAY_BAD_REQUEST', error.message, { connection: 'close' });
        return;
      }
      if (abort.signal.aborted) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(buffer.toString('utf8'));
      } catch {
        fail(400, 'GATEWAY_BAD_REQUEST', 'the request body is not valid JSON');
        return;
      }
      const errors = route.validateBody(parsed);
      if (errors !== undefined) {
        fail(
          400,
          'GATEWAY_BAD_REQUEST',
          'the request body does not match the route schema',
          undefined,
          { errors },
        );
        return;
      }
      body = buffer;
    } else {
      // A declared length is enforced by the HTTP parser; a chunked body is counted.
      body = declared !== undefined ? req : req.pipe(limitStream(limits.maxBodyBytes));
    }
  }
  // 10. Proxy.
  const target =
    route.upstream.stripPrefix && route.pathPrefix !== undefined
      ? stripPrefix(canonical.path, route.pathPrefix)
      : canonical.path;
  let answer: UpstreamResponse;
  try {
    answer = await deps.upstream.forward(route, {
      method: String(req.method),
      path: query === undefined ? target : `${target}?${query}`,
      headers,
      body: body as Buffer | undefined,
      passport,
      ...(claims === undefined ? {} : { passportClaims: claims }),
      traceparent: trace.traceparent,
      signal: abort.signal,
      deadlineMs: Math.max(1, Math.ceil(timeoutMs - (performance.now() - startedAt))),
    });
  } catch (error) {
    if (abort.signal.aborted) return; // timed out (answered) or the client left
    if (!(error instanceof GatewayError)) throw error;
    const status =
      error.code === 'GATEWAY_BAD_REQUEST' ? 413 : (error.status ?? STATUS[error.code] ?? 502);
    fail(
      status,
      error.code,
      error.message,
      status === 413
        ? { connection: 'close' }
        : error.retryAfterSec === undefined
          ? undefined
          : { 'retry-after': String(error.retryAfterSec) },
    );
    return;
  }
  record.upstream = answer.endpoint;
  if (res.headersSent || abort.signal.aborted) {
    answer.body.destroy();
    return;
  }
  const out = clientResponseHeaders(answer.headers);
  out['x-request-id'] = record.reqId;
  withGatewayCors(out, cors);
  Object.assign(out, limitHeaders);
  res.writeHead(answer.statusCode, out);
  // pipe() rather than stream.pipeline(): the same backpressure for less work per response; an
  // upstream body that fails mid-way cuts the client's response (its length would be a lie).
  const from = answer.body;
  from.once('error', () => res.destroy());
  res.once('close', () => {
    if (!from.readableEnded) from.destroy();
  });
  from.pipe(res);
}

/** The path without the route's prefix, keeping a leading `/`. */
export function stripPrefix(path: string, prefix: string): string {
  const rest = path.slice(prefix.endsWith('/') ? prefix.length - 1 : prefix.length);
  return rest === '' ? '/' : rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}
