/**
 * API tokens (admin only): create (shown once), list, revoke. Each is audited. `GET /v1/whoami`
 * tells any credential who it is.
 */
import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance } from 'fastify';
import { notifyRevoked, onTokenRevoked } from '../../auth/revocation.ts';
import {
  generateToken,
  insertToken,
  listTokens,
  revokeToken,
  SCOPES,
  type Scope,
} from '../../auth/tokens.ts';
import { ServerError } from '../../errors.ts';
import { appendAudit } from '../../store/audit.ts';
import { principalOf } from '../auth-hook.ts';
import { bearer, nameParam, namespaceParam, problemResponses } from '../schemas.ts';

interface CreateBody {
  name: string;
  scope: Scope;
  services?: string[];
  namespaces?: string[];
}

export async function tokenRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: CreateBody }>(
    '/v1/tokens',
    {
      config: { auth: ['admin'] },
      bodyLimit: 64 * 1024,
      schema: {
        tags: ['tokens'],
        summary: 'Create a token; the response is the only time the token is shown',
        security: bearer,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scope'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            scope: { type: 'string', enum: SCOPES },
            services: {
              type: 'array',
              maxItems: 10000,
              uniqueItems: true,
              items: nameParam,
              description:
                'Service keys (`name`, or `namespace/name` outside the default namespace) a team token owns, or the one a pdp token speaks for',
            },
            namespaces: {
              type: 'array',
              maxItems: 1000,
              uniqueItems: true,
              items: namespaceParam,
              description:
                'Namespaces a team token owns whole: every service in them, present and future, and their Service and Intention documents',
            },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              token: { type: 'string' },
              id: { type: 'string' },
              name: { type: 'string' },
              scope: { type: 'string' },
              services: { type: 'array', items: { type: 'string' } },
              namespaces: { type: 'array', items: { type: 'string' } },
              createdAt: { type: 'string' },
              createdBy: { type: 'string' },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { name, scope } = request.body;
      // Keys: `default/payments` is `payments`; two spellings of one service are one service.
      const services = [
        ...new Set((request.body.services ?? []).map((s) => canonicalServiceKey(s) ?? s)),
      ];
      const namespaces = [...new Set(request.body.namespaces ?? [])];
      if (scope === 'team' && services.length === 0 && namespaces.length === 0) {
        throw new ServerError(
          'API_VALIDATION',
          'a team token must own at least one service or namespace',
          {
            errors: [
              {
                field: '/services',
                message: 'required (non-empty) for scope team unless namespaces names one',
              },
            ],
          },
        );
      }
      // A PDP speaks for exactly one service: its token reads that service's bundle and ships
      // only that service's decisions and spans, so one stolen token exposes one service.
      if (scope === 'pdp' && services.length !== 1) {
        throw new ServerError('API_VALIDATION', 'a pdp token is bound to exactly one service', {
          errors: [{ field: '/services', message: 'must name exactly one service for scope pdp' }],
        });
      }
      if (scope !== 'team' && scope !== 'pdp' && services.length > 0) {
        throw new ServerError('API_VALIDATION', `a ${scope} token does not own services`, {
          errors: [{ field: '/services', message: 'only allowed for scopes team and pdp' }],
        });
      }
      // Only a team owns namespaces: a pdp credential stays bound to one service key.
      if (scope !== 'team' && namespaces.length > 0) {
        throw new ServerError('API_VALIDATION', `a ${scope} token does not own namespaces`, {
          errors: [{ field: '/namespaces', message: 'only allowed for scope team' }],
        });
      }
      const actor = principalOf(request);
      const token = generateToken();
      const info = await app.ward.store.transaction(async (trx) => {
        const created = await insertToken(trx, token, {
          name,
          scope,
          services,
          namespaces,
          createdBy: actor.name,
        });
        await appendAudit(trx, actor, 'token.create', created.id, {
          name,
          tokenScope: scope,
          services,
          namespaces,
        });
        return created;
      });
      return reply.code(201).send({ token, ...info });
    },
  );

  // Who am I: the console shows it after sign-in and hides what the scope may not do.
  app.get(
    '/v1/whoami',
    {
      config: { auth: ['admin', 'team', 'pdp', 'collector'] },
      schema: {
        tags: ['tokens'],
        summary: 'The principal behind the credential sent: name, scope and owned services',
        security: bearer,
        response: {
          200: {
            type: 'object',
            required: ['name', 'scope', 'services', 'namespaces', 'via'],
            properties: {
              name: { type: 'string' },
              scope: { type: 'string', enum: SCOPES },
              services: { type: 'array', items: { type: 'string' } },
              namespaces: { type: 'array', items: { type: 'string' } },
              via: { type: 'string', enum: ['token', 'mtls'] },
            },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const p = principalOf(request);
      return {
        name: p.name,
        scope: p.scope,
        services: [...p.services].sort(),
        namespaces: [...(p.namespaces ?? [])].sort(),
        via: p.via,
      };
    },
  );

  app.get(
    '/v1/tokens',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['tokens'],
        summary: 'List tokens (never the tokens themselves)',
        security: bearer,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: { $ref: 'TokenInfo#' } } },
          },
          ...problemResponses,
        },
      },
    },
    async () => ({ items: await listTokens(app.ward.db) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token',
        security: bearer,
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
        },
        response: { 200: { $ref: 'TokenInfo#' }, ...problemResponses },
      },
    },
    async (request) => {
      const actor = principalOf(request);
      const info = await app.ward.store.transaction(async (trx) => {
        const revoked = await revokeToken(trx, request.params.id);
        if (revoked) {
          await appendAudit(trx, actor, 'token.revoke', revoked.id, { name: revoked.name });
          if (app.ward.dialect === 'postgres') await notifyRevoked(trx, revoked.id);
        }
        return revoked;
      });
      if (!info) {
        throw new ServerError('API_NOT_FOUND', `token ${request.params.id} does not exist`, {
          errors: [{ field: 'params.id', message: 'no such token' }],
        });
      }
      // Streams opened with it end now, not at their next reconnect.
      onTokenRevoked(app.ward.hub, app.ward.authenticator, info.id);
      return info;
    },
  );
}
