/** `GET /v1/alerts`: what fires now, as this replica's engine last evaluated it. */
import type { AlertsAnswerV1 } from '@ward/api-types';
import type { FastifyInstance } from 'fastify';
import { owns } from '../auth/tokens.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, problemResponses } from '../http/schemas.ts';
import type { AlertEngine, FiringAlert } from './engine.ts';

const labelsSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const alertListSchema = {
  type: 'object',
  required: ['alerts'],
  properties: {
    alerts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'key', 'severity', 'labels', 'summary', 'startsAt'],
        properties: {
          name: { type: 'string' },
          key: { type: 'string' },
          severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
          labels: labelsSchema,
          summary: { type: 'string' },
          description: { type: 'string' },
          startsAt: { type: 'string' },
        },
      },
    },
  },
} as const;

/** A team sees an alert whose `service`, `source` or `destination` label it owns. */
export function visibleTo(f: FiringAlert, owned: { has(service: string): boolean }): boolean {
  const l = f.instance.labels;
  return [l.service, l.source, l.destination].some((s) => s !== undefined && owned.has(s));
}

export function alertRoutes(engine: AlertEngine) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(
      '/v1/alerts',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Firing alerts (unapproved edges, denial spikes, stale PDPs, expiring SVIDs)',
          description:
            "This replica's last evaluation (every replica evaluates; one sends). A team token " +
            'sees the alerts whose service, source or destination label is one of its services.',
          security: bearer,
          response: { 200: alertListSchema, ...problemResponses },
        },
      },
      async (request, reply): Promise<AlertsAnswerV1> => {
        const p = principalOf(request);
        reply.header('cache-control', 'no-store');
        const list = engine
          .firing()
          .filter((f) => p.scope !== 'team' || visibleTo(f, { has: (s) => owns(p, s) }));
        return {
          alerts: list.map((f) => ({
            name: f.instance.name,
            key: f.instance.key,
            severity: f.instance.severity,
            labels: f.instance.labels,
            summary: f.instance.summary,
            ...(f.instance.description !== undefined
              ? { description: f.instance.description }
              : {}),
            startsAt: f.startsAt,
          })),
        };
      },
    );
  };
}
