/**
 * CRUD of stored documents under /v1/services, /v1/intentions, /v1/attribute-schemas,
 * /v1/gateways, /v1/routes and /v1/secretpolicies (`Secret` documents: /v1/secrets is the values
 * API). Writes go through the same validated, audited path as `apply`.
 */
import { documentKey, type PolicyDocument, type SourcedDocument } from '@ward/policy';
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
  namespaceParam,
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
  // The URL names a key (`team-a/payments`, percent-encoded); the body's namespace and name
  // must make the same key, so a document cannot land in another namespace than the URL says.
  if (expectedName !== undefined && documentKey(d) !== expectedName) {
    throw new ServerError('API_DOCUMENT_INVALID', 'the name in the body differs from the URL', {
      errors: [
        {
          field: '/metadata/name',
          message: `metadata.namespace and metadata.name must make "${expectedName}" (the key in the URL), not "${documentKey(d)}"`,
        },
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
    // The edge's configuration; owned like the gateway's Service (apply.ts, `authorize`).
    ['Gateway', 'gateways', 'gateways'],
    ['Route', 'routes', 'routes'],
    // A secret's declaration (owner, readers, type, rotation), never its value: /v1/secrets
    // serves the values. Owned like the owner's Service (apply.ts, `authorize`).
    ['Secret', 'secretpolicies', 'secretpolicies'],
  ] as const) {
    const read = { auth: ['admin', 'team'] as const };
    const write = { auth: ['admin', 'team'] as const };
    const params = { type: 'object', required: ['name'], properties: { name: nameParam } } as const;

    app.get<{
      Querystring: { destination?: string; gateway?: string; owner?: string; namespace?: string };
    }>(
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
            properties: {
              namespace: {
                ...namespaceParam,
                description: 'Only the documents of this namespace',
              },
              ...(kind === 'Intention'
                ? {
                    destination: {
                      ...nameParam,
                      description: 'Only the intentions on this destination (a service key)',
                    },
                  }
                : {}),
              ...(kind === 'Route'
                ? {
                    gateway: {
                      ...nameParam,
                      description: "Only the routes of this gateway (the gateway service's key)",
                    },
                  }
                : {}),
              ...(kind === 'Secret'
                ? {
                    owner: {
                      ...nameParam,
                      description: 'Only the secrets this service owns (a service key)',
                    },
                  }
                : {}),
            },
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
        // Intentions are filtered by destination, routes by gateway, secrets by owner: the same
        // stored column.
        const destination =
          request.query.destination ?? request.query.gateway ?? request.query.owner;
        const [items, { revision }] = await Promise.all([
          store.listDocuments({
            kind,
            ...(destination !== undefined ? { destination } : {}),
            ...(request.query.namespace !== undefined
              ? { namespace: request.query.namespace }
              : {}),
          }),
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
      const first = upserts[0]?.document;
      const target = first ? documentKey(first) : (deletes[0]?.name ?? '');
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
