/**
 * Soft-apply reports (`GET /v1/reports/dry-run|unused|unapproved`) and promote
 * (`POST /v1/services/{service}/promote`).
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { owns, type Principal } from '../auth/tokens.ts';
import { ServerError } from '../errors.ts';
import { principalOf } from '../http/auth-hook.ts';
import { bearer, nameParam, problemResponses } from '../http/schemas.ts';
import { Approvals } from './approvals.ts';
import { promote } from './promote.ts';
import {
  dryRunReportSchema,
  promoteResultSchema,
  unapprovedReportSchema,
  unusedReportSchema,
} from './report-schemas.ts';
import { dryRunReport, unapprovedReport, unusedReport } from './reports.ts';
import type { IngestDatabase } from './tables.ts';
import { windowStart } from './windows.ts';

const since = (fallback: string) =>
  ({ type: 'string', minLength: 1, maxLength: 64, default: fallback }) as const;

/**
 * A team reads the report items of the destinations it owns (`owns`: the key or its whole
 * namespace), nothing about another team's services. Admins read everything.
 */
function ownItems<R extends { items: { destination: string }[] }>(
  principal: Principal,
  report: R,
): R {
  if (principal.scope === 'admin') return report;
  return { ...report, items: report.items.filter((i) => owns(principal, i.destination)) };
}

/** 403 when a team names a service it does not own. */
function requireOwned(principal: Principal, service: string, field: string): void {
  if (principal.scope === 'admin' || owns(principal, service)) return;
  throw new ServerError(
    'API_FORBIDDEN',
    `token "${principal.name}" does not own service "${service}"`,
    {
      errors: [{ field, message: "not one of this token's services", code: 'API_NOT_OWNER' }],
    },
  );
}

export function reportRoutes(options: { now: () => number }) {
  return async (app: FastifyInstance): Promise<void> => {
    const db = () => app.ward.db as unknown as Kysely<IngestDatabase>;

    app.get<{ Querystring: { since: string; service?: string } }>(
      '/v1/reports/dry-run',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Calls dry-run rules would have denied, by edge and rule',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { since: since('1h'), service: nameParam },
          },
          response: { 200: dryRunReportSchema, ...problemResponses },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const { service } = request.query;
        if (service !== undefined) requireOwned(principal, service, 'query.service');
        const now = options.now();
        return ownItems(
          principal,
          await dryRunReport(db(), {
            since: windowStart(request.query.since, now),
            now,
            ...(service !== undefined ? { service } : {}),
          }),
        );
      },
    );

    app.get<{ Querystring: { since: string } }>(
      '/v1/reports/unused',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Approved edges (allow rules) that no traffic used in the window',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { since: since('7d') },
          },
          response: { 200: unusedReportSchema, ...problemResponses },
        },
      },
      async (request) => {
        const now = options.now();
        const start = windowStart(request.query.since, now);
        return ownItems(
          principalOf(request),
          await unusedReport(db(), await Approvals.load(app.ward.store), { since: start, now }),
        );
      },
    );

    app.get<{ Querystring: { since: string } }>(
      '/v1/reports/unapproved',
      {
        config: { auth: ['admin', 'team'] },
        schema: {
          tags: ['reports'],
          summary: 'Observed edges (decision logs, traces) that no allow rule approves',
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { since: since('30d') },
          },
          response: { 200: unapprovedReportSchema, ...problemResponses },
        },
      },
      async (request) => {
        const now = options.now();
        const start = windowStart(request.query.since, now);
        return ownItems(
          principalOf(request),
          await unapprovedReport(db(), await Approvals.load(app.ward.store), {
            since: start,
            now,
          }),
        );
      },
    );

    app.post<{
      Params: { service: string };
      Body: { force?: boolean; window?: string } | undefined;
    }>(
      '/v1/services/:service/promote',
      {
        config: { auth: ['admin', 'team'] },
        bodyLimit: 4096,
        schema: {
          tags: ['reports'],
          summary:
            "Switch a service's dry-run intentions to enforce (409 while dry-run denials remain, unless force)",
          security: bearer,
          params: { type: 'object', required: ['service'], properties: { service: nameParam } },
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              force: { type: 'boolean' },
              window: { type: 'string', minLength: 1, maxLength: 64 },
            },
          },
          response: { 200: promoteResultSchema, ...problemResponses },
        },
      },
      async (request) => {
        const now = options.now();
        const window = request.body?.window ?? '1h';
        const result = await promote(app.ward.store, db(), principalOf(request), {
          service: request.params.service,
          force: request.body?.force ?? false,
          since: windowStart(window, now, '/window'),
          window,
          now,
        });
        if (result.changed) await app.ward.changed();
        return result;
      },
    );
  };
}
