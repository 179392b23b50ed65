/**
 * JSON schemas of the API. Request schemas validate input (unknown fields are refused, so a typo
 * is an error rather than silently ignored); response schemas drive fast serialisation and the
 * OpenAPI document at /openapi.json. Shared ones are registered by `$id` and referenced.
 */

import { MAX_SERVICE_KEY_LENGTH, NAMESPACE_PATTERN, SERVICE_REF_PATTERN } from '@ward/spiffe';

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json).',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: {
      type: 'string',
      description: '`https://ward.dev/problems/<code>`: the code in lower case, `_` as `-`.',
    },
    title: { type: 'string' },
    status: { type: 'integer', description: 'The HTTP status (there is no `statusCode`).' },
    code: { type: 'string', description: 'Stable error code, see docs/errors.md.' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: {
          field: { type: 'string' },
          message: { type: 'string' },
          file: { type: 'string' },
          line: { type: 'integer' },
          col: { type: 'integer' },
          code: { type: 'string' },
        },
      },
    },
  },
} as const;

/** A policy document of any stored kind; the policy engine validates its structure. */
export const documentSchema = {
  $id: 'Document',
  type: 'object',
  description:
    'A ward.dev/v1 Service, Intention, AttributeSchema, Gateway, Route or Secret document (see docs/policy-schema.json).',
  additionalProperties: true,
} as const;

export const storedDocumentSchema = {
  $id: 'StoredDocument',
  type: 'object',
  required: ['kind', 'name', 'namespace', 'document', 'createdRevision', 'updatedRevision'],
  properties: {
    kind: {
      type: 'string',
      enum: ['Service', 'Intention', 'AttributeSchema', 'Gateway', 'Route', 'Secret'],
    },
    name: {
      type: 'string',
      description:
        'The document key: `name` in the default namespace, `namespace/name` in any other',
    },
    namespace: { type: 'string', description: 'The namespace the document lives in' },
    document: { $ref: 'Document#' },
    createdRevision: { type: 'integer' },
    updatedRevision: { type: 'integer' },
    updatedAt: { type: 'string' },
    updatedBy: { type: 'string' },
  },
} as const;

const fieldChange = {
  type: 'object',
  required: ['path', 'op'],
  properties: {
    path: { type: 'string' },
    op: { type: 'string', enum: ['add', 'remove', 'replace'] },
    before: {},
    after: {},
  },
} as const;

export const applyResultSchema = {
  $id: 'ApplyResult',
  type: 'object',
  required: ['dryRun', 'revision', 'changed', 'results', 'summary'],
  properties: {
    dryRun: { type: 'boolean' },
    revision: { type: 'integer' },
    changed: { type: 'boolean' },
    summary: {
      type: 'object',
      properties: {
        created: { type: 'integer' },
        updated: { type: 'integer' },
        unchanged: { type: 'integer' },
        deleted: { type: 'integer' },
      },
    },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'name', 'namespace', 'action'],
        properties: {
          kind: { type: 'string' },
          name: {
            type: 'string',
            description: 'The document key (`namespace/name` outside default)',
          },
          namespace: { type: 'string' },
          action: { type: 'string', enum: ['created', 'updated', 'unchanged', 'deleted'] },
          file: { type: 'string' },
          line: { type: 'integer' },
          col: { type: 'integer' },
          diff: { type: 'array', items: fieldChange },
        },
      },
    },
  },
} as const;

const actor = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' } },
} as const;

export const historyEntrySchema = {
  $id: 'HistoryEntry',
  type: 'object',
  properties: {
    revision: { type: 'integer' },
    at: { type: 'string' },
    actor,
    operation: { type: 'string' },
    services: { type: 'array', items: { type: 'string' } },
    changes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          kind: { type: 'string' },
          name: { type: 'string' },
          namespace: { type: 'string' },
          action: { type: 'string' },
          file: { type: 'string' },
          before: { anyOf: [{ type: 'null' }, { $ref: 'Document#' }] },
          after: { anyOf: [{ type: 'null' }, { $ref: 'Document#' }] },
          diff: { type: 'array', items: fieldChange },
        },
      },
    },
  },
} as const;

export const auditEntrySchema = {
  $id: 'AuditEntry',
  type: 'object',
  properties: {
    id: { type: 'integer' },
    at: { type: 'string' },
    actor,
    action: { type: 'string' },
    target: { type: 'string' },
    revision: { type: ['integer', 'null'] },
    detail: { type: 'object', additionalProperties: true },
    seq: { type: 'integer' },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;

export const auditVerificationSchema = {
  $id: 'AuditVerification',
  type: 'object',
  required: ['ok', 'entries', 'head', 'headSeq'],
  properties: {
    ok: { type: 'boolean' },
    entries: { type: 'integer' },
    head: { type: 'string' },
    headSeq: { type: 'integer' },
    firstBreak: {
      type: 'object',
      properties: {
        kind: { type: 'string' },
        seq: { type: 'integer' },
        id: { type: 'integer' },
        message: { type: 'string' },
      },
    },
  },
} as const;

export const tokenInfoSchema = {
  $id: 'TokenInfo',
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    scope: { type: 'string', enum: ['admin', 'team', 'pdp', 'collector', 'metrics'] },
    services: { type: 'array', items: { type: 'string' } },
    namespaces: {
      type: 'array',
      items: { type: 'string' },
      description: 'Namespaces a team token owns whole (every service in them, present and future)',
    },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export const sharedSchemas = [
  problemSchema,
  documentSchema,
  storedDocumentSchema,
  applyResultSchema,
  historyEntrySchema,
  auditEntrySchema,
  auditVerificationSchema,
  tokenInfoSchema,
];

/** Error responses every route may give; listed so the OpenAPI document shows them. */
export const problemResponses = {
  '4xx': { description: 'Problem', $ref: 'Problem#' },
  '5xx': { description: 'Problem', $ref: 'Problem#' },
} as const;

const entityTags = {
  type: 'string',
  maxLength: 4096,
} as const;

/** `If-None-Match` on a document read: 304 when it names the current ETag (or is `*`). */
export const conditionalReadHeaders = {
  type: 'object',
  properties: {
    'if-none-match': {
      ...entityTags,
      description: 'ETags read before (e.g. `"r12"`); 304 Not Modified when one is current.',
    },
  },
} as const;

/** Conditional writes (docs/api.md, Concurrency): checked in the write's transaction. */
export const conditionalWriteHeaders = {
  type: 'object',
  properties: {
    'if-match': {
      ...entityTags,
      description:
        'Write only if the document is at this ETag (`"r12"`, from a read), or exists (`*`); else 412.',
    },
    'if-none-match': {
      ...entityTags,
      description: '`*`: write only if the document does not exist; else 412.',
    },
  },
} as const;

/** The `ETag` of a document read. */
export const etagHeader = {
  etag: {
    type: 'string',
    description: 'Strong entity tag `"r<revision>"`: the revision of the last change to it.',
  },
} as const;

export const preconditionFailedResponse = {
  description:
    'Precondition failed (API_PRECONDITION_FAILED): the document is not at the expected revision; errors[] names each document, the expected and the current revision. Nothing was changed.',
  $ref: 'Problem#',
} as const;

/** What an apply-like write answers: the result, a 412 when a reviewed revision moved, problems. */
export const applyResponses = {
  200: { $ref: 'ApplyResult#' },
  412: preconditionFailedResponse,
  ...problemResponses,
} as const;

/**
 * A service or document: its key, `name` or `namespace/name` (in a URL path the `/` travels
 * percent-encoded: `/v1/services/team-a%2Fpayments`). `default/payments` is accepted and is the
 * key `payments` (the app canonicalises `params.name`, `params.service` and the service query
 * parameters before any handler runs; src/http/app.ts).
 */
export const nameParam = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_SERVICE_KEY_LENGTH,
  pattern: SERVICE_REF_PATTERN,
} as const;

/** A namespace filter (`?namespace=team-a`): a DNS label. */
export const namespaceParam = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: NAMESPACE_PATTERN,
} as const;

export const pageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    before: { type: 'integer', minimum: 1 },
  },
} as const;

export const bearer = [{ bearerAuth: [] }];
