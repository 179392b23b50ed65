/**
 * The one function that joins the parts of `ward vulns`: every installed package is matched
 * against the advisories, the same advisory on the same name@version is counted once, and each
 * finding gets its CVSS score, exploit signal, reachability verdict and exposure before it is
 * ranked and the suppressions are applied. Pure: everything comes in as values.
 */

import { parseCvss } from './advisories/cvss.ts';
import type { AdvisoryDatabase } from './advisories/database.ts';
import { type EpssEntry, exploitSignal, type KevEntry } from './advisories/exploit.ts';
import { VulnsError } from './errors.ts';
import type { ReachabilityIndex } from './reachability/analyze.ts';
import { type RankInput, rank } from './report/rank.ts';
import {
  applySuppressions,
  type Suppression,
  type SuppressionOutcome,
} from './report/suppressions.ts';
import type {
  Advisory,
  CvssScore,
  Exposure,
  Finding,
  InstalledPackage,
  Inventory,
  Reachability,
} from './types.ts';

export interface ScanInput {
  /** One inventory or several (e.g. `-f` given twice); packages are pooled. */
  inventory: Inventory | readonly Inventory[];
  advisories: AdvisoryDatabase;
  epss?: ReadonlyMap<string, EpssEntry>;
  kev?: ReadonlyMap<string, KevEntry>;
  /** The service's reachability index; without it every verdict is `unknown`. */
  reachability?: ReachabilityIndex;
  /** The service's exposure in the Ward graph, as computed by `exposureOf`. */
  exposure?: Exposure;
  suppressions?: readonly Suppression[];
  /** The service the suppressions are scoped to (`service:` entries). */
  service?: string;
  /** ms since the epoch (the core keeps no clock): decides which suppressions expired. */
  now: number;
}

export interface ScanOutcome {
  /** Ranked (highest priority first), suppressions applied; suppressed ones are kept, marked. */
  findings: Finding[];
  /** Every advisory × installed package entry that matches, as `npm audit` counts them. */
  naive: number;
  /** How many findings each suppression reason hides (`reachability`, `suppression`, `dev-only`). */
  suppressedBy: Record<string, number>;
  expiredSuppressions: SuppressionOutcome['expired'];
  unusedSuppressions: Suppression[];
}

const NO_SOURCE: Reachability = {
  verdict: 'unknown',
  confidence: 'low',
  reason: 'no source tree given: reachability not analysed',
};

/**
 * Scores already computed, per advisory object (the database holds each advisory once). A CVSS
 * 4.0 vector costs ~0.9 ms to score (ae-cvss-calculator walks the macro-vector tables), so an
 * advisory matched by many packages, or scanned again by a long-running server, is scored once.
 */
const scored = new WeakMap<Advisory, CvssScore | null>();

/** The highest-scoring parseable CVSS vector of the advisory; unparseable vectors are ignored. */
export function cvssOf(advisory: Advisory): CvssScore | undefined {
  const known = scored.get(advisory);
  if (known !== undefined) return known ?? undefined;
  // Frozen: every finding of the advisory shares this object.
  const best = bestCvss(advisory);
  if (best !== undefined) Object.freeze(best);
  scored.set(advisory, best ?? null);
  return best;
}

function bestCvss(advisory: Advisory): CvssScore | undefined {
  let best: CvssScore | undefined;
  for (const vector of advisory.cvss) {
    let p: ReturnType<typeof parseCvss>;
    try {
      p = parseCvss(vector);
    } catch (err) {
      if (err instanceof VulnsError) continue;
      throw err;
    }
    if (best === undefined || p.score > best.score) {
      best = {
        version: p.version,
        vector: p.vector,
        score: p.score,
        rating: p.rating,
        attackVector: p.attackVector,
      };
    }
  }
  return best;
}

/**
 * The export of package `name` through which an advisory's symbol is reached, as the
 * reachability index records uses (`default` for the module itself, called or imported). The
 * GitHub Advisory Database writes `affected_functions` as `(lodash).template`,
 * `(lodash.template)` (the module), `minimatch` / `minimatch.Minimatch.braceExpand` (the
 * package, then a path through its exports) or a bare export name; module paths
 * (`lib/parse.js`) are kept for the index to match against the files loaded.
 *
 * @example
 * exportNameOf('(lodash).defaultsDeep', 'lodash'); // 'defaultsDeep'
 * exportNameOf('minimatch.Minimatch.braceExpand', 'minimatch'); // 'Minimatch'
 */
export function exportNameOf(symbol: string, name: string): string {
  if (symbol.includes('/') || /\.[cm]?[jt]s$/.test(symbol)) return symbol;
  let path = symbol;
  const paren = /^\(([^)]*)\)(?:\.(.*))?$/.exec(symbol);
  if (paren !== null) path = paren[2] ?? '';
  else if (symbol === name) path = '';
  else if (symbol.startsWith(`${name}.`)) path = symbol.slice(name.length + 1);
  return path === '' ? 'default' : (path.split('.')[0] as string);
}

/** The exports the advisory names for this package, or undefined when it names none. */
function symbolsOf(advisory: Advisory, name: string): string[] | undefined {
  const out = new Set<string>();
  for (const a of advisory.affected)
    if (a.name === name) for (const s of a.symbols ?? []) out.add(exportNameOf(s, name));
  return out.size > 0 ? [...out].sort() : undefined;
}

/**
 * Joins inventory, advisories, exploit signals, reachability and exposure into ranked findings.
 *
 * @example
 * const r = scan({ inventory, advisories: db, now: Date.now() });
 * r.naive; // what npm audit would count
 * r.findings.filter((f) => !f.suppressed); // what matters
 */
export function scan(input: ScanInput): ScanOutcome {
  const inventories: readonly Inventory[] = Array.isArray(input.inventory)
    ? (input.inventory as readonly Inventory[])
    : [input.inventory as Inventory];
  const epss = input.epss ?? new Map<string, EpssEntry>();
  const kev = input.kev ?? new Map<string, KevEntry>();
  let naive = 0;
  // name@version → the merged package entry and the advisories that match it.
  const byKey = new Map<string, { pkg: InstalledPackage; advisories: Advisory[] }>();
  const cache = new Map<string, Advisory[]>();
  for (const inv of inventories) {
    for (const p of inv.packages) {
      const key = `${p.name}@${p.version}`;
      let matched = cache.get(key);
      if (matched === undefined) {
        matched = input.advisories.match(p);
        cache.set(key, matched);
      }
      if (matched.length === 0) continue;
      naive += matched.length;
      const seen = byKey.get(key);
      if (seen === undefined) {
        byKey.set(key, { pkg: { ...p }, advisories: matched });
        continue;
      }
      // The same name@version elsewhere: dev-only only if every entry is; direct if any is.
      const merged = seen.pkg;
      if (p.path < merged.path) merged.path = p.path;
      if (p.direct === true) merged.direct = true;
      if (merged.dev === true && p.dev !== true) {
        if (p.dev === false) merged.dev = false;
        else delete merged.dev;
      }
    }
  }
  const verdicts = new Map<string, Reachability>();
  const reachabilityOf = (name: string, symbols: string[] | undefined): Reachability => {
    if (input.reachability === undefined) return NO_SOURCE;
    const k = `${name}\0${symbols?.join('\0') ?? ''}`;
    let r = verdicts.get(k);
    if (r === undefined) {
      r = input.reachability.verdictFor(name, symbols);
      verdicts.set(k, r);
    }
    return r;
  };
  const inputs: RankInput[] = [];
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const { pkg, advisories } = byKey.get(key)!;
    for (const advisory of advisories) {
      const cvss = cvssOf(advisory);
      const f: RankInput = {
        advisory,
        package: pkg,
        exploit: exploitSignal(advisory, epss, kev),
        reachability: reachabilityOf(pkg.name, symbolsOf(advisory, pkg.name)),
      };
      if (cvss !== undefined) f.cvss = cvss;
      if (input.exposure !== undefined) f.exposure = input.exposure;
      inputs.push(f);
    }
  }
  const ranked = rank(inputs);
  const outcome = applySuppressions(ranked, input.suppressions ?? [], {
    now: input.now,
    ...(input.service !== undefined ? { service: input.service } : {}),
  });
  const suppressedBy: Record<string, number> = {};
  for (const f of outcome.findings)
    if (f.suppressed) suppressedBy[f.suppressed.by] = (suppressedBy[f.suppressed.by] ?? 0) + 1;
  return {
    findings: outcome.findings,
    naive,
    suppressedBy,
    expiredSuppressions: outcome.expired,
    unusedSuppressions: outcome.unused,
  };
}
