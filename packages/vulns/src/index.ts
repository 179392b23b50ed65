/**
 * `@ward/vulns`: the pure core of `ward vulns` (issue 17) — inventories from lockfiles and SBOMs,
 * advisories from OSV records, exploit likelihood (EPSS, KEV, CVSS), reachability in JavaScript
 * and TypeScript sources, exposure from the Ward graph, and the ranked, explained findings. No
 * I/O: files come in as text (or through a read-only file-system interface for reachability).
 */

export { type ParsedCvss, parseCvss, ratingOf, roundup31 } from './advisories/cvss.ts';
export {
  AdvisoryDatabase,
  type DatabaseOptions,
  type SkippedRecord,
} from './advisories/database.ts';
export {
  type EpssEntry,
  exploitSignal,
  type KevEntry,
  parseEpssCsv,
  parseKev,
} from './advisories/exploit.ts';
export { type ParsedOsv, parseOsvRecord, parseOsvRecordFull } from './advisories/osv.ts';
export { VulnsError, type VulnsErrorCode } from './errors.ts';
export { readCycloneDx } from './inventory/cyclonedx.ts';
export { readNpmLockfile } from './inventory/npm.ts';
export { readPnpmLockfile } from './inventory/pnpm.ts';
export {
  detectInventoryFormat,
  type InventoryFormat,
  readInventory,
} from './inventory/read_inventory.ts';
export { readSpdx } from './inventory/spdx.ts';
export { readYarnBerryLockfile } from './inventory/yarn_berry.ts';
export { readYarnClassicLockfile } from './inventory/yarn_classic.ts';
export {
  type AnalyzeOptions,
  analyzeReachability,
  type DynamicLoad,
  type FileSystem,
  type ReachabilityIndex,
} from './reachability/analyze.ts';
export { scanJs } from './reachability/js_scan.ts';
export type { DynamicSite, ImportSite, ScanResult, Usage } from './reachability/sites.ts';
export { scanTokens } from './reachability/token_scan.ts';
export { entryPointReason, exposureOf } from './report/exposure.ts';
export { type FailCondition, failOn, parseFailOn } from './report/fail-on.ts';
export { type ScanCounts, toJson, toScanJson } from './report/json.ts';
export { npmPurl } from './report/purl.ts';
export {
  compareFindings,
  priorityOf,
  type RankInput,
  rank,
  rankOne,
  riskOf,
  WEIGHTS,
} from './report/rank.ts';
export { lockfileLine, type SarifOptions, toSarif } from './report/sarif.ts';
export {
  applySuppressions,
  expiryInstant,
  parseSuppressions,
  type Suppression,
  type SuppressionOutcome,
} from './report/suppressions.ts';
export { toTable } from './report/table.ts';
export { toCycloneDxVex, toOpenVex, type VexOptions, type VexSubject } from './report/vex.ts';
export { cvssOf, exportNameOf, type ScanInput, type ScanOutcome, scan } from './scan.ts';
export type {
  Advisory,
  AffectedPackage,
  CvssScore,
  ExploitSignal,
  Exposure,
  Finding,
  InstalledPackage,
  Inventory,
  OsvEvent,
  Reachability,
  ReachabilityVerdict,
} from './types.ts';
