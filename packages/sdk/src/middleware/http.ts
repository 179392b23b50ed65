import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Rejection } from './context.ts';
import { type EnforcementOptions, Enforcer, problemResponse } from './enforcer.ts';

/**
 * Decides `req` and either sets `req.ward` and returns true, or answers the problem (401, 403 or
 * 500, `application/problem+json`) and returns false.
 */
export function enforceHttp(
  enforcer: Enforcer,
  req: IncomingMessage,
  res: ServerResponse,
  route?: string,
  url: string | undefined = req.url,
): boolean {
  const outcome = enforcer.check(req.socket, req.method ?? 'GET', pathOf(url), req.headers, route);
  if (outcome instanceof Rejection) {
    sendProblem(res, outcome);
    return false;
  }
  req.ward = outcome;
  return true;
}

/** Writes a rejection as an RFC 9457 problem response. */
export function sendProblem(res: ServerResponse, rejection: Rejection): void {
  const { body, contentType } = problemResponse(rejection);
  res.statusCode = rejection.status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/** The path of a request target: origin form as is, absolute form reduced to its path. */
export function pathOf(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) === 47 /* / */) return url;
  if (url === '*') return url;
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/**
 * Wraps a `node:http` (or `node:https`) request listener: every request is decided before the
 * listener sees it; refused requests get a problem response and never reach it. Admitted requests
 * carry `req.ward` (the verified caller, passport claims and the decision).
 *
 * @example
 * ```ts
 * const server = https.createServer(
 *   identity.serverOptions(),
 *   wardHttp({ decider: pdp, service: 'orders', log }, (req, res) => {
 *     res.end(`hello ${req.ward?.source.service}`);
 *   }),
 * );
 * ```
 */
export function wardHttp(options: EnforcementOptions, listener: RequestListener): RequestListener {
  if (typeof listener !== 'function') throw new TypeError('listener must be a function');
  const enforcer = new Enforcer(options);
  return function wardListener(req, res) {
    if (enforceHttp(enforcer, req, res)) listener(req, res);
  };
}
