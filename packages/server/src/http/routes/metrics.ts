/**
 * `GET /metrics`: the control plane's Prometheus metrics. A scraper holds a `metrics` token
 * (it reads this and nothing else; admin tokens may too), or scrapes the separate unauthenticated
 * listener `ward server --metrics-listen` opens on a loopback or private address.
 */
import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE } from '../../metrics/metrics.ts';
import { bearer, problemResponses } from '../schemas.ts';

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/metrics',
    {
      config: { auth: ['metrics', 'admin'] },
      schema: {
        tags: ['metrics'],
        summary:
          'Prometheus metrics (text format 0.0.4): requests, apply and bundle-build latency, watchers, ingest, CA issuance, store errors, process',
        security: bearer,
        response: {
          200: {
            description: 'Prometheus text exposition format, version 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (_request, reply) =>
      reply.type(METRICS_CONTENT_TYPE).send(await app.ward.metrics.scrape()),
  );
}
