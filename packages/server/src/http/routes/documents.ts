/**
 * CRUD of Service and Intention documents under /v1/services and /v1/intentions. Writes go
 * through the same validated, audited path as `apply`.
 */
import type { PolicyDocument, SourcedDocument } from '@ward/policy';
import type { FastifyInstance } from 'fastify';
import { applyChanges, parseFiles } from '../../apply/apply.ts';
import { etagOf, headerExpectations, notModified } from '../../apply/preconditions.ts';
import { ServerError } from '../../errors.ts';
import type { DocumentKind } from '../../store/store.ts';
import { timedApply } from '../apply-run.ts';
import { principalOf } from '../auth-hook.ts';
import {
  bearer,
  conditionalReadHeaders,
  conditionalWriteHeaders,
  etagHeader,
  nameParam,
  preconditionFailedResponse,
  problemResponses,
} from '../schemas.ts';

const DOCUMENT_BODY_LIMIT = 256 * 1024;

/** Parses one JSON document through the policy parser so it gets the same diagnostics. */
function parseOne(body: unknown, kind: DocumentKind, expectedName?: string): SourcedDocument {
  const file = 'body';
  const [doc] = parseFiles([{ name: file, content: JSON.stringify(body, null, 2) }]);
  if (!doc) {
    throw new ServerError('API_DOCUMENT_INVALID', 'the body holds no document', {
      errors: [{ field: '/', message: 'expected one document' }],
    });
  }
  const d: PolicyDocument = doc.document;
  if (d.kind !== kind) {
    throw new ServerError('API_DOCUMENT_INVALID', `expected kind ${kind}`, {
      errors: [{ field: '/kind', message: `must be ${kind} on this route, not ${d.kind}` }],
    });
  }
  if (expectedName !== undefined && d.metadata.name !== expectedName) {
    throw new ServerError('API_DOCUMENT_INVALID', 'the name in the body differs from the URL', {
      errors: [
        { field: '/metadata/name', message: `must be "${expectedName}" (the name in the URL)` },
      ],
    });
  }
  return doc;
}

export async function documentRoutes(app: FastifyInstance): Promise<void> {
  for (const [kind, path, tag] of [
    ['Service', 'services', 'services'],
    ['Intention', 'intentions', 'intentions'],
    // Team tokens read schemas (their conditions are checked against them); only admins write.
    ['AttributeSchema', 'attribute-schemas', 'attribute-schemas'],
  ] as const) {
    const read = { auth: ['admin', 'team'] as const };
    const write = { auth: ['admin', 'team'] as const };
    const params = { type: 'object', required: ['name'], properties: { name: nameParam } } as const;

    app.get<{ Querystring: { destination?: string } }>(
      `/v1/${path}`,
      {
        config: read,
        schema: {
          tags: [tag],
          summary: `List ${path}`,
          security: bearer,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: kind === 'Intention' ? { destination: nameParam } : {},
          },
          response: {
            200: {
              type: 'object',
              properties: {
                revision: { type: 'integer' },
                items: { type: 'array', items: { $ref: 'StoredDocument#' } },
              },
            },
            ...problemResponses,
          },
        },
      },
      async (request) => {
        const { store } = app.ward;
        const [items, { revision }] = await Promise.all([
          store.listDocuments({ kind, destination: request.query.destination }),
          store.revision(),
        ]);
        return { revision, items };
      },
    );

    app.get<{ Params: { name: string } }>(
      `/v1/${path}/:name`,
      {
        config: read,
        schema: {
          tags: [tag],
          summary: `Read one ${kind}`,
          security: bearer,
          params,
          headers: conditionalReadHeaders,
          response: {
            200: { $ref: 'StoredDocument#', headers: etagHeader },
            304: { description: 'Not modified: If-None-Match names the current ETag' },
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        const doc = await app.ward.store.getDocument(kind, request.params.name);
        if (!doc) {
          throw new ServerError('API_NOT_FOUND', `${kind} ${request.params.name} does not exist`, {
            errors: [{ field: 'params.name', message: 'no such document' }],
          });
        }
        reply.header('etag', etagOf(doc.updatedRevision));
        if (notModified(request.headers['if-none-match'], doc.updatedRevision)) {
          return reply.code(304).send();
        }
        return doc;
      },
    );

    const change = async (
      request: { principal?: unknown; headers: Record<string, string | string[] | undefined> },
      upserts: SourcedDocument[],
      deletes: { kind: DocumentKind; name: string }[],
      operation: 'create' | 'replace' | 'delete',
    ) => {
      const target = upserts[0]?.document.metadata.name ?? deletes[0]?.name ?? '';
      const expected = headerExpectations(request.headers);
      return timedApply(app.ward, operation, false, () =>
        applyChanges(app.ward.store, principalOf(request as never), {
          upserts,
          deletes,
          dryRun: false,
          operation,
          expected: new Map([[`${kind}/${target}`, expected]]),
        }),
      );
    };

    app.post<{ Body: unknown }>(
      `/v1/${path}`,
      {
        config: write,
        bodyLimit: DOCUMENT_BODY_LIMIT,
        schema: {
          tags: [tag],
          summary: `Create a ${kind} (409 if it exists)`,
          security: bearer,
          headers: conditionalWriteHeaders,
          body: { $ref: 'Document#' },
          response: {
            201: { $ref: 'ApplyResult#' },
            412: preconditionFailedResponse,
            ...problemResponses,
          },
        },
      },
      async (request, reply) => {
        const result = await change(request, [parseOne(request.body, kind)], [], 'create');
        return reply.code(201).send(result);
      },
    );

    app.put<{ Params: { name: string }; Body: unknown }>(
      `/v1/${path}/:name`,
      {
        config: write,
        bodyLimit: DOCUMENT_BODY_LIMIT,
        schema: {
          tags: [tag],
          summary: `Create or replace a ${kind}`,
          security: bearer,
          params,
          headers: conditionalWriteHeaders,
          body: { $ref: 'Document#' },
          response: {
            200: { $ref: 'ApplyResult#' },
            412: preconditionFailedResponse,
            ...problemResponses,
          },
        },
      },
      async (request) =>
        change(request, [parseOne(request.body, kind, request.params.name)], [], 'replace'),
    );

    app.delete<{ Params: { name: string } }>(
      `/v1/${path}/:name`,
      {
        config: write,
        schema: {
          tags: [tag],
          summary: `Delete a ${kind}`,
          security: bearer,
          params,
          headers: conditionalWriteHeaders,
          response: {
            200: { $ref: 'ApplyResult#' },
            412: preconditionFailedResponse,
            ...problemResponses,
          },
        },
      },
      async (request) => change(request, [], [{ kind, name: request.params.name }], 'delete'),
    );
  }
}
