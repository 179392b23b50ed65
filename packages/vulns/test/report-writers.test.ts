import type { ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  type Finding,
  lockfileLine,
  rank,
  toCycloneDxVex,
  toJson,
  toOpenVex,
  toSarif,
  toTable,
} from '../src/index.ts';
import { AXIOS, input, NOT_IMPORTED, pkg, REACHABLE, SEMVER, UNKNOWN } from './_report.ts';
import { cycloneDxValidator, openVexValidator, sarifValidator } from './_schemas.ts';

function valid(validate: ValidateFunction, doc: unknown): void {
  const ok = validate(doc);
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
}

/** Every verdict the writers map: reachable, unknown, proven unreachable, dev-only, suppressed. */
function findings(): Finding[] {
  const ranked = rank([
    input({ exploit: { kev: { dateAdded: '2021-11-03' } } }),
    input({ advisory: SEMVER, package: pkg('semver', '7.3.8'), reachability: NOT_IMPORTED }),
    input({
      advisory: SEMVER,
      package: pkg('semver', '6.3.0', { path: 'node_modules/jest/node_modules/semver', dev: true }),
      reachability: UNKNOWN,
    }),
    (() => {
      const { cvss: _c, ...f } = input({
        advisory: AXIOS,
        package: pkg('axios', '0.27.2'),
        reachability: UNKNOWN,
      });
      return f;
    })(),
    input({
      advisory: {
        ...AXIOS,
        id: 'GHSA-jr5f-v2jv-69x6',
        aliases: ['CVE-2025-27152'],
        summary: 'axios SSRF',
      },
      package: pkg('@scope/http', '1.0.0'),
      reachability: { ...REACHABLE, reason: 'src/client.ts calls get' },
    }),
  ]);
  // One finding suppressed by a suppressions file.
  return ranked.map((f) =>
    f.advisory.id === 'GHSA-jr5f-v2jv-69x6'
      ? {
          ...f,
          suppressed: {
            by: 'suppression' as const,
            reason: 'only internal URLs (ward-vulns.yaml:3:5)',
          },
        }
      : f,
  );
}

const LOCK = `{
  "name": "orders",
  "lockfileVersion": 3,
  "packages": {
    "": { "name": "orders" },
    "node_modules/lodash": {
      "version": "4.17.20"
    },
    "node_modules/semver": {
      "version": "7.3.8"
    },
    "node_modules/jest/node_modules/semver": {
      "version": "6.3.0",
      "dev": true
    }
  }
}
`;

describe('toTable', () => {
  it('prints one line per unsuppressed finding with its reasons, and counts the rest', () => {
    const fs = findings();
    const text = toTable(fs);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PRIO {2}ADVISORY +PACKAGE +REASONS$/);
    const shown = fs.filter((f) => !f.suppressed);
    expect(lines).toHaveLength(1 + shown.length + 1);
    expect(lines[1]).toMatch(
      new RegExp(
        `^ +${shown[0]!.priority} {2}GHSA-35jh-r3h4-6jhm +lodash@4\\.17\\.20 +in CISA KEV since 2021-11-03; `,
      ),
    );
    for (const [i, f] of shown.entries()) expect(lines[i + 1]).toContain(f.reasons.join('; '));
    expect(lines.at(-1)).toBe('3 suppressed (1 by reachability, 1 by dev-only, 1 by suppression)');
    const all = toTable(fs, { includeSuppressed: true }).trimEnd().split('\n');
    expect(all).toHaveLength(1 + fs.length);
    expect(
      all.some((l) =>
        l.includes('[suppressed by dev-only: semver is only a development dependency]'),
      ),
    ).toBe(true);
    expect(toTable([])).toBe('PRIO  ADVISORY  PACKAGE  REASONS\nno findings\n');
  });
});

describe('toJson', () => {
  it('writes every finding and the counts', () => {
    const fs = findings();
    const doc = JSON.parse(toJson(fs));
    expect(doc.summary).toEqual({ findings: 5, unsuppressed: 2, suppressed: 3, kev: 1 });
    expect(doc.findings).toEqual(JSON.parse(JSON.stringify(fs)));
  });
});

describe('toSarif', () => {
  it('validates against the SARIF 2.1.0 schema: one rule per advisory, results at the lockfile entry', () => {
    const fs = findings();
    const sarif = JSON.parse(
      toSarif(fs, {
        lockfile: 'services/orders/package-lock.json',
        lockfileText: LOCK,
        toolVersion: '0.1.0',
      }),
    );
    valid(sarifValidator(), sarif);
    const run = sarif.runs[0];
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual([
      ...new Set(fs.map((f) => f.advisory.id)),
    ]);
    const lodash = run.results.find((r: { ruleId: string }) => r.ruleId === 'GHSA-35jh-r3h4-6jhm');
    expect(lodash.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'services/orders/package-lock.json' },
      region: { startLine: 6 },
    });
    expect(lodash.level).toBe('error');
    const devSemver = run.results.find(
      (r: { locations: { logicalLocations: { name: string }[] }[] }) =>
        r.locations[0]!.logicalLocations[0]!.name === 'node_modules/jest/node_modules/semver',
    );
    expect(devSemver.locations[0].physicalLocation.region).toEqual({ startLine: 12 });
    expect(devSemver.suppressions).toEqual([
      {
        kind: 'external',
        status: 'accepted',
        justification: 'dev-only: semver is only a development dependency',
      },
    ]);
    const rule = run.tool.driver.rules[run.results[0].ruleIndex];
    expect(rule.id).toBe(run.results[0].ruleId);
    expect(rule.properties['security-severity']).toBe('7.2');
    // Without the lockfile's text, results point at the file.
    const bare = JSON.parse(toSarif(fs, { lockfile: 'package-lock.json' }));
    valid(sarifValidator(), bare);
    bare.runs[0].results[0].level = 'fatal';
    expect(sarifValidator()(bare)).toBe(false);
    expect(bare.runs[0].results[0].locations[0].physicalLocation.region).toBeUndefined();
  });

  it('finds entries in pnpm and yarn lockfiles too', () => {
    const p = pkg('lodash', '4.17.20');
    expect(
      lockfileLine(
        "lockfileVersion: '9.0'\n\npackages:\n\n  lodash@4.17.20:\n    resolution: {}\n",
        p,
      ),
    ).toBe(5);
    expect(lockfileLine('packages:\n  /lodash@4.17.20:\n    resolution: {}\n', p)).toBe(2);
    const yarn =
      '# yarn lockfile v1\n\nlodash@^4.17.0:\n  version "4.17.19"\n\nlodash@^4.17.20, lodash@~4.17.20:\n  version "4.17.20"\n';
    expect(lockfileLine(yarn, p)).toBe(6);
    const berry =
      '"lodash@npm:^4.17.20":\n  version: 4.17.20\n  resolution: "lodash@npm:4.17.20"\n';
    expect(lockfileLine(berry, p)).toBe(1);
    expect(lockfileLine(yarn, pkg('lodash', '3.0.0'))).toBeUndefined();
  });
});

describe('toCycloneDxVex', () => {
  it('validates against the CycloneDX 1.6 schema and states each verdict', () => {
    const doc = JSON.parse(
      toCycloneDxVex(
        findings(),
        { name: 'shop/orders', version: '1.4.0' },
        { timestamp: '2026-11-30T12:00:00Z' },
      ),
    );
    valid(cycloneDxValidator(), doc);
    expect(doc.specVersion).toBe('1.6');
    const by = new Map(doc.vulnerabilities.map((v: { id: string }) => [v.id, v]));
    expect(by.get('GHSA-35jh-r3h4-6jhm')).toMatchObject({
      analysis: { state: 'exploitable' },
      affects: [{ ref: 'pkg:npm/lodash@4.17.20' }],
      references: [{ id: 'CVE-2021-23337' }],
      ratings: [{ score: 7.2, severity: 'high', method: 'CVSSv31' }],
    });
    // semver: one finding not imported (proven), one a dev dependency (reachability unknown):
    // two entries, one per verdict, each naming its package.
    const semver = doc.vulnerabilities.filter(
      (v: { id: string }) => v.id === 'GHSA-c2qf-rxjj-qqgw',
    );
    expect(
      semver.map((v: { 'bom-ref': string; analysis: unknown; affects: unknown }) => [
        v['bom-ref'],
        v.analysis,
        v.affects,
      ]),
    ).toEqual([
      [
        'vuln:GHSA-c2qf-rxjj-qqgw',
        {
          state: 'not_affected',
          justification: 'code_not_present',
          detail: 'semver is only a development dependency',
        },
        [{ ref: 'pkg:npm/semver@6.3.0' }],
      ],
      [
        'vuln:GHSA-c2qf-rxjj-qqgw#2',
        { state: 'not_affected', justification: 'code_not_reachable', detail: NOT_IMPORTED.reason },
        [{ ref: 'pkg:npm/semver@7.3.8' }],
      ],
    ]);
    expect(by.get('GHSA-wf5p-g6vw-rhxx')).toMatchObject({ analysis: { state: 'in_triage' } });
    expect(by.get('GHSA-jr5f-v2jv-69x6')).toMatchObject({
      analysis: { state: 'not_affected', detail: 'only internal URLs (ward-vulns.yaml:3:5)' },
      affects: [{ ref: 'pkg:npm/%40scope/http@1.0.0' }],
    });
    const refs = new Set(doc.components.map((c: { 'bom-ref': string }) => c['bom-ref']));
    for (const v of doc.vulnerabilities)
      for (const a of v.affects) expect(refs.has(a.ref)).toBe(true);
  });

  it('says in_triage, never not_affected, for unknown reachability', () => {
    const fs = rank([input({ reachability: UNKNOWN })]);
    const doc = JSON.parse(toCycloneDxVex(fs, { name: 'x' }));
    valid(cycloneDxValidator(), doc);
    expect(doc.vulnerabilities[0].analysis.state).toBe('in_triage');
    // A schema violation is caught: the validator is not a rubber stamp.
    const broken = structuredClone(doc);
    broken.vulnerabilities[0].analysis.justification = 'not_reachable';
    expect(cycloneDxValidator()(broken)).toBe(false);
    const dev = rank([input({ package: pkg('lodash', '4.17.20', { dev: true }) })]);
    expect(
      JSON.parse(toCycloneDxVex(dev, { name: 'x' })).vulnerabilities[0].analysis,
    ).toMatchObject({
      state: 'not_affected',
      justification: 'code_not_present',
    });
  });
});

describe('toOpenVex', () => {
  it('validates against the OpenVEX 0.2.0 schema and states each verdict', () => {
    const doc = JSON.parse(
      toOpenVex(
        findings(),
        { name: 'shop/orders', purl: 'pkg:oci/orders@sha256%3Aabc' },
        {
          timestamp: '2026-11-30T12:00:00Z',
          author: 'shop team',
        },
      ),
    );
    valid(openVexValidator(), doc);
    expect(doc['@context']).toBe('https://openvex.dev/ns/v0.2.0');
    const by = new Map(
      doc.statements.map((s: { vulnerability: { name: string } }) => [s.vulnerability.name, s]),
    );
    expect(by.get('GHSA-35jh-r3h4-6jhm')).toMatchObject({
      status: 'affected',
      action_statement: 'Update lodash to 4.17.21 or later.',
      products: [
        {
          '@id': 'pkg:oci/orders@sha256%3Aabc',
          subcomponents: [{ '@id': 'pkg:npm/lodash@4.17.20' }],
        },
      ],
      vulnerability: { aliases: ['CVE-2021-23337'] },
    });
    const semver = doc.statements.filter(
      (st: { vulnerability: { name: string } }) => st.vulnerability.name === 'GHSA-c2qf-rxjj-qqgw',
    );
    expect(semver).toHaveLength(2);
    expect(semver[0]).toMatchObject({
      status: 'not_affected',
      justification: 'vulnerable_code_not_present',
      products: [{ subcomponents: [{ '@id': 'pkg:npm/semver@6.3.0' }] }],
    });
    expect(semver[1]).toMatchObject({
      status: 'not_affected',
      justification: 'vulnerable_code_not_in_execute_path',
      impact_statement: NOT_IMPORTED.reason,
      products: [{ subcomponents: [{ '@id': 'pkg:npm/semver@7.3.8' }] }],
    });
    expect(by.get('GHSA-wf5p-g6vw-rhxx')).toMatchObject({ status: 'under_investigation' });
    expect(by.get('GHSA-jr5f-v2jv-69x6')).toMatchObject({ status: 'not_affected' });
    expect(
      (by.get('GHSA-jr5f-v2jv-69x6') as { justification?: string }).justification,
    ).toBeUndefined();
  });

  it('maps dev-only to vulnerable_code_not_present and stays valid for one finding', () => {
    const dev = rank([input({ package: pkg('lodash', '4.17.20', { dev: true }) })]);
    const doc = JSON.parse(
      toOpenVex(dev, { name: 'orders' }, { timestamp: '2026-11-30T12:00:00Z' }),
    );
    valid(openVexValidator(), doc);
    expect(doc.statements[0]).toMatchObject({
      status: 'not_affected',
      justification: 'vulnerable_code_not_present',
    });
    // A schema violation is caught: the validator is not a rubber stamp.
    const broken = { ...doc, statements: [{ ...doc.statements[0], status: 'fixed?' }] };
    expect(openVexValidator()(broken)).toBe(false);
  });
});
