/**
 * SARIF 2.1.0 for code-scanning UIs: one rule per advisory, one result per finding, located at
 * the package's entry in the lockfile (its line when the lockfile text is given). Suppressed
 * findings are kept with a SARIF `suppressions` entry, so the UI shows them as dismissed.
 */
import type { Finding, InstalledPackage } from '../types.ts';

export interface SarifOptions {
  /** The lockfile path, relative to the repository root (e.g. `package-lock.json`). */
  lockfile: string;
  /** Its text, to find each package's line; without it results point at the file. */
  lockfileText?: string;
  /** The Ward version to name as the tool's. */
  toolVersion?: string;
}

/**
 * The 1-based line of `pkg`'s entry in a lockfile's text, or undefined: npm v2/v3 keys
 * (`"node_modules/a/node_modules/b": {`), pnpm keys (`/name@version`, `name@version:`), yarn
 * keys (`name@range`, `"name@npm:range"`), npm v1 (`"name": {` followed by its version).
 */
export function lockfileLine(text: string, pkg: InstalledPackage): number | undefined {
  const lines = text.split('\n');
  const find = (test: (line: string) => boolean): number | undefined => {
    const i = lines.findIndex(test);
    return i < 0 ? undefined : i + 1;
  };
  const q = JSON.stringify(pkg.path);
  const nv = `${pkg.name}@${pkg.version}`;
  return (
    find((l) => l.trimStart().startsWith(`${q}:`)) ??
    find((l) => {
      const t = l.trimStart().replace(/^['"]/, '');
      return t.startsWith(`/${nv}`) || t.startsWith(`${nv}:`) || t.startsWith(`${nv}(`);
    }) ??
    // yarn: the block whose key names the package and whose `version` is the installed one.
    (() => {
      for (let i = 0; i < lines.length; i++) {
        const t = lines[i]!.replace(/^['"]/, '');
        if (/^\s/.test(lines[i]!) || !t.startsWith(`${pkg.name}@`)) continue;
        for (let j = i + 1; j < lines.length && /^\s/.test(lines[j]!); j++) {
          const v = /^\s+version:?\s+"?([^"\s]+)"?/.exec(lines[j]!);
          if (v) {
            if (v[1] === pkg.version) return i + 1;
            break;
          }
        }
      }
      return undefined;
    })()
  );
}

type Level = 'error' | 'warning' | 'note';

function levelOf(priority: number): Level {
  return priority >= 70 ? 'error' : priority >= 40 ? 'warning' : 'note';
}

function severityLevel(f: Finding): Level {
  const r = f.cvss?.rating ?? f.advisory.severity;
  return r === 'CRITICAL' || r === 'HIGH'
    ? 'error'
    : r === 'LOW' || r === 'NONE'
      ? 'note'
      : 'warning';
}

function uri(file: string): string {
  return encodeURI(file.replace(/\\/g, '/'));
}

/**
 * A SARIF 2.1.0 log (as text). Rules carry `security-severity` (the CVSS score, which GitHub
 * code scanning reads) and a link to the advisory; results carry the priority, the reasons and
 * the reachability verdict in `properties`.
 */
export function toSarif(findings: readonly Finding[], options: SarifOptions): string {
  const ruleIndex = new Map<string, number>();
  const rules: unknown[] = [];
  for (const f of findings) {
    const a = f.advisory;
    if (ruleIndex.has(a.id)) continue;
    ruleIndex.set(a.id, rules.length);
    const props: Record<string, unknown> = { tags: ['security', 'vulnerability', ...a.aliases] };
    if (f.cvss) props['security-severity'] = f.cvss.score.toFixed(1);
    rules.push({
      id: a.id,
      name: a.id.replace(/[^A-Za-z0-9]/g, ''),
      shortDescription: { text: a.summary || a.id },
      fullDescription: {
        text: `${a.summary || a.id}${a.aliases.length ? ` (${a.aliases.join(', ')})` : ''}`,
      },
      helpUri: `https://osv.dev/vulnerability/${encodeURIComponent(a.id)}`,
      help: {
        text: `${a.summary || a.id}. Affected: ${a.affected.map((p) => p.name).join(', ')}. See https://osv.dev/vulnerability/${a.id}`,
      },
      defaultConfiguration: { level: severityLevel(f) },
      properties: props,
    });
  }
  const results = findings.map((f) => {
    const line = options.lockfileText ? lockfileLine(options.lockfileText, f.package) : undefined;
    const physicalLocation: Record<string, unknown> = {
      artifactLocation: { uri: uri(options.lockfile) },
    };
    if (line !== undefined) physicalLocation.region = { startLine: line };
    const result: Record<string, unknown> = {
      ruleId: f.advisory.id,
      ruleIndex: ruleIndex.get(f.advisory.id)!,
      level: levelOf(f.priority),
      message: {
        text: `${f.package.name}@${f.package.version} (${f.package.path}) is affected by ${f.advisory.id}: ${f.advisory.summary}. Priority ${f.priority}: ${f.reasons.join('; ')}.`,
      },
      locations: [
        {
          physicalLocation,
          logicalLocations: [{ name: f.package.path, kind: 'package' }],
        },
      ],
      partialFingerprints: {
        'wardVulns/v1': `${f.advisory.id}:${f.package.name}@${f.package.version}:${f.package.path}`,
      },
      properties: {
        priority: f.priority,
        reasons: f.reasons,
        reachability: f.reachability.verdict,
        reachabilityConfidence: f.reachability.confidence,
        ...(f.exploit.kev ? { kev: true } : {}),
        ...(f.exploit.epss ? { epss: f.exploit.epss.score } : {}),
      },
    };
    if (f.suppressed)
      result.suppressions = [
        {
          kind: 'external',
          status: 'accepted',
          justification: `${f.suppressed.by}: ${f.suppressed.reason}`,
        },
      ];
    return result;
  });
  const driver: Record<string, unknown> = {
    name: 'ward vulns',
    informationUri: 'https://ward.dev/docs/vulns',
    rules,
  };
  if (options.toolVersion) driver.version = options.toolVersion;
  return `${JSON.stringify(
    {
      $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
      version: '2.1.0',
      runs: [{ tool: { driver }, results }],
    },
    null,
    2,
  )}\n`;
}
