/**
 * JSON schema of `POST /v1/ingest/connections` (`WireBatchV1` in `@ward/api-types`): strict, an
 * unknown field is an error naming it.
 */

/** Edges per batch at most (an agent holds 10,000 by default). */
export const MAX_WIRE_EDGES = 20_000;

const count = { type: 'integer', minimum: 0, maximum: 1_000_000_000 } as const;

const edge = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'destination', 'port', 'samples', 'connections', 'firstSeen', 'lastSeen'],
  properties: {
    source: { type: 'string', minLength: 1, maxLength: 2048 },
    destination: { type: 'string', minLength: 1, maxLength: 2048 },
    port: { type: 'integer', minimum: 1, maximum: 65_535 },
    samples: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
    connections: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
    firstSeen: { type: 'string', minLength: 1, maxLength: 64 },
    lastSeen: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

export const wireBatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['edges', 'dropped', 'unresolved'],
  properties: {
    edges: { type: 'array', maxItems: MAX_WIRE_EDGES, items: edge },
    dropped: count,
    unresolved: {
      type: 'object',
      additionalProperties: false,
      required: ['inbound', 'noProcess', 'unattested', 'unknownRemote', 'self', 'overCap'],
      properties: {
        inbound: count,
        noProcess: count,
        unattested: count,
        unknownRemote: count,
        self: count,
        overCap: count,
      },
    },
  },
} as const;
