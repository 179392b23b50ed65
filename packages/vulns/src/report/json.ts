/** JSON output: every finding (suppressed ones included, marked), with counts. */
import type { Finding } from '../types.ts';

/**
 * `{ "version": 1, "summary": {…}, "findings": [ Finding, … ] }`, two-space indented, keys in
 * a stable order (the order the findings were built with).
 */
export function toJson(findings: readonly Finding[]): string {
  const suppressed = findings.filter((f) => f.suppressed).length;
  return `${JSON.stringify(
    {
      version: 1,
      summary: {
        findings: findings.length,
        unsuppressed: findings.length - suppressed,
        suppressed,
        kev: findings.filter((f) => !f.suppressed && f.exploit.kev).length,
      },
      findings,
    },
    null,
    2,
  )}\n`;
}

/** What `toScanJson` reads of a scan's outcome (`ScanOutcome` has it). */
export interface ScanCounts {
  findings: readonly Finding[];
  naive: number;
  suppressedBy: Record<string, number>;
  expiredSuppressions: readonly { message: string }[];
}

/**
 * The JSON report of one scan, as `ward vulns -o json` prints it and `POST /v1/vulns/scan`
 * answers: `toJson` of the findings, its summary completed with the naive count, the findings
 * each suppression reason hides and the expired suppressions. `extra` adds top-level fields
 * after `findings` (the API's `scan` context); the CLI adds none.
 */
export function toScanJson(outcome: ScanCounts, extra: Record<string, unknown> = {}): string {
  const doc = JSON.parse(toJson(outcome.findings));
  doc.summary = {
    ...doc.summary,
    naive: outcome.naive,
    suppressedBy: outcome.suppressedBy,
    expiredSuppressions: outcome.expiredSuppressions.map((e) => e.message),
  };
  return `${JSON.stringify({ ...doc, ...extra }, null, 2)}\n`;
}
