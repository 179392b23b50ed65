import type { DecisionLogRecordV1 } from '@ward/api-types';
import type { RuleRef } from '@ward/policy';
import { pathTemplate } from './path-template.ts';

/**
 * One decision as held in memory until it is shipped. It keeps what the request path already has
 * (epoch milliseconds, the raw path, the rule object) so recording costs one small object and no
 * string work; the wire record (`DecisionLogRecordV1`) is built off the hot path when a batch
 * ships.
 */
export interface DecisionLogEntry {
  /** Epoch milliseconds. */
  time: number;
  source: string;
  destination: string;
  method: string;
  /** The route template when `routed`, else the raw request path (templated at ship time). */
  path: string;
  /** True when `path` is already a route template from the framework (`/orders/:id`). */
  routed: boolean;
  effect: 'allow' | 'deny';
  enforced: boolean;
  rule: RuleRef | null;
  revision: number;
  subject: string | undefined;
  kid: string | undefined;
}

/** The wire record of an entry: ISO time, path template, `policy#index` rule name. */
export function toRecordV1(entry: DecisionLogEntry): DecisionLogRecordV1 {
  const record: DecisionLogRecordV1 = {
    time: isoTime(entry.time),
    source: entry.source,
    destination: entry.destination,
    method: entry.method,
    path: entry.routed ? stripQuery(entry.path) : pathTemplate(entry.path),
    effect: entry.effect,
    enforced: entry.enforced,
    rule: entry.rule === null ? 'default' : ruleName(entry.rule),
    revision: entry.revision,
  };
  if (entry.subject !== undefined) record.subject = entry.subject;
  if (entry.kid !== undefined) record.kid = entry.kid;
  return record;
}

// Shipping runs at the service's request rate, so the two per-record string builds are cached:
// the ISO prefix per second, and the rule name per (immutable, engine-owned) RuleRef object.
let isoSecond = Number.NaN;
let isoPrefix = '';
const MAX_4_DIGIT_YEAR_MS = 253_402_300_799_999;

/** `new Date(ms).toISOString()`, computing the date part once per second. */
export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms <= MAX_4_DIGIT_YEAR_MS) || !Number.isInteger(ms)) {
    return new Date(ms).toISOString();
  }
  const rest = ms % 1000;
  const second = ms - rest;
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second).toISOString().slice(0, 20); // YYYY-MM-DDTHH:MM:SS.
  }
  return `${isoPrefix}${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}Z`;
}

const ruleNames = new WeakMap<RuleRef, string>();

function ruleName(rule: RuleRef): string {
  let name = ruleNames.get(rule);
  if (name === undefined) {
    name = `${rule.policy}#${rule.index}`;
    ruleNames.set(rule, name);
  }
  return name;
}

/**
 * The wire records of a batch, with identical decisions (every field equal but the time) folded
 * into one record carrying `count`, `time` (first) and `lastTime` (last). Real traffic repeats the
 * same few edges; folding makes a batch cost the shipper, the network and the control plane
 * per distinct decision rather than per request.
 */
export function foldRecords(entries: readonly DecisionLogEntry[]): DecisionLogRecordV1[] {
  const out: DecisionLogRecordV1[] = [];
  const byKey = new Map<string, { record: DecisionLogRecordV1; first: number; last: number }>();
  const templates = new Map<string, string>();
  let previous: DecisionLogEntry | undefined;
  let previousFold: { record: DecisionLogRecordV1; first: number; last: number } | undefined;
  for (const entry of entries) {
    // Fast path: consecutive entries of one edge usually share every field but the time (the
    // middleware reuses its strings and frozen objects), so most entries fold without a key.
    if (previousFold !== undefined && sameButTime(entry, previous!)) {
      previousFold.record.count = (previousFold.record.count ?? 1) + 1;
      if (entry.time < previousFold.first) previousFold.first = entry.time;
      if (entry.time > previousFold.last) previousFold.last = entry.time;
      continue;
    }
    previous = entry;
    let path: string;
    if (entry.routed) {
      path = stripQuery(entry.path);
    } else {
      let template = templates.get(entry.path);
      if (template === undefined) {
        template = pathTemplate(entry.path);
        templates.set(entry.path, template);
      }
      path = template;
    }
    const rule = entry.rule === null ? 'default' : ruleName(entry.rule);
    // Names, methods, rule names and key ids cannot hold NUL; the path is length-prefixed and the
    // subject (free text from the passport) comes last, so two different records never share a key.
    const key = `${entry.source}\0${entry.destination}\0${entry.method}\0${entry.effect}${entry.enforced ? 1 : 0}\0${rule}\0${entry.revision}\0${entry.kid ?? ''}\0${path.length}:${path}\0${entry.subject === undefined ? '-' : `+${entry.subject}`}`;
    const seen = byKey.get(key);
    if (seen !== undefined) {
      seen.record.count = (seen.record.count ?? 1) + 1;
      if (entry.time < seen.first) seen.first = entry.time;
      if (entry.time > seen.last) seen.last = entry.time;
      previousFold = seen;
      continue;
    }
    const record = toRecordV1(entry);
    record.path = path;
    out.push(record);
    previousFold = { record, first: entry.time, last: entry.time };
    byKey.set(key, previousFold);
  }
  for (const { record, first, last } of byKey.values()) {
    if (record.count === undefined) continue;
    record.time = isoTime(first);
    record.lastTime = isoTime(last);
  }
  return out;
}

function sameButTime(a: DecisionLogEntry, b: DecisionLogEntry): boolean {
  return (
    a.path === b.path &&
    a.source === b.source &&
    a.rule === b.rule &&
    a.effect === b.effect &&
    a.enforced === b.enforced &&
    a.routed === b.routed &&
    a.method === b.method &&
    a.destination === b.destination &&
    a.revision === b.revision &&
    a.subject === b.subject &&
    a.kid === b.kid
  );
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** Anything that takes decision-log entries; the shipper is one, a test array can be another. */
export interface DecisionRecorder {
  /** O(1), no I/O, never throws, never blocks. */
  record(entry: DecisionLogEntry): void;
}
