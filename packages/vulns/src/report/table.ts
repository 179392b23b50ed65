/** Text output: one line per finding with its priority, identity and the reasons for its rank. */
import type { Finding } from '../types.ts';

/**
 * One line per finding: `PRIO  ADVISORY  PACKAGE@VERSION  reason; reason; …`. Suppressed
 * findings are left out unless `includeSuppressed` (then marked `[suppressed by …: reason]`);
 * a last line counts what was left out.
 *
 * @example
 * toTable(findings); // ' 87  GHSA-…  lodash@4.17.20  in CISA KEV since …; EPSS 0.92 …'
 */
export function toTable(
  findings: readonly Finding[],
  options: { includeSuppressed?: boolean } = {},
): string {
  const shown = options.includeSuppressed ? findings : findings.filter((f) => !f.suppressed);
  const hidden = findings.length - shown.length;
  const idW = Math.max(8, ...shown.map((f) => f.advisory.id.length));
  const pkgW = Math.max(7, ...shown.map((f) => `${f.package.name}@${f.package.version}`.length));
  const lines = [`PRIO  ${'ADVISORY'.padEnd(idW)}  ${'PACKAGE'.padEnd(pkgW)}  REASONS`];
  for (const f of shown) {
    const sup = f.suppressed ? `[suppressed by ${f.suppressed.by}: ${f.suppressed.reason}] ` : '';
    lines.push(
      `${String(f.priority).padStart(4)}  ${f.advisory.id.padEnd(idW)}  ${`${f.package.name}@${f.package.version}`.padEnd(pkgW)}  ${sup}${f.reasons.join('; ')}`.replace(
        /[\r\n]+/g,
        ' ',
      ),
    );
  }
  if (shown.length === 0) lines.push('no findings');
  if (hidden > 0) {
    const by = new Map<string, number>([
      ['reachability', 0],
      ['dev-only', 0],
      ['suppression', 0],
    ]);
    for (const f of findings)
      if (f.suppressed) by.set(f.suppressed.by, (by.get(f.suppressed.by) ?? 0) + 1);
    lines.push(
      `${hidden} suppressed (${[...by]
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} by ${k}`)
        .join(', ')})`,
    );
  }
  return `${lines.join('\n')}\n`;
}
