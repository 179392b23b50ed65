/**
 * JSON schema of `POST /v1/decision-logs` (`DecisionLogBatchV1` in `@ward/api-types`). Strict like
 * the rest of the API: an unknown or misspelt field is an error naming it, so a shipper bug is
 * seen at once rather than silently losing a field.
 */
import { MAX_SERVICE_KEY_LENGTH } from '@ward/spiffe';

const record = {
  type: 'object',
  additionalProperties: false,
  required: [
    'time',
    'source',
    'destination',
    'method',
    'path',
    'effect',
    'enforced',
    'rule',
    'revision',
  ],
  properties: {
    time: { type: 'string', minLength: 1, maxLength: 64 },
    source: { type: 'string', minLength: 1, maxLength: 2048 },
    // A service key: a namespace (63), `/` and a name (253).
    destination: { type: 'string', minLength: 1, maxLength: MAX_SERVICE_KEY_LENGTH },
    method: { type: 'string', maxLength: 32 },
    path: { type: 'string', maxLength: 2048 },
    effect: { type: 'string', enum: ['allow', 'deny'] },
    enforced: { type: 'boolean' },
    rule: { type: 'string', minLength: 1, maxLength: 512 },
    // The column is a 32-bit integer on PostgreSQL: a larger value would fail the shared write.
    revision: { type: 'integer', minimum: 0, maximum: 2_147_483_647 },
    subject: { type: 'string', maxLength: 512 },
    kid: { type: 'string', maxLength: 128 },
    count: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
    lastTime: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

/** Records per batch at most (the SDK ships 500 by default). */
export const MAX_BATCH_RECORDS = 20_000;

export const decisionBatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['records'],
  properties: {
    records: { type: 'array', maxItems: MAX_BATCH_RECORDS, items: record },
    dropped: { type: 'integer', minimum: 0 },
    droppedSample: { type: 'array', maxItems: 1000, items: record },
  },
} as const;
