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
