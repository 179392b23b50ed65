/**
 * `GET /v1/propose`: Intention documents in dry-run for the observed edges no rule covers, as
 * JSON (with evidence and the edges left out) or as a YAML stream ready for `ward apply -f`.
 * Admin tokens see every destination; team tokens only the services they own.
 */
import { proposalsYaml } from '@ward/policy';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { ownedServices } from '../auth/owned.ts';
import { owns } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, nameParam, problemResponses } from '../http/schemas.ts';
import { proposeFromTraffic } from './propose.ts';
import type { IngestDatabase } from './tables.ts';
import { windowStart } from './windows.ts';

const edgeItem = {
  type: 'object',
  properties: {
    source: { type: 'string' },
    calls: { type: 'integer' },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    seenIn: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const proposeResultSchema = {
  type: 'object',
  properties: {
    since: { type: 'string' },
    until: { type: 'string' },
    proposals: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          destination: { type: 'string' },
          owner: { type: ['string', 'null'] },
          document: {
            type: 'object',
            additionalProperties: true,
            description: 'An Intention document (docs/policy-language.md), spec.mode dry-run',
          },
          rules: {
            type: 'array',
            description: "Evidence per rule, in the order of the document's rules",
            items: {
              type: 'object',
              properties: {
                sources: { type: 'array', items: { type: 'string' } },
                wholeEdge: { type: 'boolean' },
                evidence: { type: 'array', items: edgeItem },
              },
            },
          },
        },
      },
    },
    skipped: {
      type: 'array',
      description: 'Observed edges left out, and why',
      items: {
        type: 'object',
        properties: {
          source: { type: 'string' },
          destination: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export function proposeRoutes(options: { now: () => number }) {
  return async (app: FastifyInstance): Promise<void> => {
    const db = () => app.ward.db as unknown as Kysely<IngestDatabase>;
    app.get<{ Querystring: { since: string; destination?: string; format: 'json' | 'yaml' } }>(
      '/v1/propose',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary:
            'Dry-run Intention documents for observed edges no rule covers (policy from traffic)',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              since: { type: 'string', minLength: 1, maxLength: 64, default: '1h' },
              destination: nameParam,
              format: { type: 'string', enum: ['json', 'yaml'], default: 'json' },
            },
          },
          response: {
            200: {
              description: 'The proposals (JSON), or with format=yaml one YAML stream',
              content: {
                'application/json': { schema: proposeResultSchema },
                'application/yaml': { schema: { type: 'string' } },
              },
            },
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { destination } = request.query;
        let destinations: ReadonlySet<string> | undefined;
        if (principal.scope === 'team') {
          if (destination !== undefined && !owns(principal, destination)) {
            throw new ServerError(
              'API_FORBIDDEN',
              `token "${principal.name}" does not own service "${destination}"`,
              {
                errors: [
                  {
                    field: 'query.destination',
                    message: "not one of this token's services",
                    code: 'API_NOT_OWNER',
                  },
                ],
              },
            );
          }
          // Its services: the stored ones it owns (a namespace's, present and future) and those
          // it names.
          destinations = await ownedServices(app.ward.store, principal);
        }
        if (destination !== undefined) destinations = new Set([destination]);
        const now = options.now();
        const result = await proposeFromTraffic(app.ward.store, db(), {
          since: windowStart(request.query.since, now),
          now,
          ...(destinations !== undefined ? { destinations } : {}),
        });
        if (request.query.format === 'yaml') {
          return reply.type('application/yaml; charset=utf-8').send(proposalsYaml(result));
        }
        return reply.type('application/json; charset=utf-8').send(result);
      },
    );
  };
}
