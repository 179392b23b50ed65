/**
 * The suppressions file (YAML or JSON, JSON being YAML):
 *
 *   suppressions:
 *     - id: GHSA-35jh-r3h4-6jhm       # advisory id or any alias (CVE-…)
 *       package: lodash               # optional: only this package
 *       service: shop/orders          # optional: only when ranking this service
 *       reason: template() is never called with user input
 *       expires: 2026-12-31           # the last day it applies (UTC), or an RFC 3339 time
 *       by: alice@example.com         # optional: who decided
 *
 * Every entry keeps its position (file, line:col) for messages. An expired suppression no longer
 * applies and is reported as expired.
 */
import { canonicalServiceKey } from '@ward/spiffe';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { VulnsError } from '../errors.ts';
import type { Finding } from '../types.ts';

export interface Suppression {
  id: string;
  package?: string;
  service?: string;
  reason: string;
  /** As written (`2026-12-31` or an RFC 3339 time). */
  expires: string;
  /** The first instant (ms since the epoch) at which it no longer applies. */
  expiresAt: number;
  by?: string;
  file: string;
  line: number;
  col: number;
}

const KEYS = new Set(['id', 'package', 'service', 'reason', 'expires', 'by']);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** A file this large is not a suppressions file. */
const MAX_BYTES = 4 * 1024 * 1024;

function validDate(y: string, m: string, d: string): boolean {
  const t = Date.UTC(Number(y), Number(m) - 1, Number(d));
  const back = new Date(t);
  return (
    back.getUTCFullYear() === Number(y) &&
    back.getUTCMonth() === Number(m) - 1 &&
    back.getUTCDate() === Number(d)
  );
}

/** When `expires` stops applying, or undefined when it is not a date. */
export function expiryInstant(expires: string): number | undefined {
  const d = DATE.exec(expires);
  if (d) {
    if (!validDate(d[1]!, d[2]!, d[3]!)) return undefined;
    // The date is the last day it applies: it expires at the next midnight, UTC.
    return Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]) + 1);
  }
  const t = DATE_TIME.exec(expires);
  if (!t || !validDate(t[1]!, t[2]!, t[3]!)) return undefined;
  if (Number(t[4]) > 23 || Number(t[5]) > 59 || Number(t[6]) > 60) return undefined;
  const ms = Date.parse(expires.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Parses a suppressions file. Throws `VULNS_BAD_SUPPRESSIONS` (with `file` and `at` = `line:col`)
 * for a document that is not YAML/JSON, not `{ suppressions: [...] }`, an entry without `id`,
 * `reason` or `expires`, an expiry that is not a date, a field that is not a string, or a field
 * it does not know (a misspelt `expire` must not silently make a suppression permanent).
 *
 * @example
 * parseSuppressions('suppressions:\n  - {id: CVE-2021-23337, reason: r, expires: 2027-01-01}\n', 'ward-vulns.yaml');
 */
export function parseSuppressions(text: string, file: string): Suppression[] {
  const fail = (message: string, pos?: { line: number; col: number }): never => {
    throw new VulnsError(
      'VULNS_BAD_SUPPRESSIONS',
      `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${message}`,
      { file, ...(pos ? { at: `${pos.line}:${pos.col}` } : {}) },
    );
  };
  if (text.length > MAX_BYTES) fail(`larger than ${MAX_BYTES} bytes`);
  const lc = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    return fail(`not YAML or JSON (${(err as Error).message})`);
  }
  const posOf = (offset: number | undefined): { line: number; col: number } => {
    const p = lc.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const at = (node: YamlNode | null | undefined): { line: number; col: number } =>
    posOf(node?.range?.[0]);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    fail(`not YAML or JSON: ${e.message.split('\n')[0]}`, posOf(e.pos[0]));
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return [];
  if (!isMap(root)) return fail('expected a mapping with `suppressions:`', at(root));
  const out: Suppression[] = [];
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (key !== 'suppressions')
      fail(
        `unknown field ${JSON.stringify(String(key))} (expected \`suppressions\`)`,
        at(pair.key as YamlNode),
      );
    const list = pair.value as YamlNode | null;
    if (list === null || (isScalar(list) && list.value === null)) continue;
    if (!isSeq(list)) fail('`suppressions` must be a list', at(list));
    for (const item of (list as { items: unknown[] }).items) {
      const node = item as YamlNode;
      const pos = at(node);
      if (!isMap(node)) fail('a suppression must be a mapping', pos);
      const fields: Record<string, string> = {};
      for (const p of (node as { items: { key: unknown; value: unknown }[] }).items) {
        const k = isScalar(p.key) ? p.key.value : undefined;
        const kpos = at(p.key as YamlNode);
        if (typeof k !== 'string' || !KEYS.has(k))
          fail(
            `unknown field ${JSON.stringify(String(k))} (expected one of ${[...KEYS].join(', ')})`,
            kpos,
          );
        const v = p.value as YamlNode | null;
        const value = isScalar(v) ? v.value : undefined;
        if (typeof value !== 'string' || value.trim() === '')
          fail(`\`${String(k)}\` must be a non-empty string`, v ? at(v) : kpos);
        fields[k as string] = (value as string).trim();
      }
      for (const need of ['id', 'reason', 'expires'])
        if (fields[need] === undefined) fail(`a suppression needs \`${need}\``, pos);
      const expiresAt = expiryInstant(fields.expires!);
      if (expiresAt === undefined)
        fail(
          `\`expires\` must be a date (YYYY-MM-DD) or an RFC 3339 time, not ${JSON.stringify(fields.expires)}`,
          pos,
        );
      const s: Suppression = {
        id: fields.id!,
        reason: fields.reason!,
        expires: fields.expires!,
        expiresAt: expiresAt!,
        file,
        line: pos.line,
        col: pos.col,
      };
      if (fields.package !== undefined) s.package = fields.package;
      if (fields.service !== undefined) s.service = fields.service;
      if (fields.by !== undefined) s.by = fields.by;
      out.push(s);
    }
  }
  return out;
}

export interface SuppressionOutcome {
  findings: Finding[];
  /** Suppressions past their expiry (in file order): they no longer apply. */
  expired: { suppression: Suppression; message: string }[];
  /** Suppressions in force that match no finding (stale entries to remove). */
  unused: Suppression[];
}

function where(s: Suppression): string {
  return `${s.file}:${s.line}:${s.col}`;
}

function matches(s: Suppression, f: Finding, service: string | undefined): boolean {
  const id = s.id.toUpperCase();
  if (f.advisory.id.toUpperCase() !== id && !f.advisory.aliases.some((a) => a.toUpperCase() === id))
    return false;
  if (s.package !== undefined && s.package !== f.package.name) return false;
  if (s.service !== undefined && !sameService(s.service, service)) return false;
  return true;
}

/** One service however it is spelt: `default/orders` is `orders` (service keys). */
function sameService(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  return (canonicalServiceKey(a) ?? a) === (canonicalServiceKey(b) ?? b);
}

/**
 * Applies suppressions: a finding matched by one in force (its id or an alias, its package and
 * service when the suppression names them) is marked `suppressed: { by: 'suppression', reason }`
 * unless already suppressed (a proven reachability verdict or dev-only stays the stated reason).
 * An expired one does not apply: the finding gets a reason saying so and it is listed in
 * `expired`. Input findings are not modified.
 *
 * @param now ms since the epoch (the caller's clock; the core keeps none).
 */
export function applySuppressions(
  findings: readonly Finding[],
  suppressions: readonly Suppression[],
  options: { now: number; service?: string },
): SuppressionOutcome {
  const used = new Set<Suppression>();
  const expired = new Map<Suppression, string>();
  const out = findings.map((f) => {
    let next: Finding = f;
    for (const s of suppressions) {
      if (!matches(s, f, options.service)) continue;
      if (options.now >= s.expiresAt) {
        const msg = `suppression of ${s.id} at ${where(s)} expired on ${s.expires}`;
        expired.set(s, msg);
        if (next === f) next = { ...f, reasons: [...f.reasons] };
        next.reasons.push(msg);
        continue;
      }
      used.add(s);
      if (next.suppressed) continue;
      if (next === f) next = { ...f, reasons: [...f.reasons] };
      next.suppressed = {
        by: 'suppression',
        reason: `${s.reason} (${where(s)}${s.by ? `, by ${s.by}` : ''}, until ${s.expires})`,
      };
    }
    return next;
  });
  for (const s of suppressions)
    if (options.now >= s.expiresAt && !expired.has(s))
      expired.set(s, `suppression of ${s.id} at ${where(s)} expired on ${s.expires}`);
  return {
    findings: out,
    expired: suppressions
      .filter((s) => expired.has(s))
      .map((suppression) => ({ suppression, message: expired.get(suppression)! })),
    unused: suppressions.filter(
      (s) => !used.has(s) && !expired.has(s) && options.now < s.expiresAt,
    ),
  };
}
