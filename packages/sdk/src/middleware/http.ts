import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Rejection } from './context.ts';
import { type EnforcementOptions, Enforcer, problemResponse } from './enforcer.ts';

/**
 * Decides `req` and either sets `req.ward` and returns true, or answers the problem (400, 401,
 * 403 or 500, `application/problem+json`) and returns false. `req.ward.request.target` is the
 * canonical target the decision was made on.
 */
export function enforceHttp(
  enforcer: Enforcer,
  req: IncomingMessage,
  res: ServerResponse,
  route?: string,
  url: string | undefined = req.url,
): boolean {
  const outcome = enforcer.check(req.socket, req.method ?? 'GET', url ?? '', req.headers, route);
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

/**
 * Wraps a `node:http` (or `node:https`) request listener: every request is decided before the
 * listener sees it; refused requests get a problem response and never reach it. Admitted requests
 * carry `req.ward` (the verified caller, passport claims and the decision), and `req.url` is the
 * canonical target the decision was made on (`/orders/../admin` arrives as `/admin`, an
 * absolute-form `http://host/x` as `/x`), so the listener routes on exactly what was decided.
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
    if (enforceHttp(enforcer, req, res)) {
      routeOnCanonical(req);
      listener(req, res);
    }
  };
}

/** Makes the request route on the target it was decided on (a no-op for canonical targets). */
export function routeOnCanonical(req: IncomingMessage): void {
  const target = req.ward!.request.target;
  if (req.url !== target) req.url = target;
}
