/**
 * VEX (Vulnerability Exploitability eXchange) documents: what a finding's verdict means for the
 * product, as CycloneDX 1.6 `vulnerabilities[]` and as OpenVEX 0.2.0 statements.
 *
 * The mapping (same in both):
 * - suppressed by reachability, `not-imported` (never loaded) or `imported-unused` (loaded, the
 *   named symbols unused): not affected, code not reachable / vulnerable code not in execute path;
 * - suppressed as dev-only: not affected, code not present / vulnerable code not present (a
 *   development dependency is not in the production install);
 * - suppressed by a suppressions file: not affected, its reason as the detail / impact statement
 *   (a reviewed claim by the suppression's author);
 * - unsuppressed and `reachable`: exploitable / affected;
 * - anything else (`unknown`, or a verdict below high confidence): in triage / under
 *   investigation — never claimed not affected.
 */
import type { Finding } from '../types.ts';
import { npmPurl } from './purl.ts';

/** The product the document speaks for: a service or an application. */
export interface VexSubject {
  name: string;
  version?: string;
  /** Its package URL or other IRI; defaults to `pkg:generic/<name>@<version>`. */
  purl?: string;
}

export interface VexOptions {
  /** RFC 3339 time of the document (the core keeps no clock). */
  timestamp?: string;
  /** Who states it (OpenVEX `author`); default `Ward`. */
  author?: string;
  /** The document's IRI (OpenVEX `@id`); default derived from the subject and timestamp. */
  id?: string;
}

type Verdict =
  | { state: 'not_affected'; cdx?: string; openvex?: string; detail: string }
  | { state: 'exploitable' | 'in_triage'; detail: string };

function verdictOf(f: Finding): Verdict {
  const s = f.suppressed;
  if (s?.by === 'reachability')
    return {
      state: 'not_affected',
      cdx: 'code_not_reachable',
      openvex: 'vulnerable_code_not_in_execute_path',
      detail: f.reachability.reason,
    };
  if (s?.by === 'dev-only')
    return {
      state: 'not_affected',
      cdx: 'code_not_present',
      openvex: 'vulnerable_code_not_present',
      detail: s.reason,
    };
  if (s?.by === 'suppression') return { state: 'not_affected', detail: s.reason };
  if (f.reachability.verdict === 'reachable')
    return { state: 'exploitable', detail: `${f.reachability.reason}; priority ${f.priority}` };
  return {
    state: 'in_triage',
    detail: `${f.reachability.verdict} (${f.reachability.confidence} confidence): ${f.reachability.reason}`,
  };
}

function subjectPurl(subject: VexSubject): string {
  return (
    subject.purl ??
    `pkg:generic/${encodeURIComponent(subject.name)}${subject.version ? `@${encodeURIComponent(subject.version)}` : ''}`
  );
}

const METHOD = { '3.0': 'CVSSv3', '3.1': 'CVSSv31', '4.0': 'CVSSv4' } as const;

/**
 * Groups findings by advisory and verdict (state and justification), in first-seen order: one
 * VEX entry per group, so packages with different verdicts for one advisory (one never
 * imported, another a dev dependency) each get their own statement rather than a merged one.
 */
function groups(findings: readonly Finding[]): { f: Finding; v: Verdict; all: Finding[] }[] {
  const out = new Map<string, { f: Finding; v: Verdict; all: Finding[]; details: string[] }>();
  for (const f of findings) {
    const v = verdictOf(f);
    const just = v.state === 'not_affected' ? `${v.cdx ?? ''}/${v.openvex ?? ''}` : '';
    const key = `${f.advisory.id}\u0000${v.state}\u0000${just}`;
    const g = out.get(key);
    if (!g) out.set(key, { f, v, all: [f], details: [v.detail] });
    else {
      g.all.push(f);
      if (!g.details.includes(v.detail)) g.details.push(v.detail);
    }
  }
  return [...out.values()].map(({ f, v, all, details }) => ({
    f,
    v: { ...v, detail: details.join('; ') },
    all,
  }));
}

/**
 * A CycloneDX 1.6 BOM (as text) with the affected packages as `components` and one
 * `vulnerabilities[]` entry per advisory and verdict whose `analysis` states the verdict for the
 * subject (`bom-ref` `vuln:<id>`, then `vuln:<id>#2`, … when one advisory has several verdicts).
 *
 * @example
 * toCycloneDxVex(findings, { name: 'shop/orders', version: '1.4.0' }, { timestamp: '2026-11-30T12:00:00Z' });
 */
export function toCycloneDxVex(
  findings: readonly Finding[],
  subject: VexSubject,
  options: VexOptions = {},
): string {
  const components = new Map<string, unknown>();
  for (const f of findings) {
    const ref = npmPurl(f.package.name, f.package.version);
    if (!components.has(ref))
      components.set(ref, {
        type: 'library',
        'bom-ref': ref,
        name: f.package.name,
        version: f.package.version,
        purl: ref,
        ...(f.package.dev ? { scope: 'optional' } : {}),
      });
  }
  const seen = new Map<string, number>();
  const vulnerabilities = groups(findings).map(({ f, v, all: group }) => {
    const a = f.advisory;
    const n = (seen.get(a.id) ?? 0) + 1;
    seen.set(a.id, n);
    const analysis: Record<string, unknown> = { state: v.state, detail: v.detail };
    if (v.state === 'not_affected' && v.cdx) analysis.justification = v.cdx;
    const ratings = group[0]!.cvss
      ? [
          {
            score: group[0]!.cvss.score,
            severity: group[0]!.cvss.rating.toLowerCase(),
            method: METHOD[group[0]!.cvss.version],
            vector: group[0]!.cvss.vector,
          },
        ]
      : [];
    const out: Record<string, unknown> = {
      'bom-ref': n === 1 ? `vuln:${a.id}` : `vuln:${a.id}#${n}`,
      id: a.id,
      source: { name: 'OSV', url: `https://osv.dev/vulnerability/${encodeURIComponent(a.id)}` },
      description: a.summary,
      analysis,
      affects: [...new Set(group.map((g) => npmPurl(g.package.name, g.package.version)))].map(
        (ref) => ({ ref }),
      ),
      properties: [
        { name: 'ward:priority', value: String(Math.max(...group.map((g) => g.priority))) },
      ],
    };
    if (a.aliases.length)
      out.references = a.aliases.map((id) => ({
        id,
        source: { url: `https://osv.dev/vulnerability/${encodeURIComponent(id)}` },
      }));
    if (ratings.length) out.ratings = ratings;
    return out;
  });
  const metadata: Record<string, unknown> = {
    component: {
      type: 'application',
      'bom-ref': subjectPurl(subject),
      name: subject.name,
      ...(subject.version ? { version: subject.version } : {}),
      ...(subject.purl ? { purl: subject.purl } : {}),
    },
    tools: { components: [{ type: 'application', name: 'ward vulns' }] },
  };
  if (options.timestamp) metadata.timestamp = options.timestamp;
  return `${JSON.stringify(
    {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      version: 1,
      metadata,
      components: [...components.values()],
      vulnerabilities,
    },
    null,
    2,
  )}\n`;
}

/**
 * An OpenVEX 0.2.0 document (as text): one statement per advisory and verdict for the subject,
 * naming the affected packages as subcomponents. OpenVEX needs at least one statement: with no
 * findings, `statements` is empty and the document is not schema-valid (write none). OpenVEX requires a timestamp: pass one (the core has no
 * clock); without it the Unix epoch is written.
 *
 * @example
 * toOpenVex(findings, { name: 'shop/orders' }, { timestamp: '2026-11-30T12:00:00Z', author: 'shop team' });
 */
export function toOpenVex(
  findings: readonly Finding[],
  subject: VexSubject,
  options: VexOptions = {},
): string {
  const timestamp = options.timestamp ?? '1970-01-01T00:00:00Z';
  const product = subjectPurl(subject);
  const statements = groups(findings).map(({ f, v, all: group }) => {
    const a = f.advisory;
    const st: Record<string, unknown> = {
      vulnerability: {
        '@id': `https://osv.dev/vulnerability/${encodeURIComponent(a.id)}`,
        name: a.id,
        ...(a.aliases.length ? { aliases: [...new Set(a.aliases)] } : {}),
      },
      products: [
        {
          '@id': product,
          subcomponents: [
            ...new Set(group.map((g) => npmPurl(g.package.name, g.package.version))),
          ].map((id) => ({ '@id': id })),
        },
      ],
      status:
        v.state === 'exploitable'
          ? 'affected'
          : v.state === 'in_triage'
            ? 'under_investigation'
            : 'not_affected',
    };
    if (v.state === 'not_affected') {
      if (v.openvex) st.justification = v.openvex;
      st.impact_statement = v.detail;
    } else if (v.state === 'exploitable') {
      const fixed = a.affected
        .flatMap((p) => p.ranges.flatMap((r) => r.events))
        .flatMap((e) => ('fixed' in e ? [e.fixed] : []));
      st.action_statement = fixed.length
        ? `Update ${f.package.name} to ${[...new Set(fixed)].join(' or ')} or later.`
        : `No fixed version is known: remove or replace ${f.package.name}, or mitigate. ${v.detail}`;
    } else {
      st.status_notes = v.detail;
    }
    return st;
  });
  return `${JSON.stringify(
    {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id':
        options.id ??
        `https://openvex.dev/docs/ward/${encodeURIComponent(subject.name)}/${encodeURIComponent(timestamp)}`,
      author: options.author ?? 'Ward',
      timestamp,
      version: 1,
      tooling: 'ward vulns',
      statements,
    },
    null,
    2,
  )}\n`;
}
