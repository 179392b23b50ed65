/** Revision history (admin and team) and the append-only audit log (admin). */
import type { FastifyInstance } from 'fastify';
import { ServerError } from '../../errors.ts';
import { listAudit } from '../../store/audit.ts';
import { getRevision, listHistory } from '../../store/history.ts';
import { bearer, pageQuery, problemResponses } from '../schemas.ts';

export async function historyRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { limit: number; before?: number } }>(
    '/v1/history',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['history'],
        summary: 'Revisions, newest first: who changed what, when',
        security: bearer,
        querystring: pageQuery,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: { $ref: 'HistoryEntry#' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => ({ items: await listHistory(app.ward.db, request.query) }),
  );

  app.get<{ Params: { revision: number } }>(
    '/v1/history/:revision',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['history'],
        summary: 'One revision with the documents before and after, and a field diff',
        security: bearer,
        params: {
          type: 'object',
          required: ['revision'],
          properties: { revision: { type: 'integer', minimum: 1 } },
        },
        response: { 200: { $ref: 'HistoryEntry#' }, ...problemResponses },
      },
    },
    async (request) => {
      const detail = await getRevision(app.ward.db, request.params.revision);
      if (!detail) {
        throw new ServerError(
          'API_NOT_FOUND',
          `revision ${request.params.revision} does not exist`,
          {
            errors: [{ field: 'params.revision', message: 'no such revision' }],
          },
        );
      }
      return detail;
    },
  );

  app.get<{ Querystring: { limit: number; before?: number } }>(
    '/v1/audit',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['audit'],
        summary: 'The append-only audit log, newest first (there is no way to change it)',
        security: bearer,
        querystring: pageQuery,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: { $ref: 'AuditEntry#' } } },
          },
          ...problemResponses,
        },
      },
    },
    async (request) => ({ items: await listAudit(app.ward.db, request.query) }),
  );
}
