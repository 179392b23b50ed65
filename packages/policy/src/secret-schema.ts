/**
 * The JSON Schema of the `spec` of a `Secret` document (schema.ts wraps it in the common document
 * header). Structure and bounds only: duration bounds, which blocks go with which type, readers
 * and grant templates are checked in secret-check.ts, where messages can say what is wrong.
 * Every object is closed (`additionalProperties: false`): a value pasted into a document
 * (`value:`, `password:`) is refused, never stored.
 */
import { SERVICE_REF_PATTERN } from '@ward/spiffe';

/** A duration: digits and one unit (`500ms`, `30s`, `5m`, `1h`, `7d`). */
export const SECRET_DURATION_PATTERN = '^[0-9]{1,9}(ms|s|m|h|d)$';

const duration = (description: string) =>
  ({
    type: 'string',
    minLength: 2,
    maxLength: 11,
    pattern: SECRET_DURATION_PATTERN,
    description,
  }) as const;

const ref = (description: string) =>
  ({
    type: 'string',
    minLength: 1,
    maxLength: 127,
    pattern: SERVICE_REF_PATTERN,
    description,
  }) as const;

export const secretSpec = {
  required: ['owner'],
  properties: {
    owner: ref(
      "The owning service: `name` in the secret's namespace, or `namespace/name`. Its owners write the document and the values.",
    ),
    readers: {
      type: 'array',
      maxItems: 1000,
      items: { type: 'string', minLength: 1, maxLength: 127 },
      description:
        'Services allowed to read the value (`name` or `namespace/name`); unique, no `*`. Default none.',
    },
    type: {
      enum: ['static', 'random', 'keypair', 'postgres'],
      description: 'How the value comes to be. Default `static` (written by its owners).',
    },
    random: {
      type: 'object',
      additionalProperties: false,
      description: 'Only with `type: random`.',
      properties: {
        length: { type: 'integer', minimum: 16, maximum: 4096, description: 'Default 32.' },
        alphabet: {
          enum: ['base64url', 'hex', 'alphanumeric'],
          description: 'Default `base64url`.',
        },
      },
    },
    keypair: {
      type: 'object',
      additionalProperties: false,
      description: 'Only with `type: keypair`.',
      properties: {
        algorithm: {
          enum: ['ed25519', 'ecdsa-p256', 'rsa-2048'],
          description: 'Default `ed25519`.',
        },
      },
    },
    rotation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        every: duration('Scheduled rotation, only for `random` and `keypair`; at least 1m.'),
        grace: duration('How long a replaced version stays valid: 0s to 30d, default 1h.'),
        activation: duration('Delay before a new version becomes current: 0s to 1h, default 5s.'),
      },
    },
    postgres: {
      type: 'object',
      additionalProperties: false,
      required: ['connection', 'grants'],
      description: 'Dynamic PostgreSQL logins: required with `type: postgres`, refused otherwise.',
      properties: {
        connection: ref(
          'A static Secret whose field `url` is a postgres:// URL of a role with CREATEROLE.',
        ),
        ttl: duration('Lease time: 1m to 24h, default 1h.'),
        maxTtl: duration('Longest life of one login: at least ttl, at most 30d, default 24h.'),
        grants: {
          type: 'array',
          minItems: 1,
          maxItems: 32,
          items: { type: 'string', minLength: 1, maxLength: 1000 },
          description:
            'SQL statements run for each new login; each contains `{{name}}` (the quoted role name), no other placeholder and no `;`.',
        },
      },
    },
  },
} as const;
