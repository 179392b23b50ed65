import { PROBLEM_MEDIA_TYPE } from '@ward/api-types';
import type { RouterRules } from '@ward/policy';
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import type { WardContext } from './context.ts';
import { Rejection } from './context.ts';
import { type EnforcementOptions, Enforcer } from './enforcer.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Ward plugin on every request it admits. */
    ward: WardContext | null;
  }
}

const plugin: FastifyPluginCallback<EnforcementOptions> = (fastify, options, done) => {
  let enforcer: Enforcer;
  try {
    enforcer = new Enforcer({ ...options, routing: fastifyRouting(fastify, options.routing) });
  } catch (error) {
    done(error as Error);
    return;
  }
  // Declared up front so every request object has the same shape (a V8 fast path).
  fastify.decorateRequest('ward', null);
  const logging = enforcer.logging;
  // A callback hook, not an async one: no promise per request on the hot path.
  fastify.addHook('onRequest', (request, reply, next) => {
    const outcome = enforcer.check(
      request.raw.socket,
      request.method,
      request.url,
      request.headers,
      // The route pattern (`/orders/:id`, undefined on a 404), for the log only: Fastify builds
      // a fresh object on every `routeOptions` read, a cost worth skipping when nothing is logged.
      logging ? request.routeOptions.url : undefined,
    );
    if (outcome instanceof Rejection) {
      reply.code(outcome.status).type(PROBLEM_MEDIA_TYPE).send(JSON.stringify(outcome.problem));
      return;
    }
    request.ward = outcome;
    next();
  });
  done();
};

/**
 * How this Fastify instance's router matches paths, from its options (top level or
 * `routerOptions`; either one turning a folding on counts, failing closed). The router has
 * matched before any hook runs and does not resolve dot segments, so those are refused.
 */
function fastifyRouting(fastify: FastifyInstance, routing: RouterRules | undefined): RouterRules {
  const config = fastify.initialConfig as Record<string, unknown> & {
    routerOptions?: Record<string, unknown>;
  };
  const router = config.routerOptions ?? {};
  const on = (name: string) => config[name] === true || router[name] === true;
  return {
    caseSensitive: !(
      routing?.caseSensitive === false ||
      config.caseSensitive === false ||
      router.caseSensitive === false
    ),
    ignoreTrailingSlash: routing?.ignoreTrailingSlash === true || on('ignoreTrailingSlash'),
    ignoreDuplicateSlashes:
      routing?.ignoreDuplicateSlashes === true || on('ignoreDuplicateSlashes'),
    semicolonDelimiter: routing?.semicolonDelimiter === true || on('useSemicolonDelimiter'),
    resolveDotSegments: false,
  };
}

/**
 * Fastify plugin (Fastify 5). Registered with fastify-plugin semantics, so its `onRequest` hook
 * applies to every route of the instance that registers it, not only to an encapsulated child.
 * Admitted requests carry `request.ward`; the decision log records route patterns.
 *
 * Decisions are made on the path as the router matched it: the plugin reads `caseSensitive`,
 * `ignoreTrailingSlash`, `ignoreDuplicateSlashes` and `useSemicolonDelimiter` from the instance's
 * options. Fastify routes before any hook runs and does not resolve dot segments, so a target
 * with a `.` or `..` segment (raw or `%2e`) is refused with 400 `REQUEST_DOT_SEGMENT`.
 *
 * @example
 * ```ts
 * await app.register(wardFastify, { decider: pdp, service: 'orders', log });
 * app.get('/orders/:id', (request) => ({ caller: request.ward?.source.service }));
 * ```
 */
export const wardFastify = fp(plugin, { fastify: '5.x', name: '@ward/sdk/fastify' });
