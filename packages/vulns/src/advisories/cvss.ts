/**
 * CVSS vectors: v3.0 and v3.1 base scores computed here per FIRST's specification (with each
 * version's Roundup); v4.0 vectors validated here (order, values, mandatory base metrics) and
 * scored by `ae-cvss-calculator`, which implements FIRST's MacroVector scoring.
 */

import aeCvss from 'ae-cvss-calculator';
import { VulnsError } from '../errors.ts';
import type { CvssScore } from '../types.ts';

export interface ParsedCvss extends CvssScore {
  /** Every metric of the vector (`AV` → `N`). */
  metrics: Record<string, string>;
  /**
   * v4.0 only: which metric groups the score uses — `CVSS-B` (base), `-BT` (+ threat),
   * `-BE` (+ environmental) or `-BTE`; v4.0 scores honour every group present.
   */
  nomenclature?: 'CVSS-B' | 'CVSS-BT' | 'CVSS-BE' | 'CVSS-BTE';
}

const V3_BASE: Record<string, string[]> = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'R'],
  S: ['U', 'C'],
  C: ['H', 'L', 'N'],
  I: ['H', 'L', 'N'],
  A: ['H', 'L', 'N'],
};
const V3_OTHER = [
  'E',
  'RL',
  'RC',
  'CR',
  'IR',
  'AR',
  'MAV',
  'MAC',
  'MPR',
  'MUI',
  'MS',
  'MC',
  'MI',
  'MA',
];

const X = 'X';
const HLN = ['H', 'L', 'N'];
const HML = [X, 'H', 'M', 'L'];
/**
 * Every v4.0 metric in the order the specification (section 7, Table 23) requires, with its
 * values; the first eleven (the base metrics) are mandatory, the others may be left out.
 */
const V4_METRICS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['AV', ['N', 'A', 'L', 'P']],
  ['AC', ['L', 'H']],
  ['AT', ['N', 'P']],
  ['PR', ['N', 'L', 'H']],
  ['UI', ['N', 'P', 'A']],
  ['VC', HLN],
  ['VI', HLN],
  ['VA', HLN],
  ['SC', HLN],
  ['SI', HLN],
  ['SA', HLN],
  ['E', [X, 'A', 'P', 'U']],
  ['CR', HML],
  ['IR', HML],
  ['AR', HML],
  ['MAV', [X, 'N', 'A', 'L', 'P']],
  ['MAC', [X, 'L', 'H']],
  ['MAT', [X, 'N', 'P']],
  ['MPR', [X, 'N', 'L', 'H']],
  ['MUI', [X, 'N', 'P', 'A']],
  ['MVC', [X, ...HLN]],
  ['MVI', [X, ...HLN]],
  ['MVA', [X, ...HLN]],
  ['MSC', [X, ...HLN]],
  ['MSI', [X, 'S', ...HLN]],
  ['MSA', [X, 'S', ...HLN]],
  ['S', [X, 'N', 'P']],
  ['AU', [X, 'N', 'Y']],
  ['R', [X, 'A', 'U', 'I']],
  ['V', [X, 'D', 'C']],
  ['RE', [X, 'L', 'M', 'H']],
  ['U', [X, 'Clear', 'Green', 'Amber', 'Red']],
];
const V4_BASE_COUNT = 11;
const V4_INDEX = new Map(V4_METRICS.map(([key], i) => [key, i]));

/** A refusal naming the 1-based character position in the vector where the problem is. */
function bad(vector: string, position: number, why: string): VulnsError<'VULNS_BAD_CVSS'> {
  return new VulnsError(
    'VULNS_BAD_CVSS',
    `CVSS vector "${vector.slice(0, 200)}": position ${position}: ${why}`,
    { at: `position ${position}` },
  );
}

/** One `METRIC:VALUE` part of a vector and where it starts (1-based). */
interface Part {
  key: string;
  value: string;
  position: number;
}

/**
 * Splits the metrics of `text` (the vector without surrounding blanks, which start at 1-based
 * `start` in the vector as given) after the version prefix, refusing any part that is not
 * `METRIC:VALUE`.
 */
function partsOf(vector: string, text: string, start: number, prefixLength: number): Part[] {
  const out: Part[] = [];
  let position = start + prefixLength + 1;
  for (const part of text.slice(prefixLength + 1).split('/')) {
    const [key, value, extra] = part.split(':');
    if (!key || !value || extra !== undefined)
      throw bad(vector, position, `"${part.slice(0, 20)}" is not METRIC:VALUE`);
    out.push({ key, value, position });
    position += part.length + 1;
  }
  return out;
}

function duplicate(vector: string, part: Part, seen: Record<string, string>): void {
  if (part.key in seen) throw bad(vector, part.position, `metric ${part.key} appears twice`);
}

function undefinedValue(vector: string, part: Part, allowed: readonly string[]): VulnsError {
  return bad(
    vector,
    part.position,
    `${part.key}:${part.value.slice(0, 20)} is not defined (${part.key} is one of ${allowed.join(', ')})`,
  );
}

/** v3.x metrics: any order (the v3 specification only prefers one), base metrics mandatory. */
function v3Metrics(vector: string, parts: Part[], end: number): Record<string, string> {
  const metrics: Record<string, string> = Object.create(null);
  for (const part of parts) {
    duplicate(vector, part, metrics);
    const allowed = V3_BASE[part.key];
    if (allowed !== undefined && !allowed.includes(part.value))
      throw undefinedValue(vector, part, allowed);
    if (allowed === undefined && !V3_OTHER.includes(part.key))
      throw bad(vector, part.position, `unknown metric ${part.key.slice(0, 20)}`);
    metrics[part.key] = part.value;
  }
  for (const key of Object.keys(V3_BASE))
    if (!(key in metrics)) throw bad(vector, end, `base metric ${key} is missing`);
  return metrics;
}

/**
 * v4.0 metrics, checked as FIRST's reference calculator checks them: the specification's order,
 * every base metric, each value one the metric defines (`X` only outside the base group).
 */
function v4Metrics(vector: string, parts: Part[], end: number): Record<string, string> {
  const metrics: Record<string, string> = Object.create(null);
  let next = 0;
  for (const part of parts) {
    duplicate(vector, part, metrics);
    const index = V4_INDEX.get(part.key);
    if (index === undefined)
      throw bad(vector, part.position, `unknown metric ${part.key.slice(0, 20)}`);
    if (index < next) {
      const after = V4_METRICS[next - 1]?.[0];
      throw bad(
        vector,
        part.position,
        `metric ${part.key} is out of order (it comes before ${after})`,
      );
    }
    const skipped = next < V4_BASE_COUNT && index > next ? V4_METRICS[next]?.[0] : undefined;
    if (skipped !== undefined)
      throw bad(vector, part.position, `base metric ${skipped} is missing (found ${part.key})`);
    const allowed = V4_METRICS[index]?.[1] ?? [];
    if (!allowed.includes(part.value)) throw undefinedValue(vector, part, allowed);
    metrics[part.key] = part.value;
    next = index + 1;
  }
  if (next < V4_BASE_COUNT)
    throw bad(vector, end, `base metric ${V4_METRICS[next]?.[0]} is missing`);
  return metrics;
}

/** CVSS v3.1 Roundup (Appendix A): the smallest one-decimal number ≥ x, free of float error. */
export function roundup31(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

/** CVSS v3.0 Round up: ceil to one decimal. */
function roundup30(x: number): number {
  return Math.ceil(x * 10) / 10;
}

/** FIRST's qualitative severity rating scale (the same bands in v3.x and v4.0). */
export function ratingOf(score: number): CvssScore['rating'] {
  if (score === 0) return 'NONE';
  if (score < 4) return 'LOW';
  if (score < 7) return 'MEDIUM';
  if (score < 9) return 'HIGH';
  return 'CRITICAL';
}

/*
 * v3.x stays hand-written although ae-cvss-calculator scores v3.0/v3.1 too: the two agree on all
 * 5,184 v3.0/v3.1 base vectors (checked when the library was adopted), and this code is tested,
 * applies Appendix A's float-safe Roundup explicitly and needs no object model per vector.
 */
function v3Score(m: Record<string, string>, version: '3.0' | '3.1'): number {
  const changed = m.S === 'C';
  const av = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 }[m.AV as 'N'];
  const ac = { L: 0.77, H: 0.44 }[m.AC as 'L'];
  const pr = changed
    ? { N: 0.85, L: 0.68, H: 0.5 }[m.PR as 'N']
    : { N: 0.85, L: 0.62, H: 0.27 }[m.PR as 'N'];
  const ui = { N: 0.85, R: 0.62 }[m.UI as 'N'];
  const cia = (v: string | undefined) => ({ H: 0.56, L: 0.22, N: 0 })[v as 'H'];
  const iss = 1 - (1 - cia(m.C)) * (1 - cia(m.I)) * (1 - cia(m.A));
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  const roundup = version === '3.1' ? roundup31 : roundup30;
  return changed
    ? roundup(Math.min(1.08 * (impact + exploitability), 10))
    : roundup(Math.min(impact + exploitability, 10));
}

const THREAT = ['E'];
const ENVIRONMENTAL = V4_METRICS.slice(12, 26).map(([key]) => key);

function nomenclatureOf(m: Record<string, string>): NonNullable<ParsedCvss['nomenclature']> {
  const defined = (keys: string[]) => keys.some((k) => m[k] !== undefined && m[k] !== X);
  return `CVSS-B${defined(THREAT) ? 'T' : ''}${defined(ENVIRONMENTAL) ? 'E' : ''}` as NonNullable<
    ParsedCvss['nomenclature']
  >;
}

/**
 * Parses a CVSS v3.0/v3.1/v4.0 vector and computes its score. A v4.0 score honours the threat
 * and environmental metrics the vector carries (`nomenclature` says which); an invalid vector is
 * refused with `VULNS_BAD_CVSS` naming the position.
 *
 * @example parseCvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H').score // 9.8
 * @example parseCvss('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N').score // 9.3
 */
export function parseCvss(vector: string): ParsedCvss {
  if (typeof vector !== 'string') throw bad(String(vector), 1, 'not a string');
  const text = vector.trim();
  const start = vector.length - vector.trimStart().length + 1;
  const end = start + text.length;
  const slash = text.indexOf('/');
  const head = slash === -1 ? text : text.slice(0, slash);
  const parts = () => {
    if (slash === -1) throw bad(vector, end, `no metrics after ${head.slice(0, 20)}`);
    return partsOf(vector, text, start, head.length);
  };
  if (head === 'CVSS:3.0' || head === 'CVSS:3.1') {
    const version = head === 'CVSS:3.0' ? '3.0' : '3.1';
    const metrics = v3Metrics(vector, parts(), end);
    const score = v3Score(metrics, version);
    return {
      version,
      vector,
      score,
      rating: ratingOf(score),
      attackVector: metrics.AV as CvssScore['attackVector'],
      metrics,
    };
  }
  if (head === 'CVSS:4.0') {
    const metrics = v4Metrics(vector, parts(), end);
    const score = new aeCvss.Cvss4P0(text).calculateScores().overall;
    return {
      version: '4.0',
      vector,
      score,
      rating: ratingOf(score),
      attackVector: metrics.AV as CvssScore['attackVector'],
      metrics,
      nomenclature: nomenclatureOf(metrics),
    };
  }
  throw bad(
    vector,
    start,
    `unknown version "${head.slice(0, 20)}" (expected CVSS:3.0, CVSS:3.1 or CVSS:4.0)`,
  );
}
