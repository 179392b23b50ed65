/**
 * Assembles the Fastify application: validation, problem bodies, authentication, OpenAPI and
 * every route plugin (core ones, then those passed by the embedder).
 */
import type { TlsOptions } from 'node:tls';
import swagger from '@fastify/swagger';
import { canonicalServiceKey } from '@ward/spiffe';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, LogController } from 'fastify';
import type { Migration } from 'kysely';
import pino from 'pino';
import { ServerError } from '../errors.ts';
import { authHook } from './auth-hook.ts';
import type { WardContext } from './context.ts';
import { clientErrorHandler, errorHandler, notFoundHandler } from './problem.ts';
import { applyRoutes } from './routes/apply.ts';
import { bundleRoutes } from './routes/bundles.ts';
import { consoleRoutes } from './routes/console.ts';
import { documentRoutes } from './routes/documents.ts';
import { historyRoutes } from './routes/history.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { playgroundRoutes } from './routes/playground.ts';
import { rollbackRoutes } from './routes/rollback.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { watchRoutes } from './routes/watch.ts';
import { sharedSchemas } from './schemas.ts';
import { addSharedSchemas, validatorCompiler } from './validation.ts';

/**
 * An extension of the control plane (identity CA, trace and decision-log ingest, …): its routes,
 * and the migrations of its own tables.
 *
 * @example
 * ```ts
 * const ingest: WardPlugin = {
 *   name: 'ingest',
 *   migrations: { 'ingest_0001_edges': { up: async (db) => { ... } } },
 *   register: async (app) => {
 *     app.post('/v1/decision-logs', { config: { auth: ['pdp'] }, bodyLimit: 1 << 20, schema: {...} },
 *       async (request) => { const db = app.ward.db; ... });
 *   },
 * };
 * await startServer({ plugins: [ingest] });
 * ```
 */
/** The parameters that name a service or document (a key once canonical). */
const SERVICE_PARAMS = ['name', 'service', 'destination'] as const;

/**
 * Rewrites the service references among `params` (validated already, so each is a reference)
 * to their canonical key. A value that is not a service reference is left alone.
 */
function canonicalServiceParams(params: unknown): void {
  if (typeof params !== 'object' || params === null) return;
  const p = params as Record<string, unknown>;
  for (const field of SERVICE_PARAMS) {
    const value = p[field];
    if (typeof value !== 'string') continue;
    const key = canonicalServiceKey(value);
    if (key !== undefined && key !== value) p[field] = key;
  }
}

export interface WardPlugin {
  name: string;
  /** Migration names must be unique across plugins: prefix them with the plugin name. */
  migrations?: Record<string, Migration>;
  /**
   * A Fastify plugin, registered in its own encapsulated context after the core routes.
   * `app.ward` is the WardContext; every route must declare `config.auth` (`'public'` or the
   * scopes allowed) — undeclared routes require an admin token. Errors thrown become problem
   * bodies; throw `ServerError` for coded ones.
   */
  register: FastifyPluginAsync;
  /** Called on shutdown, after the HTTP server stopped. */
  close?: () => Promise<void>;
}

export interface BuildAppOptions {
  logger: boolean;
  plugins: readonly WardPlugin[];
  /** Serve HTTPS with these options (see `startServer({ tls })`). */
  https?: TlsOptions;
  timeouts: HttpTimeouts;
  /** Where the built console is (default: `@ward/console`'s build). */
  consoleDir?: string;
  /** Count and time every request in `ward_http_*` (default true; off only to measure its cost). */
  requestMetrics?: boolean;
}

/**
 * How long a client may take to send a request. Without them a client that trickles its headers
 * (slowloris) or never finishes its body holds a connection for a minute (Node's default header
 * timeout) or forever (Fastify disables the request timeout). They bound receiving the request
 * only: a watch stream, whose request is complete once its headers are in, is not cut.
 */
export interface HttpTimeouts {
  /** Time to receive the request headers. Default 10 s. */
  headersMs: number;
  /** Time to receive the whole request, body included (at least `headersMs`). Default 120 s. */
  requestMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 120_000 };

/** Node server options enforcing `t` (also used by the extra TLS listener). */
export function serverTimeoutOptions(t: HttpTimeouts) {
  return {
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    // Expired requests are found by a periodic sweep (default every 30 s, too coarse for a
    // 10 s limit); it visits only connections with a request in progress, not idle streams.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersMs / 4))),
  };
}

/** Default body limit for routes that do not set their own (most take no body at all). */
const DEFAULT_BODY_LIMIT = 64 * 1024;

export async function buildApp(
  ctx: WardContext,
  options: BuildAppOptions,
): Promise<FastifyInstance> {
  const timeouts = serverTimeoutOptions(options.timeouts);
  const app = Fastify({
    // Logs go to stderr: stdout belongs to the CLI's output (`ward server -o json`).
    loggerInstance: options.logger
      ? pino({ level: 'info' }, pino.destination(2))
      : pino({ level: 'silent' }),
    // Per-request log lines would be 10,000 lines per change with a large fleet watching.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    forceCloseConnections: true,
    // Fastify's own answers (503 while closing, bad URL, client errors) are not problem bodies
    // and carry `statusCode`: these go through the one error handler instead (see below).
    return503OnClosing: false,
    frameworkErrors: (error, request, reply) => errorHandler(error, request, reply),
    clientErrorHandler,
    requestTimeout: timeouts.requestTimeout,
    ...(options.https ? { https: { ...options.https, ...timeouts } } : { http: timeouts }),
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(validatorCompiler);
  addSharedSchemas(sharedSchemas);
  for (const s of sharedSchemas) app.addSchema(s);
  app.decorate('ward', ctx);
  app.decorateRequest('principal', undefined);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // While closing, refuse new work with a problem body (a load balancer retries elsewhere).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    throw new ServerError('API_UNAVAILABLE', 'the server is shutting down; retry another replica');
  });
  app.addHook('onRequest', authHook);
  // A service or document named in a path or query is a key: `default/payments` is `payments`.
  app.addHook('preHandler', async (request) => {
    canonicalServiceParams(request.params);
    canonicalServiceParams(request.query);
  });
  if (options.requestMetrics !== false) {
    // The route's pattern, never the URL: a scan of random paths adds no series.
    const metrics = ctx.metrics;
    app.addHook('onResponse', (request, reply, done) => {
      metrics.request(
        request.method,
        request.is404 ? undefined : request.routeOptions.url,
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
      done();
    });
  }
  // Every route, for the test that checks each one is in the OpenAPI document.
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    if ((r.schema as { hide?: boolean } | undefined)?.hide) return;
    for (const method of [r.method].flat())
      if (method !== 'HEAD') routes.push({ method, url: r.url });
  });
  app.decorate('wardRoutes', routes);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ward control plane',
        version: '1',
        description:
          'Policy administration, signed per-service bundles and watch streams. Every error is ' +
          'application/problem+json (ProblemV1) with a stable code (docs/errors.md).',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });

  await app.register(documentRoutes);
  await app.register(applyRoutes);
  await app.register(historyRoutes);
  await app.register(tokenRoutes);
  await app.register(bundleRoutes);
  await app.register(watchRoutes);
  await app.register(playgroundRoutes);
  await app.register(rollbackRoutes);
  await app.register(consoleRoutes, { dir: options.consoleDir });
  await app.register(metricsRoutes);
  for (const plugin of options.plugins) await app.register(plugin.register);

  app.get(
    '/openapi.json',
    { config: { auth: 'public' }, schema: { hide: true } },
    async (_request, reply) => reply.type('application/json').send(app.swagger()),
  );
  return app;
}
