/** Response schemas of the report and promote routes (they also document them in OpenAPI). */

const approvingRule = {
  type: 'object',
  properties: {
    rule: { type: 'string' },
    mode: { type: 'string', enum: ['enforce', 'dry-run'] },
    wildcard: { type: 'boolean' },
  },
} as const;

/** A report over a time window: `since`/`until` bound it, `items` are the rows. */
function windowReport<Item extends object, Extra extends object = Record<never, never>>(
  item: Item,
  extra?: Extra,
) {
  return {
    type: 'object',
    properties: {
      since: { type: 'string' },
      until: { type: 'string' },
      ...(extra ?? ({} as Extra)),
      items: { type: 'array', items: item },
    },
  } as const;
}

/** An edge between two services, the key of every report row. */
const edge = { source: { type: 'string' }, destination: { type: 'string' } } as const;

export const dryRunItemSchema = {
  type: 'object',
  properties: {
    ...edge,
    rule: { type: 'string' },
    count: { type: 'integer' },
    sampled: { type: 'integer' },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    revision: { type: 'integer' },
    samples: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          method: { type: 'string' },
          path: { type: 'string' },
          count: { type: 'integer' },
        },
      },
    },
  },
} as const;

export const dryRunReportSchema = windowReport(dryRunItemSchema, {
  dropped: {
    type: 'integer',
    description: 'Records shippers dropped in the window: counts may be short by this',
  },
});

export const unusedReportSchema = windowReport({
  type: 'object',
  properties: {
    ...edge,
    rules: { type: 'array', items: approvingRule },
    wildcard: { type: 'boolean' },
    lastSeen: { type: ['string', 'null'] },
  },
} as const);

export const unapprovedReportSchema = windowReport({
  type: 'object',
  properties: {
    ...edge,
    decisions: { type: 'integer' },
    denied: { type: 'integer' },
    traceCalls: { type: 'integer' },
    traceErrors: { type: 'integer' },
    wireSamples: { type: 'integer' },
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    seenIn: { type: 'array', items: { type: 'string' } },
  },
} as const);

export const promoteResultSchema = {
  type: 'object',
  properties: {
    service: { type: 'string' },
    changed: { type: 'boolean' },
    revision: { type: 'integer' },
    promoted: { type: 'array', items: { type: 'string' } },
    forced: { type: 'boolean' },
    denials: { type: 'array', items: dryRunItemSchema },
  },
} as const;
