/**
 * CVSS vectors: v3.0 and v3.1 base scores computed per FIRST's specification (with each
 * version's Roundup), v4.0 parsed (metrics validated, attack vector kept) with the score and
 * rating taken from the advisory's severity label, marked `approximate` (v4.0's MacroVector
 * scoring is not implemented).
 */

import { VulnsError } from '../errors.ts';
import type { Advisory, CvssScore } from '../types.ts';

export interface ParsedCvss extends CvssScore {
  /** The v4.0 metrics were parsed, but the score and rating come from the severity label. */
  approximate?: boolean;
  /** Every metric of the vector (`AV` → `N`). */
  metrics: Record<string, string>;
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

const V4_BASE: Record<string, string[]> = {
  AV: ['N', 'A', 'L', 'P'],
  AC: ['L', 'H'],
  AT: ['N', 'P'],
  PR: ['N', 'L', 'H'],
  UI: ['N', 'P', 'A'],
  VC: ['H', 'L', 'N'],
  VI: ['H', 'L', 'N'],
  VA: ['H', 'L', 'N'],
  SC: ['H', 'L', 'N'],
  SI: ['H', 'L', 'N'],
  SA: ['H', 'L', 'N'],
};
const V4_OTHER = [
  'E',
  'CR',
  'IR',
  'AR',
  'MAV',
  'MAC',
  'MAT',
  'MPR',
  'MUI',
  'MVC',
  'MVI',
  'MVA',
  'MSC',
  'MSI',
  'MSA',
  'S',
  'AU',
  'R',
  'V',
  'RE',
  'U',
];

function bad(vector: string, why: string): VulnsError<'VULNS_BAD_CVSS'> {
  return new VulnsError('VULNS_BAD_CVSS', `CVSS vector "${vector.slice(0, 200)}": ${why}`, {
    at: vector.slice(0, 200),
  });
}

function metricsOf(
  vector: string,
  parts: string[],
  base: Record<string, string[]>,
  other: string[],
): Record<string, string> {
  const metrics: Record<string, string> = Object.create(null);
  for (const part of parts) {
    const [key, value, extra] = part.split(':');
    if (key === undefined || value === undefined || extra !== undefined || value === '') {
      throw bad(vector, `"${part.slice(0, 20)}" is not METRIC:VALUE`);
    }
    if (key in metrics) throw bad(vector, `metric ${key} appears twice`);
    const allowed = base[key];
    if (allowed !== undefined) {
      if (!allowed.includes(value))
        throw bad(
          vector,
          `${key}:${value} is not defined (${key} is one of ${allowed.join(', ')})`,
        );
    } else if (!other.includes(key)) {
      throw bad(vector, `unknown metric ${key.slice(0, 20)}`);
    }
    metrics[key] = value;
  }
  for (const key of Object.keys(base))
    if (!(key in metrics)) throw bad(vector, `base metric ${key} is missing`);
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

export function ratingOf(score: number): CvssScore['rating'] {
  if (score === 0) return 'NONE';
  if (score < 4) return 'LOW';
  if (score < 7) return 'MEDIUM';
  if (score < 9) return 'HIGH';
  return 'CRITICAL';
}

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

const FROM_SEVERITY: Record<
  NonNullable<Advisory['severity']>,
  { rating: CvssScore['rating']; score: number }
> = {
  LOW: { rating: 'LOW', score: 0.1 },
  MODERATE: { rating: 'MEDIUM', score: 4.0 },
  HIGH: { rating: 'HIGH', score: 7.0 },
  CRITICAL: { rating: 'CRITICAL', score: 9.0 },
};

/**
 * Parses a CVSS v3.0/v3.1/v4.0 vector. v3 gets its exact base score; v4.0 gets the lower bound
 * of the rating its `severity` label (GitHub's) names, flagged `approximate` (NONE/0 without one).
 *
 * @example parseCvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H').score // 9.8
 */
export function parseCvss(
  vector: string,
  options: { severity?: Advisory['severity'] } = {},
): ParsedCvss {
  if (typeof vector !== 'string') throw bad(String(vector), 'not a string');
  const parts = vector.trim().split('/');
  const head = parts.shift() ?? '';
  if (head === 'CVSS:3.0' || head === 'CVSS:3.1') {
    const version = head === 'CVSS:3.0' ? '3.0' : '3.1';
    const metrics = metricsOf(vector, parts, V3_BASE, V3_OTHER);
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
    const metrics = metricsOf(vector, parts, V4_BASE, V4_OTHER);
    const label = options.severity === undefined ? undefined : FROM_SEVERITY[options.severity];
    return {
      version: '4.0',
      vector,
      score: label?.score ?? 0,
      rating: label?.rating ?? 'NONE',
      attackVector: metrics.AV as CvssScore['attackVector'],
      approximate: true,
      metrics,
    };
  }
  throw bad(
    vector,
    `unknown version "${head.slice(0, 20)}" (expected CVSS:3.0, CVSS:3.1 or CVSS:4.0)`,
  );
}
