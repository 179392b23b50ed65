/**
 * `POST /v1/rollback`: return the stored documents (all, or one service's) to their state at a
 * past revision, as one ordinary apply (src/apply/rollback.ts). The revision the caller reviewed
 * comes as `expectedRevision` or `If-Match: "r<revision>"`; anything in scope changed since → 412.
 */

import { canonicalServiceKey } from '@ward/spiffe';
import type { FastifyInstance } from 'fastify';
import { headerExpectations, preconditionFailed } from '../../apply/preconditions.ts';
import { rollback } from '../../apply/rollback.ts';
import { ServerError } from '../../errors.ts';
import { timedApply, withoutCommit } from '../apply-run.ts';
import { principalOf } from '../auth-hook.ts';
import { applyResponses, bearer, nameParam } from '../schemas.ts';

interface RollbackBody {
  to: number;
  service?: string;
  dryRun?: boolean;
  expectedRevision?: number;
}

const MAX_REVISION = 2147483647;

/**
 * The revision the caller planned against, from the body or `If-Match` (one strong `"rN"`;
 * `*` asks nothing of a store that always exists). Both present must agree.
 */
function expectedOf(
  body: RollbackBody,
  headers: Record<string, string | string[] | undefined>,
): { revision: number; field: string } | undefined {
  const bad = (field: string, message: string) =>
    new ServerError('API_VALIDATION', `${field}: ${message}`, { errors: [{ field, message }] });
  if (headers['if-none-match'] !== undefined) {
    throw bad(
      'headers.if-none-match',
      'a rollback takes If-Match "r<revision>", not If-None-Match',
    );
  }
  const fromBody =
    body.expectedRevision === undefined
      ? undefined
      : { revision: body.expectedRevision, field: '/expectedRevision' };
  const header = headerExpectations({ 'if-match': headers['if-match'] })[0]?.precondition;
  if (header === undefined || header.type !== 'at') return fromBody;
  if (header.revisions.length > 1) {
    throw bad('headers.if-match', 'name one revision, the one the rollback was reviewed at');
  }
  const [revision] = header.revisions;
  if (revision === undefined) {
    // A weak tag, or one this server never issued, names no revision: it never matches, as on a
    // document write.
    preconditionFailed([
      {
        field: 'headers.if-match',
        message:
          'If-Match names no revision this server issued (expected one strong tag "r<revision>")',
        code: 'API_PRECONDITION_FAILED',
      },
    ]);
  }
  const fromHeader = { revision, field: 'headers.if-match' };
  if (fromBody && fromBody.revision !== fromHeader.revision) {
    throw bad('/expectedRevision', 'disagrees with the If-Match header');
  }
  return fromHeader;
}

export async function rollbackRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: RollbackBody }>(
    '/v1/rollback',
    {
      config: { auth: ['admin', 'team'] },
      schema: {
        tags: ['apply'],
        summary:
          'Return the documents (all, or one service) to their state at a past revision, as one audited apply (dryRun shows the diff; 412 if something in scope changed since expectedRevision)',
        security: bearer,
        headers: {
          type: 'object',
          properties: {
            'if-match': {
              type: 'string',
              maxLength: 4096,
              description:
                'The store revision the rollback was reviewed at, as `"r<revision>"` (the dry run\'s `revision`): 412 if a document in scope changed since. Same as `expectedRevision`.',
            },
          },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['to'],
          properties: {
            to: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_REVISION,
              description: 'The revision whose state is restored',
            },
            service: {
              ...nameParam,
              description:
                'Only this Service document and the Intentions whose destination it is (now or at `to`); team tokens must name a service they own',
            },
            dryRun: { type: 'boolean', description: 'Answer the plan and diff; write nothing' },
            expectedRevision: {
              type: 'integer',
              minimum: 0,
              maximum: MAX_REVISION,
              description:
                'The store revision the rollback was reviewed at (its dry run): refused with 412 if a document in scope changed since. Same as If-Match: "r<revision>".',
            },
          },
        },
        response: applyResponses,
      },
    },
    async (request) => {
      const body = request.body;
      const dryRun = body.dryRun ?? false;
      const expected = expectedOf(body, request.headers);
      const result = await timedApply(app.ward, 'rollback', dryRun, () =>
        rollback(app.ward.store, principalOf(request), {
          to: body.to,
          // A key: `default/payments` is `payments` (the schema admitted a service reference).
          ...(body.service !== undefined
            ? { service: canonicalServiceKey(body.service) ?? body.service }
            : {}),
          dryRun,
          ...(expected ? { expected } : {}),
        }),
      );
      return withoutCommit(result);
    },
  );
}
