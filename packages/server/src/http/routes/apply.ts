/**
 * `POST /v1/apply`: a set of YAML or JSON files, like `kubectl apply -f`. The body is either JSON
 * `{ files: [{ name, content }], dryRun? }` or one raw YAML file (`Content-Type:
 * application/yaml`, with `?dryRun=true&file=NAME`).
 */
import type { FastifyInstance } from 'fastify';
import { type ApplyFile, applyChanges, parseFiles } from '../../apply/apply.ts';
import { ServerError } from '../../errors.ts';
import { timedApply, withoutCommit } from '../apply-run.ts';
import { principalOf } from '../auth-hook.ts';
import { applyResponses, bearer } from '../schemas.ts';

/** 2,000 intentions in YAML are about 1 MiB; leave room, but bound it. */
export const APPLY_BODY_LIMIT = 16 * 1024 * 1024;

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

interface ApplyBody {
  files: ApplyFile[];
  dryRun?: boolean;
  force?: boolean;
}

export async function applyRoutes(app: FastifyInstance): Promise<void> {
  // Raw YAML bodies arrive as a string; this parser lives only in this plugin's scope.
  app.addContentTypeParser(
    YAML_TYPES,
    { parseAs: 'string', bodyLimit: APPLY_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );

  app.post<{
    Body: ApplyBody | string;
    Querystring: { dryRun?: boolean; force?: boolean; file?: string };
  }>(
    '/v1/apply',
    {
      config: { auth: ['admin', 'team'] },
      bodyLimit: APPLY_BODY_LIMIT,
      schema: {
        tags: ['apply'],
        summary:
          'Apply a set of documents (all or nothing; dryRun returns the plan and diff; 412 if a document changed since its metadata.revision)',
        security: bearer,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dryRun: { type: 'boolean' },
            force: { type: 'boolean' },
            file: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
        body: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['files'],
                properties: {
                  files: {
                    type: 'array',
                    minItems: 1,
                    maxItems: 10000,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['name', 'content'],
                      properties: {
                        name: { type: 'string', minLength: 1, maxLength: 1024 },
                        content: { type: 'string' },
                      },
                    },
                  },
                  dryRun: { type: 'boolean' },
                  force: {
                    type: 'boolean',
                    description:
                      'Ignore metadata.revision: overwrite documents even if they changed since they were read.',
                  },
                },
              },
            },
            'application/yaml': { schema: { type: 'string' } },
          },
        },
        response: applyResponses,
      },
    },
    async (request) => {
      const body = request.body;
      const files: ApplyFile[] =
        typeof body === 'string'
          ? [{ name: request.query.file ?? 'request.yaml', content: body }]
          : body.files;
      const dryRun =
        (typeof body === 'string' ? undefined : body.dryRun) ?? request.query.dryRun ?? false;
      const force =
        (typeof body === 'string' ? undefined : body.force) ?? request.query.force ?? false;
      // Timed from parsing to publishing: what a client waits for, refusals included.
      const result = await timedApply(app.ward, 'apply', dryRun, async () => {
        const upserts = parseFiles(files);
        if (upserts.length === 0) {
          throw new ServerError(
            'API_DOCUMENT_INVALID',
            'the files hold no Service or Intention document',
            {
              errors: [{ field: '/files', message: 'no documents found' }],
            },
          );
        }
        return applyChanges(app.ward.store, principalOf(request), {
          upserts,
          deletes: [],
          dryRun,
          force,
          operation: 'apply',
        });
      });
      return withoutCommit(result);
    },
  );
}
