/** JSON schemas of the fleet routes (validation and OpenAPI; reports.ts screens again). */
import { MAX_SERVICE_KEY_LENGTH } from '@ward/spiffe';

const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const isoTime = { type: 'string', maxLength: 40 } as const;
/** A service key, `name` or `namespace/name` (reports.ts canonicalises and checks it). */
const service = { type: 'string', minLength: 1, maxLength: MAX_SERVICE_KEY_LENGTH } as const;

export const pdpReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'instance',
    'service',
    'revision',
    'bundleAt',
    'connected',
    'version',
    'startedAt',
    'decisions',
  ],
  properties: {
    instance: { type: 'string', minLength: 1, maxLength: 64 },
    service,
    revision: count,
    bundleAt: { anyOf: [isoTime, { type: 'null' }] },
    connected: { type: 'boolean' },
    version: { type: 'string', maxLength: 64 },
    startedAt: isoTime,
    label: { type: 'string', maxLength: 128 },
    intervalMs: count,
    decisions: {
      type: 'object',
      additionalProperties: false,
      required: ['allowed', 'denied', 'dryRunDenied'],
      properties: { allowed: count, denied: count, dryRunDenied: count },
    },
  },
} as const;

export const agentReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['node', 'version', 'workloads', 'bundles'],
  properties: {
    node: { type: 'string', minLength: 1, maxLength: 253 },
    version: { type: 'string', maxLength: 64 },
    intervalMs: count,
    workloads: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['spiffeId', 'serial', 'notAfter'],
        properties: {
          spiffeId: { type: 'string', maxLength: 2048 },
          serial: { type: 'string', maxLength: 64 },
          notAfter: isoTime,
        },
      },
    },
    bundles: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['service', 'revision'],
        properties: { service, revision: count },
      },
    },
  },
} as const;

const nullableString = { type: ['string', 'null'] } as const;
const nullableInt = { type: ['integer', 'null'] } as const;

export const fleetSchema = {
  type: 'object',
  required: ['revision', 'now', 'items'],
  properties: {
    revision: { type: 'integer' },
    now: { type: 'string' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'kind',
          'instance',
          'service',
          'node',
          'revision',
          'desiredRevision',
          'state',
          'lastContact',
          'ageMs',
          'connected',
          'version',
        ],
        properties: {
          kind: { type: 'string', enum: ['pdp', 'agent'] },
          instance: { type: 'string' },
          service: nullableString,
          node: nullableString,
          label: { type: 'string' },
          revision: { type: 'integer' },
          desiredRevision: nullableInt,
          state: { type: 'string', enum: ['SYNCED', 'STALE', 'LOST'] },
          lastContact: { type: 'string' },
          ageMs: { type: 'integer' },
          connected: { type: 'boolean' },
          version: { type: 'string' },
        },
      },
    },
  },
} as const;

export const identitySchema = {
  type: 'object',
  required: ['trustDomain', 'trustBundle', 'workloads'],
  properties: {
    trustDomain: { type: 'string' },
    trustBundle: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          properties: {
            roots: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  subject: { type: 'string' },
                  serial: { type: 'string' },
                  fingerprint: { type: 'string' },
                  notBefore: { type: 'string' },
                  notAfter: { type: 'string' },
                  state: { type: 'string', enum: ['active', 'prepared', 'retiring'] },
                  activatedAt: nullableString,
                },
              },
            },
            rotation: {
              type: 'object',
              properties: {
                state: { type: 'string', enum: ['idle', 'prepared', 'activated'] },
                next: { type: ['string', 'null'] },
                intermediate: {
                  anyOf: [
                    { type: 'null' },
                    {
                      type: 'object',
                      properties: { serial: { type: 'string' }, notAfter: { type: 'string' } },
                    },
                  ],
                },
              },
            },
          },
        },
      ],
    },
    workloads: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          spiffeId: { type: 'string' },
          service: nullableString,
          node: { type: 'string' },
          serial: nullableString,
          notAfter: nullableString,
          expiresInMs: nullableInt,
        },
      },
    },
  },
} as const;
