/**
 * Per-record admission of decision-log records, after the batch passed its schema. A record is
 * refused on its own (the rest of its batch still counts) when:
 *
 * - a string field is not clean text (`text-check.ts`: lone surrogate, invalid UTF-8, NUL or
 *   another control character);
 * - the shipper is a service's PDP and the record is neither a call INTO its service nor a call
 *   its own egress guard refused (`callerRefusal`): a PDP reports what it decided, nothing else;
 * - the shipper is a node agent and the record's destination has no workload on its node;
 * - its rule is not a rule of the destination's current policy (nor `default`);
 * - its time is older than the retention (nothing would keep it, and an absurd epoch would not
 *   fit the hourly bucket column).
 */
import type { DecisionLogRecordV1, ProblemFieldErrorV1 } from '@ward/api-types';
import { DEFAULT_RULE } from './rule-names.ts';
import { badText } from './text-check.ts';

export interface ScreenContext {
  /** The one destination a pdp principal may report ('' when bound to none); undefined: any. */
  destination: string | undefined;
  /**
   * A node agent's records (its local decision API): only destinations with a workload
   * registered on its node count.
   */
  node?: { name: string; services: ReadonlySet<string> };
  /** Rule names per destination (`RuleNames.current()`). */
  rules: ReadonlyMap<string, ReadonlySet<string>>;
  /** The body was not valid UTF-8: a U+FFFD marks a bad byte. */
  invalidUtf8: boolean;
}

export interface Screened {
  kept: DecisionLogRecordV1[];
  /** Index in the input of each kept record. */
  positions: number[];
  /** One entry per refused record (`field` is `<at>/<index>/<field>`). */
  rejections: ProblemFieldErrorV1[];
  /** Refused only because the destination is not the principal's service. */
  scopeRejections: number;
}

const DEFAULT_ONLY: ReadonlySet<string> = new Set([DEFAULT_RULE]);
const TEXT_FIELDS = [
  'time',
  'source',
  'destination',
  'method',
  'path',
  'rule',
  'subject',
  'kid',
  'lastTime',
] as const;

/**
 * A call the caller's egress guard refused before sending it: the destination never saw it, so
 * only the caller can report it. Only an enforced deny qualifies — it can add the caller's own
 * attempted edge to the unapproved report, but never mark an edge used (an allow) nor touch the
 * destination's promote gate (which counts dry-run denials).
 */
function callerRefusal(r: DecisionLogRecordV1, self: string): boolean {
  return self !== '' && r.source === self && r.effect === 'deny' && r.enforced;
}

/** Why `r` is refused, or undefined. */
function refusal(r: DecisionLogRecordV1, ctx: ScreenContext): ProblemFieldErrorV1 | undefined {
  for (const f of TEXT_FIELDS) {
    const v = r[f];
    if (v === undefined) continue;
    const bad = badText(v, ctx.invalidUtf8);
    if (bad !== undefined) return { field: f, message: bad, code: 'API_VALIDATION' };
  }
  if (
    ctx.destination !== undefined &&
    r.destination !== ctx.destination &&
    !callerRefusal(r, ctx.destination)
  ) {
    return {
      field: 'destination',
      message:
        ctx.destination === ''
          ? 'this pdp token is bound to no service: it reports no decisions'
          : `a PDP of ${ctx.destination} reports only calls to ${ctx.destination} and calls its egress guard refused`,
      code: 'API_NOT_OWNER',
    };
  }
  if (ctx.node !== undefined && !ctx.node.services.has(r.destination)) {
    return {
      field: 'destination',
      message: `${r.destination} has no workload registered on node ${ctx.node.name}: an agent reports only decisions on calls to its own node's services`,
      code: 'API_NOT_OWNER',
    };
  }
  if (!(ctx.rules.get(r.destination) ?? DEFAULT_ONLY).has(r.rule)) {
    return {
      field: 'rule',
      message: `${JSON.stringify(r.rule)} is not a rule of ${r.destination}'s current policy`,
      code: 'API_VALIDATION',
    };
  }
  return undefined;
}

/** Splits `records` into the ones to count and the refusals, in order. */
export function screenRecords(
  records: readonly DecisionLogRecordV1[],
  at: string,
  ctx: ScreenContext,
): Screened {
  const kept: DecisionLogRecordV1[] = [];
  const positions: number[] = [];
  const rejections: ProblemFieldErrorV1[] = [];
  let scopeRejections = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const why = refusal(r, ctx);
    if (why === undefined) {
      kept.push(r);
      positions.push(i);
      continue;
    }
    if (why.code === 'API_NOT_OWNER') scopeRejections++;
    rejections.push({ ...why, field: `${at}/${i}/${why.field}` });
  }
  return { kept, positions, rejections, scopeRejections };
}
