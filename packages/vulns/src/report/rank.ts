/**
 * Ranking: one priority 0..100 per finding, with the reasons that made it, deterministic (the
 * same inputs give the same priorities, reasons and order).
 *
 * The formula. Each signal becomes a factor in 0..1:
 *
 *   epss   = (score + percentile) / 2                              (0 when no EPSS entry)
 *   cvss   = CVSS score / 10 (v3.x base score; v4.0 over the groups the vector carries, see
 *            advisories/cvss.ts); without a parseable vector, GitHub's severity label:
 *            CRITICAL 0.95, HIGH 0.8, MODERATE 0.55, LOW 0.3; neither: 0.5
 *   vector = attack vector N 1, A 0.75, L 0.5, P 0.25; no vector: 0.75
 *   reach  = reachable 1, unknown 0.7, imported-unused 0.3, not-imported 0.1
 *   expose = 0.6 × entry + 0.4 × blast, where entry = 1 for an entry point, 1 / (1 + hops)
 *            otherwise, 0 when no entry point reaches it, and blast = min(1, log2(1 + radius) / 5)
 *            (32 dependent services saturate); no exposure known: 0.5
 *
 *   risk = 0.25 epss + 0.25 cvss + 0.10 vector + 0.25 reach + 0.15 expose        (0..1)
 *
 *   priority = KEV listed ? 60 + round(40 × risk) : round(59 × risk)
 *
 * so a KEV-listed finding always ranks above any finding that is not (KEV dominates), and among
 * each group priority never decreases when any one signal grows (a higher EPSS score or
 * percentile, a higher CVSS score, a network attack vector, a more reachable verdict, an entry
 * point, fewer hops, a larger blast radius).
 *
 * Suppression (the finding stays in the list, marked): `not-imported` and `imported-unused`
 * with `high` confidence are suppressed `by: 'reachability'`; any other confidence, and
 * `unknown` always, are not. Otherwise a development-only package is suppressed `by: 'dev-only'`.
 */
import type { Finding, ReachabilityVerdict } from '../types.ts';

/** What ranking needs: a finding before it is ranked. */
export type RankInput = Omit<Finding, 'priority' | 'reasons' | 'suppressed'> & {
  /** Kept when given (e.g. a suppression applied earlier); ranking never removes one. */
  suppressed?: Finding['suppressed'];
};

export const WEIGHTS = { epss: 0.25, cvss: 0.25, vector: 0.1, reach: 0.25, expose: 0.15 } as const;

const REACH: Record<ReachabilityVerdict, number> = {
  reachable: 1,
  unknown: 0.7,
  'imported-unused': 0.3,
  'not-imported': 0.1,
};
const VECTOR = { N: 1, A: 0.75, L: 0.5, P: 0.25 } as const;
const VECTOR_NAME = { N: 'network', A: 'adjacent', L: 'local', P: 'physical' } as const;
const LABEL = { CRITICAL: 0.95, HIGH: 0.8, MODERATE: 0.55, LOW: 0.3 } as const;

const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const pct = (x: number): string => `${Math.round(clamp01(x) * 100)}`;
const fix2 = (x: number): string => (Math.round(x * 1000) / 1000).toString();

interface Part {
  key: keyof typeof WEIGHTS;
  value: number;
  text: string;
}

function parts(f: RankInput): Part[] {
  const out: Part[] = [];
  const e = f.exploit.epss;
  out.push({
    key: 'epss',
    value: e ? (clamp01(e.score) + clamp01(e.percentile)) / 2 : 0,
    text: e ? `EPSS ${fix2(clamp01(e.score))} (percentile ${pct(e.percentile)})` : 'no EPSS score',
  });
  if (f.cvss) {
    out.push({
      key: 'cvss',
      value: clamp01(f.cvss.score / 10),
      text: `CVSS ${f.cvss.version} ${f.cvss.score.toFixed(1)} ${f.cvss.rating}`,
    });
    out.push({
      key: 'vector',
      value: VECTOR[f.cvss.attackVector],
      text: `${VECTOR_NAME[f.cvss.attackVector]} attack vector`,
    });
  } else {
    const label = f.advisory.severity;
    out.push({
      key: 'cvss',
      value: label ? LABEL[label] : 0.5,
      text: label ? `severity ${label} (no CVSS vector)` : 'no CVSS score or severity',
    });
    out.push({ key: 'vector', value: 0.75, text: 'attack vector unknown' });
  }
  const r = f.reachability;
  out.push({
    key: 'reach',
    value: REACH[r.verdict],
    text: `${r.verdict} (${r.confidence} confidence): ${r.reason}`,
  });
  const x = f.exposure;
  if (x) {
    const entry = x.entryPoint ? 1 : x.hopsFromEntry === null ? 0 : 1 / (1 + x.hopsFromEntry);
    const blast = Math.min(1, Math.log2(1 + Math.max(0, x.blastRadius)) / 5);
    const where = x.entryPoint
      ? 'entry point'
      : x.hopsFromEntry === null
        ? 'no entry point reaches it'
        : `${x.hopsFromEntry} hop${x.hopsFromEntry === 1 ? '' : 's'} from an entry point`;
    out.push({
      key: 'expose',
      value: 0.6 * entry + 0.4 * blast,
      text: `${where}; blast radius ${x.blastRadius} service${x.blastRadius === 1 ? '' : 's'}`,
    });
  } else {
    out.push({ key: 'expose', value: 0.5, text: 'exposure unknown (no graph)' });
  }
  return out;
}

/** The risk 0..1 of a finding (without KEV). Exported for tests and explanations. */
export function riskOf(f: RankInput): number {
  let r = 0;
  for (const p of parts(f)) r += WEIGHTS[p.key] * p.value;
  return clamp01(r);
}

/** Priority 0..100 of one finding; see the formula at the top of this file. */
export function priorityOf(f: RankInput): number {
  const risk = riskOf(f);
  return f.exploit.kev ? 60 + Math.round(40 * risk) : Math.round(59 * risk);
}

function suppressionOf(f: RankInput): Finding['suppressed'] {
  if (f.suppressed) return f.suppressed;
  const r = f.reachability;
  if ((r.verdict === 'not-imported' || r.verdict === 'imported-unused') && r.confidence === 'high')
    return { by: 'reachability', reason: `${r.verdict}: ${r.reason}` };
  if (f.package.dev === true)
    return { by: 'dev-only', reason: `${f.package.name} is only a development dependency` };
  return undefined;
}

/** Ranks one finding: priority, reasons (KEV first, then by weighted contribution), suppression. */
export function rankOne(f: RankInput): Finding {
  const ps = parts(f)
    .map((p, i) => ({ ...p, i, weight: WEIGHTS[p.key] * p.value }))
    .sort((a, b) => b.weight - a.weight || a.i - b.i);
  const reasons: string[] = [];
  const k = f.exploit.kev;
  if (k)
    reasons.push(
      `in CISA KEV since ${k.dateAdded}${k.ransomware ? ' (used in ransomware campaigns)' : ''}`,
    );
  for (const p of ps) reasons.push(p.text);
  if (f.package.dev === true) reasons.push('development dependency only');
  const { suppressed: _s, ...rest } = f;
  const suppressed = suppressionOf(f);
  const out: Finding = { ...rest, priority: priorityOf(f), reasons };
  if (suppressed) out.suppressed = suppressed;
  return out;
}

/** A total order for the output: priority first, then identity (stable across runs). */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    b.priority - a.priority ||
    cmp(a.advisory.id, b.advisory.id) ||
    cmp(a.package.name, b.package.name) ||
    cmp(a.package.version, b.package.version) ||
    cmp(a.package.path, b.package.path) ||
    // Same advisory and package (e.g. one per service): the explanation decides.
    cmp(a.reasons.join('\n'), b.reasons.join('\n'))
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Ranks findings: each gets its priority, reasons and (when due) suppression; the list comes
 * back sorted by priority (highest first), ties by advisory id, package name, version, path and reasons.
 *
 * @example
 * const [top] = rank([{ advisory, package: pkg, exploit: {}, reachability }]);
 * top.priority; // 0..100
 */
export function rank(inputs: readonly RankInput[]): Finding[] {
  return inputs.map(rankOne).sort(compareFindings);
}
