import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { type EnforcementOptions, Enforcer } from './enforcer.ts';
import { enforceHttp } from './http.ts';

/**
 * Express middleware (Express 4 and 5; nothing from express is imported at run time). Use it
 * app-wide (`app.use(wardExpress(…))`) or per route (`app.get('/orders/:id', ward, handler)`);
 * per route, the decision log records the route pattern instead of a collapsed path.
 *
 * @example
 * ```ts
 * const ward = wardExpress({ decider: pdp, service: 'orders', log });
 * app.use(ward);
 * app.get('/orders/:id', (req, res) => res.json({ caller: req.ward?.source.service }));
 * ```
 */
export function wardExpress(options: EnforcementOptions): RequestHandler {
  const enforcer = new Enforcer(options);
  return function wardMiddleware(req, res, next) {
    // `originalUrl`: Express rewrites `req.url` relative to the mount point of a router.
    const url = req.originalUrl ?? req.url;
    if (enforceHttp(enforcer, req as IncomingMessage, res as ServerResponse, routeOf(req), url)) {
      next();
    }
  };
}

function routeOf(req: Request): string | undefined {
  // `req.route` is set only once a route matched, i.e. when used as a route-level middleware.
  const path: unknown = req.route?.path;
  return typeof path === 'string' ? req.baseUrl + path : undefined;
}
