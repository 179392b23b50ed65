/**
 * The answer of an ingest route that screens a batch item by item (decision logs, wire edges):
 * how many items were kept and refused, and the first refusals. One schema for every such
 * route, so clients read them alike.
 */

/** Refusals listed in an answer; the count says how many there were in all. */
export const MAX_LISTED = 100;

/**
 * The 200 response schema of a screened batch. `unit` names the items in the descriptions;
 * `pointer` is the JSON pointer of one item in the body (`/records/i`, `/edges/i`).
 */
export function batchAnswerSchema(kept: string, unit: string, pointer: string) {
  return {
    type: 'object',
    properties: {
      accepted: { type: 'integer', description: kept },
      rejected: { type: 'integer', description: `${unit} refused one by one` },
      rejections: {
        type: 'array',
        description: `The first ${MAX_LISTED} refusals: field (${pointer}/field) and why`,
        items: {
          type: 'object',
          properties: {
            field: { type: 'string' },
            message: { type: 'string' },
            code: { type: 'string' },
          },
        },
      },
    },
  } as const;
}
