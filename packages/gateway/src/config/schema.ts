/**
 * JSON Schemas of the `Gateway` and `Route` specs (SPEC.md), checked before the semantic checks
 * of compile.ts. The gateway validates itself rather than trusting that the control plane did:
 * a config it cannot use must be refused with the field named, never half-applied.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

const name = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' };
const seconds = (max: number) => ({ type: 'integer', minimum: 1, maximum: max });
const method = { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$" };
const header = { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$" };

const metadata = {
  type: 'object',
  required: ['name'],
  properties: { name, namespace: name },
};

const gatewaySpec = {
  type: 'object',
  additionalProperties: false,
  properties: {
    oidc: {
      type: 'array',
      maxItems: 32,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['issuer', 'audiences'],
        properties: {
          issuer: { type: 'string', pattern: '^https?://', maxLength: 2048 },
          audiences: {
            type: 'array',
            minItems: 1,
            maxItems: 32,
            items: { type: 'string', minLength: 1, maxLength: 2048 },
          },
          algorithms: {
            type: 'array',
            minItems: 1,
            items: {
              enum: [
                'RS256',
                'RS384',
                'RS512',
                'PS256',
                'PS384',
                'PS512',
                'ES256',
                'ES384',
                'ES512',
                'EdDSA',
              ],
            },
          },
          jwksUri: { type: 'string', pattern: '^https?://', maxLength: 2048 },
          clockSkewSec: { type: 'integer', minimum: 0, maximum: 300 },
          subjectClaim: { type: 'string', minLength: 1, maxLength: 256 },
        },
      },
    },
    apiKeys: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'sha256', 'subject'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9-]{1,63}$' },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          subject: { type: 'string', minLength: 1, maxLength: 256 },
          attrs: { type: 'object' },
        },
      },
    },
    passport: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ttlSec: seconds(86400),
        attrs: {
          type: 'object',
          additionalProperties: { type: 'string', minLength: 1, maxLength: 256 },
        },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxBodyBytes: { type: 'integer', minimum: 0, maximum: 1073741824 },
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576 },
        requestTimeoutMs: { type: 'integer', minimum: 1, maximum: 3600000 },
      },
    },
    cors: {
      type: 'object',
      additionalProperties: false,
      required: ['origins'],
      properties: {
        origins: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', pattern: '^(\\*|https?://[^/\\s]+)$' },
        },
        methods: { type: 'array', items: method },
        headers: { type: 'array', items: header },
        credentials: { type: 'boolean' },
        maxAgeSec: { type: 'integer', minimum: 0, maximum: 86400 },
      },
    },
    trustedProxies: { type: 'array', maxItems: 1024, items: { type: 'string', maxLength: 64 } },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      properties: { failureMode: { enum: ['open', 'closed'] } },
    },
  },
};

const routeSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['gateway', 'match', 'upstream'],
  properties: {
    gateway: name,
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        pathPrefix: { type: 'string', pattern: '^/', maxLength: 2048 },
        path: { type: 'string', pattern: '^/', maxLength: 2048 },
        methods: { type: 'array', minItems: 1, items: method },
        hosts: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', pattern: '^[A-Za-z0-9.-]{1,253}$' },
        },
      },
    },
    auth: { enum: ['required', 'optional', 'none'] },
    upstream: {
      type: 'object',
      additionalProperties: false,
      required: ['service', 'endpoints'],
      properties: {
        service: { type: 'string', minLength: 1, maxLength: 127 },
        endpoints: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          items: { type: 'string', pattern: '^https?://', maxLength: 2048 },
        },
        stripPrefix: { type: 'boolean' },
        timeoutMs: { type: 'integer', minimum: 1, maximum: 3600000 },
        healthCheck: {
          type: 'object',
          additionalProperties: false,
          required: ['path'],
          properties: {
            path: { type: 'string', pattern: '^/' },
            intervalMs: { type: 'integer', minimum: 100, maximum: 3600000 },
          },
        },
      },
    },
    rateLimits: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['by', 'limit', 'windowSec'],
        properties: {
          by: { enum: ['ip', 'user', 'apiKey', 'route'] },
          limit: { type: 'integer', minimum: 1, maximum: 1e9 },
          windowSec: seconds(86400),
        },
      },
    },
    requestSchema: { type: ['object', 'boolean'] },
  },
};

const documentOf = (kind: string, spec: object) => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'ward.dev/v1' },
    kind: { const: kind },
    metadata,
    spec,
  },
});

let validators: { gateway: ValidateFunction; route: ValidateFunction } | undefined;

/** The first schema violation of a `Gateway` / `Route` document, as `field: message`. */
export function schemaProblem(kind: 'Gateway' | 'Route', document: unknown): string | undefined {
  validators ??= (() => {
    const ajv = new Ajv({ allErrors: false, strict: false });
    return {
      gateway: ajv.compile(documentOf('Gateway', gatewaySpec)),
      route: ajv.compile(documentOf('Route', routeSpec)),
    };
  })();
  const validate = kind === 'Gateway' ? validators.gateway : validators.route;
  if (validate(document)) return undefined;
  return describe(validate.errors?.[0]);
}

function describe(error: ErrorObject | undefined): string {
  if (error === undefined) return 'invalid';
  const at =
    error.instancePath === '' ? '(document)' : error.instancePath.slice(1).replaceAll('/', '.');
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${JSON.stringify((error.params as { additionalProperty: string }).additionalProperty)})`
      : error.keyword === 'required'
        ? ` (${JSON.stringify((error.params as { missingProperty: string }).missingProperty)})`
        : '';
  return `${at}: ${error.message ?? 'invalid'}${extra}`;
}
