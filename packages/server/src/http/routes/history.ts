/** Revision history (admin and team) and the append-only audit log (admin). */
import type { FastifyInstance } from 'fastify';
import type { ChainEntry } from '../../audit/chain.ts';
import {
  APPROVALS_NOTE,
  type AuditExport,
  type AuditExportEntry,
  auditExportCsv,
  exportEntry,
} from '../../audit/export.ts';
import { ServerError } from '../../errors.ts';
import { windowStart } from '../../ingest/windows.ts';
import { listAudit, verifyAuditChain } from '../../store/audit.ts';
import { getRevision, listHistory } from '../../store/history.ts';
import { bearer, nameParam, namespaceParam, pageQuery, problemResponses } from '../schemas.ts';

export async function historyRoutes(app: FastifyInstance): Promise<void> {
  app.get<{
    Querystring: { limit: number; before?: number; service?: string; namespace?: string };
  }>(
    '/v1/history',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['history'],
        summary: 'Revisions, newest first: who changed what, when',
        security: bearer,
        querystring: {
          ...pageQuery,
          properties: {
            ...pageQuery.properties,
            service: {
              ...nameParam,
              description:
                'Only revisions that changed this service: its Service document or an Intention on it (a key)',
            },
            namespace: {
              ...namespaceParam,
              description: 'Only revisions that changed a document of this namespace',
            },
          },
        },
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

  app.get<{ Querystring: { head?: string } }>(
    '/v1/audit/verify',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['audit'],
        summary:
          'Walks the audit hash chain and reports the first edited, deleted or reordered entry',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { head: hashParam },
        },
        response: { 200: { $ref: 'AuditVerification#' }, ...problemResponses },
      },
    },
    async (request) => verifyAuditChain(app.ward.db, anchorOpt(request.query.head)),
  );

  app.get<{
    Querystring: { since?: string; until?: string; format: 'json' | 'csv'; head?: string };
  }>(
    '/v1/audit/export',
    {
      config: { auth: ['admin'] },
      schema: {
        tags: ['audit'],
        summary:
          'Audit evidence: every entry in a time range with its chain fields, the chain head and verdict',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 64 },
            until: { type: 'string', maxLength: 64 },
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
            head: hashParam,
          },
        },
        response: { ...problemResponses },
      },
    },
    async (request, reply) => {
      const { since, until, format, head } = request.query;
      // An ISO 8601 time or a duration back from now (7d, 24h), as the report routes take.
      const now = Date.now();
      const from = since ? windowStart(since, now, 'query.since') : undefined;
      const to = until ? windowStart(until, now, 'query.until') : undefined;
      const entries: AuditExportEntry[] = [];
      const inRange = (e: ChainEntry) => {
        const t = Date.parse(e.at);
        return (from === undefined || t >= from) && (to === undefined || t < to);
      };
      const chain = await verifyAuditChain(app.ward.db, {
        ...anchorOpt(head),
        onEntry: (e) => {
          if (inRange(e)) entries.push(exportEntry(e));
        },
      });
      const x: AuditExport = {
        format: 'ward-audit-export-v1',
        exportedAt: new Date().toISOString(),
        range: { since: since ?? null, until: until ?? null },
        chain,
        approvals: APPROVALS_NOTE,
        entries,
      };
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(auditExportCsv(x));
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(x));
    },
  );
}

/** A SHA-256 hex head hash, as `ward audit verify` prints it. */
const hashParam = { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } as const;

const anchorOpt = (head: string | undefined) => (head ? { anchor: head } : {});
