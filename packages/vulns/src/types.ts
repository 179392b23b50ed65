/**
 * The shapes every part of `ward vulns` shares (issue 17): what is installed, what is known to
 * be vulnerable, how likely it is to be exploited, whether the service loads it, how exposed the
 * service is, and the verdict that ranks a finding.
 */

/** One installed package, as a lockfile or an SBOM records it. */
export interface InstalledPackage {
  /** npm name (`lodash`, `@babel/core`). */
  name: string;
  /** Exact installed version (`4.17.20`). */
  version: string;
  /**
   * Where it sits (`node_modules/a/node_modules/b` for npm v2/v3 lockfiles; for other formats
   * the best the format gives, else `name@version`). Several entries may share name@version.
   */
  path: string;
  /** Declared by the project itself (a direct dependency), when the format says. */
  direct?: boolean;
  /** Only a development dependency, when the format says. */
  dev?: boolean;
}

/** What an input file held: its format and its packages. */
export interface Inventory {
  /** `npm-v1`, `npm-v2`, `npm-v3`, `pnpm`, `yarn-classic`, `yarn-berry`, `cyclonedx`, `spdx`. */
  format: string;
  /** The file it came from (for messages). */
  file: string;
  packages: InstalledPackage[];
}

/** One advisory, from OSV records (aliases merged: one entry per vulnerability). */
export interface Advisory {
  /** The OSV id kept as primary (a GHSA id for the GitHub Advisory Database). */
  id: string;
  /** Every other id of the same vulnerability (CVE, other GHSA), merged across records. */
  aliases: string[];
  summary: string;
  /** CVSS vectors given (`CVSS:3.1/AV:N/…`, `CVSS:4.0/…`). */
  cvss: string[];
  /** GitHub's severity label, when the record has one (`database_specific.severity`). */
  severity?: 'LOW' | 'MODERATE' | 'HIGH' | 'CRITICAL';
  /** The npm packages it affects and where. */
  affected: AffectedPackage[];
  /** ISO time; withdrawn advisories are dropped at load. */
  modified: string;
}

export interface AffectedPackage {
  /** npm package name. */
  name: string;
  /** OSV `ranges` of type SEMVER or ECOSYSTEM, and explicit `versions`. */
  ranges: { type: 'SEMVER' | 'ECOSYSTEM'; events: OsvEvent[] }[];
  versions: string[];
  /**
   * Vulnerable symbols, when the advisory names them (OSV `ecosystem_specific.affected_functions`
   * / `imports`, or our own curation): export names or module paths inside the package
   * (`lib/parse.js`, `template`).
   */
  symbols?: string[];
}

export type OsvEvent =
  | { introduced: string }
  | { fixed: string }
  | { last_affected: string }
  | { limit: string };

/** Exploit likelihood of a CVE. */
export interface ExploitSignal {
  /** EPSS probability of exploitation in the next 30 days (0..1), and its percentile (0..1). */
  epss?: { score: number; percentile: number; date?: string };
  /** In CISA's Known Exploited Vulnerabilities catalog. */
  kev?: { dateAdded: string; ransomware?: boolean };
}

/** A parsed CVSS vector. */
export interface CvssScore {
  version: '3.0' | '3.1' | '4.0';
  vector: string;
  /** Base score 0..10. */
  score: number;
  /** NONE, LOW, MEDIUM, HIGH, CRITICAL. */
  rating: 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';
  /** Attack vector N (network), A, L, P: network-reachable flaws weigh more. */
  attackVector: 'N' | 'A' | 'L' | 'P';
}

/** Whether the service can run the vulnerable code. */
export type ReachabilityVerdict =
  /** The package is never loaded from the service's entry points. */
  | 'not-imported'
  /** Loaded, but no use of the symbols the advisory names. */
  | 'imported-unused'
  /** Loaded, and the advisory names no symbol, or a named symbol is used. */
  | 'reachable'
  /** Dynamic code (a computed require/import, eval) makes it unknowable: never suppressed. */
  | 'unknown';

export interface Reachability {
  verdict: ReachabilityVerdict;
  /** high: proven by the import graph; medium: heuristics (re-exports, namespaces); low: guess. */
  confidence: 'high' | 'medium' | 'low';
  /** One sentence a reviewer can check (`no import chain from src/index.ts reaches lodash`). */
  reason: string;
  /** An import chain from an entry point to the package (files), when reachable. */
  chain?: string[];
}

/** How exposed the service is, from the Ward dependency graph. */
export interface Exposure {
  /** The service has no callers inside the mesh or is a gateway/edge: the outside reaches it. */
  entryPoint: boolean;
  /** Fewest hops from an entry point (0 for one); null when no entry point reaches it. */
  hopsFromEntry: number | null;
  /** Services that depend on it, transitively (what its compromise can affect). */
  blastRadius: number;
}

/** One finding: an advisory matching an installed package of a service, ranked. */
export interface Finding {
  advisory: Advisory;
  package: InstalledPackage;
  cvss?: CvssScore;
  exploit: ExploitSignal;
  reachability: Reachability;
  exposure?: Exposure;
  /** Priority 0..100 (higher first) and the reasons, in order of weight. */
  priority: number;
  reasons: string[];
  /** Set when a suppression or a not_affected verdict hides it from the default output. */
  suppressed?: { by: 'reachability' | 'suppression' | 'dev-only'; reason: string };
}
