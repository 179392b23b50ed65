/**
 * `--fail-on`: when a run should fail. A spec is one or more conditions joined by commas; the
 * run fails when any unsuppressed finding meets any condition:
 *
 *   kev              listed in CISA's Known Exploited Vulnerabilities catalog
 *   critical | high | medium | low
 *                    severity at least this: the CVSS rating, else GitHub's label (MODERATE = medium)
 *   reachable        reachability verdict `reachable`
 *   epss>=0.1        EPSS score (0..1); also `epss>0.1`
 *   percentile>=0.9  EPSS percentile (0..1)
 *   cvss>=7          CVSS base score (0..10)
 *   priority>=70     Ward priority (0..100)
 */
import { VulnsError } from '../errors.ts';
import type { Finding } from '../types.ts';

export type FailCondition =
  | { kind: 'kev' }
  | { kind: 'reachable' }
  | { kind: 'severity'; atLeast: Severity }
  | { kind: 'epss' | 'percentile' | 'cvss' | 'priority'; op: '>=' | '>'; value: number };

type Severity = 'low' | 'medium' | 'high' | 'critical';
const SEVERITY_ORDER: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };
const RANGE = { epss: 1, percentile: 1, cvss: 10, priority: 100 } as const;
const MAX_SPEC = 1000;

/**
 * Parses a `--fail-on` spec. Throws `VULNS_BAD_FAIL_ON` naming the condition at fault and what
 * is accepted.
 */
export function parseFailOn(spec: string): FailCondition[] {
  const bad = (msg: string): never => {
    throw new VulnsError('VULNS_BAD_FAIL_ON', `--fail-on: ${msg}`, { at: '--fail-on' });
  };
  if (spec.length > MAX_SPEC) bad(`longer than ${MAX_SPEC} characters`);
  const parts = spec.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) bad('empty (expected e.g. `kev,critical,epss>=0.1`)');
  const out: FailCondition[] = [];
  for (const part of parts) {
    if (part === '') bad(`an empty condition in ${JSON.stringify(spec)}`);
    const word = part.toLowerCase();
    if (word === 'kev' || word === 'reachable') {
      out.push({ kind: word });
      continue;
    }
    if (word in SEVERITY_ORDER) {
      out.push({ kind: 'severity', atLeast: word as Severity });
      continue;
    }
    const m = /^([a-z]+)\s*(>=|>)\s*([0-9]+(?:\.[0-9]+)?)$/.exec(word);
    if (!m) {
      bad(
        `unknown condition ${JSON.stringify(part)} (expected kev, reachable, critical, high, medium, low, ` +
          'epss>=N, percentile>=N, cvss>=N or priority>=N)',
      );
    }
    const [, field, op, num] = m!;
    if (!(field! in RANGE))
      bad(
        `unknown field ${JSON.stringify(field)} in ${JSON.stringify(part)} (expected epss, percentile, cvss or priority)`,
      );
    const value = Number(num);
    const max = RANGE[field as keyof typeof RANGE];
    if (!(value >= 0 && value <= max))
      bad(`${field} must be compared with a number in 0..${max}, not ${num}`);
    out.push({ kind: field as keyof typeof RANGE, op: op as '>=' | '>', value });
  }
  return out;
}

function severityOf(f: Finding): Severity | undefined {
  const r = f.cvss?.rating;
  if (r && r !== 'NONE') return r.toLowerCase() as Severity;
  const s = f.advisory.severity;
  if (s) return s === 'MODERATE' ? 'medium' : (s.toLowerCase() as Severity);
  return undefined;
}

function cmp(op: '>=' | '>', a: number, b: number): boolean {
  return op === '>=' ? a >= b : a > b;
}

/** Why `f` meets `c`, or undefined. */
function meets(f: Finding, c: FailCondition): string | undefined {
  switch (c.kind) {
    case 'kev':
      return f.exploit.kev ? `in CISA KEV since ${f.exploit.kev.dateAdded}` : undefined;
    case 'reachable':
      return f.reachability.verdict === 'reachable' ? 'reachable' : undefined;
    case 'severity': {
      const s = severityOf(f);
      return s && SEVERITY_ORDER[s] >= SEVERITY_ORDER[c.atLeast] ? `severity ${s}` : undefined;
    }
    case 'epss':
    case 'percentile': {
      const e = f.exploit.epss;
      if (!e) return undefined;
      const v = c.kind === 'epss' ? e.score : e.percentile;
      return cmp(c.op, v, c.value) ? `${c.kind} ${v}` : undefined;
    }
    case 'cvss':
      return f.cvss && cmp(c.op, f.cvss.score, c.value) ? `cvss ${f.cvss.score}` : undefined;
    case 'priority':
      return cmp(c.op, f.priority, c.value) ? `priority ${f.priority}` : undefined;
  }
}

function label(c: FailCondition): string {
  switch (c.kind) {
    case 'kev':
    case 'reachable':
      return c.kind;
    case 'severity':
      return c.atLeast;
    default:
      return `${c.kind}${c.op}${c.value}`;
  }
}

/**
 * Whether the run fails: `why` has one line per unsuppressed finding that meets a condition
 * (`GHSA-… lodash@4.17.20: in CISA KEV since 2024-01-02 (kev)`), in the findings' order.
 *
 * @example
 * failOn(findings, 'kev,critical'); // { failed: true, why: ['GHSA-… lodash@4.17.20: severity critical (critical)'] }
 */
export function failOn(
  findings: readonly Finding[],
  spec: string | readonly FailCondition[],
): { failed: boolean; why: string[] } {
  const conditions = typeof spec === 'string' ? parseFailOn(spec) : spec;
  const why: string[] = [];
  for (const f of findings) {
    if (f.suppressed) continue;
    const hits: string[] = [];
    for (const c of conditions) {
      const m = meets(f, c);
      if (m !== undefined) hits.push(`${m} (${label(c)})`);
    }
    if (hits.length)
      why.push(`${f.advisory.id} ${f.package.name}@${f.package.version}: ${hits.join('; ')}`);
  }
  return { failed: why.length > 0, why };
}
