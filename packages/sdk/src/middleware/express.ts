import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterRules } from '@ward/policy';
import type { Request, RequestHandler } from 'express';
import { type EnforcementOptions, Enforcer, problem } from './enforcer.ts';
import { enforceHttp, routeOnCanonical, sendProblem } from './http.ts';

/**
 * Express's defaults: `case sensitive routing` and `strict routing` are off in an app, and every
 * `express.Router()` has its own settings, also off by default, which the app's settings do not
 * change. So decisions fold case and a trailing slash unless `options.routing` says every router
 * is case-sensitive and strict.
 */
function expressRouting(routing: RouterRules | undefined): RouterRules {
  return {
    ...routing,
    caseSensitive: routing?.caseSensitive ?? false,
    ignoreTrailingSlash: routing?.ignoreTrailingSlash ?? true,
  };
}

/**
 * Express middleware (Express 4 and 5; nothing from express is imported at run time). Use it
 * app-wide (`app.use(wardExpress(…))`) or per route (`app.get('/orders/:id', ward, handler)`);
 * per route, the decision log records the route pattern instead of a collapsed path.
 *
 * App-wide at the root and registered first (the normal use), it sets `req.url` to the canonical
 * target it decided, so Express routes on exactly that (`/orders/%2e%2e/admin` is routed as
 * `/admin`). Where it cannot (per route, or mounted under a path, where routing already
 * happened), a request whose target is not canonical is refused with 400
 * `MIDDLEWARE_NOT_CANONICAL`.
 *
 * @example
 * ```ts
 * const ward = wardExpress({ decider: pdp, service: 'orders', log });
 * app.use(ward);
 * app.get('/orders/:id', (req, res) => res.json({ caller: req.ward?.source.service }));
 * ```
 */
export function wardExpress(options: EnforcementOptions): RequestHandler {
  const enforcer = new Enforcer({ ...options, routing: expressRouting(options?.routing) });
  return function wardMiddleware(req, res, next) {
    // `originalUrl`: Express rewrites `req.url` relative to the mount point of a router.
    const url = req.originalUrl ?? req.url;
    const route = routeOf(req);
    if (!enforceHttp(enforcer, req as IncomingMessage, res as ServerResponse, route, url)) return;
    if (route === undefined && req.baseUrl === '') {
      routeOnCanonical(req as IncomingMessage);
    } else if (req.ward!.request.target !== url) {
      const canonical = req.ward!.request.target;
      req.ward = undefined;
      const reason = `target ${JSON.stringify(url)} is not canonical (${JSON.stringify(canonical)}) and was routed before Ward saw it; use wardExpress app-wide at the root`;
      sendProblem(res as ServerResponse, problem(400, 'MIDDLEWARE_NOT_CANONICAL', reason));
      return;
    }
    next();
  };
}

function routeOf(req: Request): string | undefined {
  // `req.route` is set only once a route matched, i.e. when used as a route-level middleware.
  const path: unknown = req.route?.path;
  return typeof path === 'string' ? req.baseUrl + path : undefined;
}
