/**
 * The JSON Schema of the `spec` of the edge's kinds, `Gateway` and `Route` (schema.ts wraps them
 * in the common document header). Structure and bounds only: URLs, algorithms, hosts, CIDRs and
 * the request schema itself are checked in gateway-check.ts, where messages can say what is wrong.
 * Every object is closed (`additionalProperties: false`), so a raw API key (`key:`) or any other
 * stray secret in a document is refused rather than stored.
 */
import { SERVICE_NAME_PATTERN, SERVICE_REF_PATTERN } from '@ward/spiffe';

const url = { type: 'string', minLength: 1, maxLength: 2048 } as const;
const token = { type: 'string', minLength: 1, maxLength: 64 } as const;

/** A dot path into the token's claims: `role`, `realm_access.roles`. */
const claimPath = {
  type: 'string',
  minLength: 1,
  maxLength: 256,
  pattern: '^[A-Za-z0-9_:-]+(\\.[A-Za-z0-9_:-]+)*$',
  description: 'A dot path into the token claims, e.g. `realm_access.roles`.',
} as const;

const oidcIssuer = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer', 'audiences'],
  properties: {
    issuer: { ...url, description: 'The exact `iss`; https (http only for a loopback host).' },
    audiences: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', minLength: 1, maxLength: 1024 },
      description: 'The token `aud` must contain one of these.',
    },
    algorithms: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: token,
      description:
        'Allowed JWS algorithms (default RS256, PS256, ES256, EdDSA); never none or HS*.',
    },
    jwksUri: { ...url, description: "The issuer's JWKS; skips discovery." },
    clockSkewSec: { type: 'integer', minimum: 0, maximum: 300 },
    subjectClaim: claimPath,
  },
} as const;

const apiKey = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'sha256', 'subject'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9-]{1,63}$' },
    sha256: {
      type: 'string',
      pattern: '^[0-9a-f]{64}$',
      description: 'SHA-256 of the key text, 64 lower-case hex digits (never the key itself).',
    },
    subject: { type: 'string', minLength: 1, maxLength: 256 },
    attrs: { type: 'object', maxProperties: 64, propertyNames: { maxLength: 253 } },
  },
} as const;

const cors = {
  type: 'object',
  additionalProperties: false,
  required: ['origins'],
  properties: {
    origins: { type: 'array', minItems: 1, maxItems: 100, items: url },
    methods: { type: 'array', minItems: 1, maxItems: 16, items: token },
    headers: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-z0-9-]+$' },
    },
    credentials: { type: 'boolean' },
    maxAgeSec: { type: 'integer', minimum: 0, maximum: 86400 },
  },
} as const;

export const gatewaySpec = {
  properties: {
    oidc: { type: 'array', maxItems: 16, items: oidcIssuer },
    apiKeys: { type: 'array', maxItems: 1000, items: apiKey },
    passport: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ttlSec: { type: 'integer', minimum: 1, maximum: 86400 },
        attrs: {
          type: 'object',
          maxProperties: 64,
          propertyNames: { minLength: 1, maxLength: 253 },
          additionalProperties: claimPath,
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
    cors,
    trustedProxies: {
      type: 'array',
      maxItems: 256,
      items: { type: 'string', minLength: 1, maxLength: 64 },
      description: 'CIDRs of proxies whose X-Forwarded-For / Forwarded are extended.',
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      properties: { failureMode: { enum: ['open', 'closed'] } },
    },
  },
} as const;

const routeMatch = {
  type: 'object',
  description: 'Exactly one of `pathPrefix` and `path`; optional `methods` and `hosts`.',
  additionalProperties: false,
  properties: {
    pathPrefix: { type: 'string', minLength: 1, maxLength: 2048 },
    path: { type: 'string', minLength: 1, maxLength: 2048 },
    methods: { type: 'array', minItems: 1, maxItems: 16, items: token },
    hosts: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: { type: 'string', minLength: 1, maxLength: 253 },
    },
  },
} as const;

const upstream = {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'endpoints'],
  properties: {
    service: {
      type: 'string',
      minLength: 1,
      maxLength: 127,
      pattern: SERVICE_REF_PATTERN,
      description: "The upstream service: `name` in the route's namespace, or `namespace/name`.",
    },
    endpoints: { type: 'array', minItems: 1, maxItems: 64, items: url },
    stripPrefix: { type: 'boolean' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 3600000 },
    healthCheck: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: { type: 'string', minLength: 1, maxLength: 2048 },
        intervalMs: { type: 'integer', minimum: 100, maximum: 3600000 },
      },
    },
  },
} as const;

const rateLimit = {
  type: 'object',
  additionalProperties: false,
  required: ['by', 'limit', 'windowSec'],
  properties: {
    by: { enum: ['ip', 'user', 'apiKey', 'route'] },
    limit: { type: 'integer', minimum: 1, maximum: 1000000000 },
    windowSec: { type: 'integer', minimum: 1, maximum: 86400 },
  },
} as const;

export const routeSpec = {
  required: ['gateway', 'match', 'upstream'],
  properties: {
    gateway: {
      type: 'string',
      minLength: 1,
      maxLength: 63,
      pattern: SERVICE_NAME_PATTERN,
      description: "The gateway's name (a DNS label), in the route's namespace.",
    },
    match: routeMatch,
    auth: { enum: ['required', 'optional', 'none'] },
    upstream,
    rateLimits: { type: 'array', maxItems: 16, items: rateLimit },
    requestSchema: {
      type: ['object', 'boolean'],
      description: 'A JSON Schema (draft 2020-12) for application/json request bodies.',
    },
  },
} as const;
