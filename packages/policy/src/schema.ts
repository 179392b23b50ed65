/**
 * The JSON Schema of every document kind. It is the published contract (docs/policy-schema.json is
 * generated from it) and the first validation pass; semantic checks (SPIFFE IDs, globs, CEL)
 * follow in `check.ts` because a schema cannot express them with useful messages.
 */

import { NAMESPACE_PATTERN, SERVICE_REF_PATTERN } from '@ward/spiffe';
import { gatewaySpec, routeSpec } from './gateway-schema.ts';
import { secretSpec } from './secret-schema.ts';

const NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const name = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: NAME,
  description: 'A DNS label: lower-case letters, digits and `-`.',
} as const;

const namespace = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: NAMESPACE_PATTERN,
  description:
    'The namespace the document lives in (default `default`): a DNS label. Names inside it are relative to it.',
} as const;

/** A reference to a service: `name` (in the document's namespace) or `namespace/name`. */
const serviceRef = {
  type: 'string',
  minLength: 1,
  maxLength: 127,
  pattern: SERVICE_REF_PATTERN,
  description: "A service: `name` in the document's namespace, or `namespace/name` in another one.",
} as const;

const stringMap = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: 1024 },
  propertyNames: { maxLength: 253 },
} as const;

const stringMatch = {
  type: 'object',
  description: 'Exactly one of `exact`, `prefix` or `glob`.',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    exact: { type: 'string', minLength: 1, maxLength: 2048 },
    prefix: { type: 'string', minLength: 1, maxLength: 2048 },
    glob: { type: 'string', minLength: 1, maxLength: 2048 },
  },
} as const;

const ignoreCase = {
  type: 'boolean',
  description:
    'Compare the value case-insensitively (with `exact`, `prefix`, `glob` or `regex`). Default false.',
} as const;

const valueMatchers = {
  exact: { type: 'string', maxLength: 8192 },
  prefix: { type: 'string', minLength: 1, maxLength: 8192 },
  glob: { type: 'string', minLength: 1, maxLength: 8192 },
  regex: {
    type: 'string',
    minLength: 1,
    maxLength: 1024,
    description: 'An RE2 pattern the whole value must match.',
  },
  present: { type: 'boolean' },
  ignoreCase,
} as const;

/** A named matcher (a header or a query parameter): its `name` and one value matcher. */
const namedMatch = <N extends object>(what: string, nameSchema: N) =>
  ({
    type: 'object',
    description: `${what} \`name\` and exactly one of \`exact\`, \`prefix\`, \`glob\`, \`regex\` or \`present\`, and optionally \`ignoreCase\`.`,
    additionalProperties: false,
    required: ['name'],
    minProperties: 2,
    maxProperties: 3,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 256, ...nameSchema },
      ...valueMatchers,
    },
  }) as const;

const headerMatch = namedMatch('A header', { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" } as const);

const queryMatch = namedMatch('A query parameter', {
  description: 'The decoded parameter name; case-sensitive.',
} as const);

const metadata = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name,
    namespace,
    labels: stringMap,
    annotations: stringMap,
    revision: {
      type: 'integer',
      minimum: 0,
      maximum: 2147483647,
      description:
        'The stored revision this copy was read at (`ward get -o yaml` writes it). The control plane refuses to apply the document if it changed since (0: it must not exist); it is never stored.',
    },
  },
} as const;

const header = (kind: string) =>
  ({
    apiVersion: { const: 'ward.dev/v1' },
    kind: { const: kind },
    metadata,
  }) as const;

/** A document of `kind`: the common header and a closed `spec` object with these keywords. */
const documentOf = <S extends object>(kind: string, description: string, spec: S) =>
  ({
    type: 'object',
    description,
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      ...header(kind),
      spec: { type: 'object', additionalProperties: false, ...spec },
    },
  }) as const;

const serviceDocument = documentOf('Service', 'A workload Ward knows about.', {
  properties: {
    spiffeId: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^spiffe://' },
    owner: { type: 'string', minLength: 1, maxLength: 256 },
    dependencies: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['service', 'kind'],
        properties: {
          service: serviceRef,
          kind: { enum: ['startup', 'runtime'] },
          description: { type: 'string', maxLength: 1024 },
        },
      },
    },
    passport: {
      type: 'object',
      description:
        "The service's part in passport trust: its zone, whether it mints (the edge) or verifies.",
      additionalProperties: false,
      properties: {
        zone: { ...name, description: 'Trust zone of its passport keys. Default `default`.' },
        mint: {
          type: 'boolean',
          description: 'Mints passports: its bundle carries the signing key of its zone.',
        },
        verify: {
          type: 'boolean',
          description: 'Verifies passports even when no rule on it reads `passport`.',
        },
        maxLifetimeSec: {
          type: 'integer',
          minimum: 1,
          maximum: 86400,
          description: 'Largest `exp - iat` accepted, seconds. Default 3600.',
        },
      },
    },
  },
});

const rule = {
  type: 'object',
  additionalProperties: false,
  required: ['sources', 'action'],
  properties: {
    sources: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: { type: 'string', minLength: 1, maxLength: 2048 },
      description:
        'Callers: a service (`name` in this namespace, `namespace/name` in another), `namespace/*` for every service of a namespace, a glob over names, a SPIFFE ID or SPIFFE ID pattern, or `*` for any caller.',
    },
    action: { enum: ['allow', 'deny'] },
    permissions: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      description: 'L7 permissions; the rule matches when any one does.',
      items: {
        type: 'object',
        description: 'Exactly one of `http` or `grpc`.',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: {
          http: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              methods: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string' } },
              paths: { type: 'array', minItems: 1, maxItems: 100, items: stringMatch },
              headers: { type: 'array', minItems: 1, maxItems: 32, items: headerMatch },
              query: { type: 'array', minItems: 1, maxItems: 32, items: queryMatch },
            },
          },
          grpc: {
            type: 'object',
            additionalProperties: false,
            required: ['service'],
            properties: {
              service: { type: 'string', minLength: 1, maxLength: 512 },
              methods: {
                type: 'array',
                minItems: 1,
                maxItems: 100,
                items: { type: 'string', minLength: 1, maxLength: 256 },
              },
            },
          },
        },
      },
    },
    when: { type: 'string', minLength: 1, maxLength: 4096, description: 'A CEL condition.' },
    description: { type: 'string', maxLength: 1024 },
  },
} as const;

const intentionDocument = documentOf('Intention', 'Who may call a destination service, and how.', {
  required: ['destination', 'rules'],
  properties: {
    destination: serviceRef,
    mode: { enum: ['enforce', 'dry-run'] },
    rules: { type: 'array', minItems: 1, maxItems: 10000, items: rule },
  },
});

const scalarType = { enum: ['string', 'number', 'integer', 'boolean'] } as const;
const enumValues = {
  type: 'array',
  minItems: 1,
  maxItems: 256,
  items: { type: ['string', 'number', 'boolean'] },
  description: 'Allowed values, of the declared type.',
} as const;
const description = { type: 'string', maxLength: 1024 } as const;

const attributeType = {
  type: 'object',
  description:
    'A JSON Schema subset: a scalar `type` (or `array` with scalar `items`), optional `enum`.',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: ['string', 'number', 'integer', 'boolean', 'array'] },
    enum: enumValues,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: scalarType, enum: enumValues, description },
    },
    description,
  },
} as const;

const objectSchema = {
  type: 'object',
  description:
    'A JSON Schema of an object: its declared `properties` are what conditions may read.',
  additionalProperties: false,
  required: ['properties'],
  properties: {
    type: { const: 'object' },
    properties: {
      type: 'object',
      maxProperties: 1000,
      propertyNames: { minLength: 1, maxLength: 253 },
      additionalProperties: attributeType,
    },
    description,
  },
} as const;

const attributeSchemaDocument = documentOf(
  'AttributeSchema',
  'The passport attributes and Service labels conditions may read, with their types.',
  {
    minProperties: 1,
    properties: {
      zone: { ...name, description: 'Passport zone of `attributes`; omitted: every zone.' },
      attributes: { ...objectSchema, description: 'The passport attributes (`passport.attrs`).' },
      labels: {
        ...objectSchema,
        description: 'Service labels (`source.labels`) rules may read.',
      },
    },
  },
);

const decisionInput = {
  type: 'object',
  additionalProperties: false,
  required: ['destination', 'source'],
  properties: {
    destination: { type: 'string' },
    source: {
      type: 'object',
      additionalProperties: false,
      properties: {
        service: { type: 'string' },
        spiffeId: { type: 'string' },
        namespace: { type: 'string' },
        labels: stringMap,
      },
    },
    request: {
      type: 'object',
      additionalProperties: false,
      properties: {
        method: { type: 'string' },
        path: { type: 'string' },
        query: { type: 'string' },
        headers: stringMap,
        grpc: {
          type: 'object',
          additionalProperties: false,
          required: ['service', 'method'],
          properties: { service: { type: 'string' }, method: { type: 'string' } },
        },
      },
    },
    passport: {
      type: 'object',
      additionalProperties: false,
      required: ['sub', 'attrs', 'iat', 'exp', 'iss', 'kid'],
      properties: {
        sub: { type: 'string' },
        attrs: { type: 'object' },
        iat: { type: 'integer' },
        exp: { type: 'integer' },
        iss: { type: 'string' },
        kid: { type: 'string' },
        aud: { type: 'array', items: { type: 'string' } },
      },
    },
    time: { type: 'integer', minimum: 0 },
  },
} as const;

const policyTestDocument = documentOf(
  'PolicyTest',
  'Decision test cases: an input and the expected decision.',
  {
    required: ['cases'],
    properties: {
      cases: {
        type: 'array',
        minItems: 1,
        maxItems: 10000,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'input', 'expect'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 256 },
            input: decisionInput,
            expect: {
              type: 'object',
              additionalProperties: false,
              required: ['effect'],
              properties: {
                effect: { enum: ['allow', 'deny'] },
                rule: {
                  type: 'string',
                  pattern:
                    '^(default|([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?#[0-9]+)$',
                  description: '`policy#index` of the deciding rule, or `default`.',
                },
                allowed: { type: 'boolean' },
                enforced: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
  },
);

const gatewayDocument = documentOf(
  'Gateway',
  "The edge's configuration: trusted issuers, API key hashes, passport, limits, CORS. Its key is the gateway service's key.",
  gatewaySpec,
);

const routeDocument = documentOf(
  'Route',
  "One route of a gateway (in the gateway's namespace): what it matches and the upstream it forwards to.",
  routeSpec,
);

const secretDocument = documentOf(
  'Secret',
  "A secret's owner, readers, type and rotation (never its value). Its key is the secret's key; it is in no bundle.",
  secretSpec,
);

const kinds = [
  'Service',
  'Intention',
  'AttributeSchema',
  'Gateway',
  'Route',
  'Secret',
  'PolicyTest',
] as const;

/**
 * JSON Schema (draft-07) of a Ward document of any kind: `Service`, `Intention`, `AttributeSchema`,
 * `Gateway`, `Route`, `Secret` or `PolicyTest`.
 * The `kind` selects the sub-schema, so errors speak about the right fields.
 */
export const policySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://ward.dev/schemas/policy-v1.json',
  title: 'Ward policy document (ward.dev/v1)',
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata'],
  properties: {
    apiVersion: { const: 'ward.dev/v1' },
    kind: { enum: kinds },
  },
  allOf: kinds.map((kind) => ({
    if: { properties: { kind: { const: kind } } },
    // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here
    then: { $ref: `#/definitions/${kind}` },
  })),
  definitions: {
    Service: serviceDocument,
    Intention: intentionDocument,
    AttributeSchema: attributeSchemaDocument,
    Gateway: gatewayDocument,
    Route: routeDocument,
    Secret: secretDocument,
    PolicyTest: policyTestDocument,
    DecisionInput: decisionInput,
  },
} as const;
