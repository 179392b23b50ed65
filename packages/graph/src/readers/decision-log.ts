/**
 * Ward decision logs: one JSON record per line, as the SDK's decision-log shipper sends them
 * (`DecisionLogRecordV1` in `@ward/api-types`), or a whole `POST /v1/decision-logs` batch body.
 * Every record is an observed call from `source` to `destination`; denied calls are counted on
 * the edge, so an attempted but refused dependency still shows up.
 */
import type { GraphBuilder, SourceRef } from '../model.ts';
import type { TraceAccumulator } from '../trace-accumulator.ts';
import { isObject } from '../util.ts';

/**
 * The fields the graph needs from a decision-log record. A `DecisionLogRecordV1` from
 * `@ward/api-types` satisfies it; other fields are ignored.
 */
export interface DecisionLogRecord {
  /** ISO 8601 time of the decision. */
  time: string;
  /** Caller: service name, else SPIFFE ID (joined to the service that has it), else `anonymous`. */
  source: string;
  /** The service that decided (the callee). */
  destination: string;
  effect: 'allow' | 'deny';
  /** False when a dry-run rule decided. */
  enforced: boolean;
  /** `policy#index` of the deciding rule, or `default`. */
  rule: string;
  /** How many identical decisions this record stands for (the shipper folds repeats); 1 if absent. */
  count?: number;
}

/** Checks one untrusted record; returns a message naming the bad field, or the record. */
export function validateDecisionRecord(v: unknown): DecisionLogRecord | string {
  if (!isObject(v)) return 'record is not an object';
  for (const f of ['time', 'source', 'destination', 'rule'] as const) {
    if (typeof v[f] !== 'string' || v[f] === '') return `"${f}" must be a non-empty string`;
  }
  if (v.effect !== 'allow' && v.effect !== 'deny') return '"effect" must be "allow" or "deny"';
  if (typeof v.enforced !== 'boolean') return '"enforced" must be a boolean';
  if (v.count !== undefined && !(Number.isSafeInteger(v.count) && (v.count as number) >= 1)) {
    return '"count" must be a positive integer';
  }
  return v as unknown as DecisionLogRecord;
}

/** Adds one record (already JSON-parsed); malformed or anonymous records are skipped and counted. */
export function readDecisionRecord(
  value: unknown,
  builder: GraphBuilder,
  acc: TraceAccumulator,
  source: SourceRef,
  where: string,
): void {
  const rec = validateDecisionRecord(value);
  if (typeof rec === 'string') {
    acc.skip('decision.record', `${where}: ${rec}`);
    return;
  }
  if (rec.source === 'anonymous') {
    acc.skip('decision.anonymous', `${where}: caller is anonymous`);
    return;
  }
  if (rec.source === rec.destination) return;
  builder.service(rec.destination, { virtual: false }, source.file);
  const calls = rec.count ?? 1;
  builder.observe(
    rec.source,
    rec.destination,
    source,
    calls,
    0,
    undefined,
    rec.effect === 'deny' ? calls : 0,
  );
}

/** Adds every record of a `DecisionLogBatchV1` body (`{records: […]}`). */
export function readDecisionBatch(
  batch: unknown,
  builder: GraphBuilder,
  acc: TraceAccumulator,
  source: SourceRef,
): void {
  const records = isObject(batch) ? batch.records : undefined;
  if (!Array.isArray(records)) {
    acc.skip('decision.batch', `${source.file}: batch has no "records" array`);
    return;
  }
  for (const [i, r] of (records as unknown[]).entries()) {
    readDecisionRecord(r, builder, acc, source, `${source.file}: records[${i}]`);
  }
}
