/** Hand-built advisories and findings for the report tests (real advisory ids and data). */
import type { Advisory, CvssScore, Finding, InstalledPackage, Reachability } from '../src/index.ts';
import type { RankInput } from '../src/report/rank.ts';

/** GHSA-35jh-r3h4-6jhm: lodash command injection via template (CVE-2021-23337). */
export const LODASH: Advisory = {
  id: 'GHSA-35jh-r3h4-6jhm',
  aliases: ['CVE-2021-23337'],
  summary: 'Command Injection in lodash',
  cvss: ['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H'],
  severity: 'HIGH',
  affected: [
    {
      name: 'lodash',
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '4.17.21' }] }],
      versions: [],
      symbols: ['template'],
    },
  ],
  modified: '2024-04-23T22:09:28Z',
};

/** GHSA-c2qf-rxjj-qqgw: semver ReDoS (CVE-2022-25883). */
export const SEMVER: Advisory = {
  id: 'GHSA-c2qf-rxjj-qqgw',
  aliases: ['CVE-2022-25883'],
  summary: 'semver vulnerable to Regular Expression Denial of Service',
  cvss: ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H'],
  severity: 'MODERATE',
  affected: [
    {
      name: 'semver',
      ranges: [{ type: 'SEMVER', events: [{ introduced: '7.0.0' }, { fixed: '7.5.2' }] }],
      versions: [],
    },
  ],
  modified: '2024-06-21T21:33:57Z',
};

/** GHSA-wf5p-g6vw-rhxx: axios CSRF (CVE-2023-45857), no CVSS vector here. */
export const AXIOS: Advisory = {
  id: 'GHSA-wf5p-g6vw-rhxx',
  aliases: ['CVE-2023-45857'],
  summary: 'Axios Cross-Site Request Forgery Vulnerability',
  cvss: [],
  severity: 'MODERATE',
  affected: [
    {
      name: 'axios',
      ranges: [{ type: 'SEMVER', events: [{ introduced: '0.8.1' }, { fixed: '0.28.0' }] }],
      versions: [],
    },
  ],
  modified: '2024-02-12T20:19:47Z',
};

export const CVSS_LODASH: CvssScore = {
  version: '3.1',
  vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H',
  score: 7.2,
  rating: 'HIGH',
  attackVector: 'N',
};

export const CVSS_SEMVER: CvssScore = {
  version: '3.1',
  vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H',
  score: 7.5,
  rating: 'HIGH',
  attackVector: 'N',
};

export function pkg(name: string, version: string, extra: Partial<InstalledPackage> = {}) {
  return { name, version, path: `node_modules/${name}`, ...extra } satisfies InstalledPackage;
}

export const REACHABLE: Reachability = {
  verdict: 'reachable',
  confidence: 'high',
  reason: 'src/index.ts imports lodash and calls template',
  chain: ['src/index.ts', 'node_modules/lodash/lodash.js'],
};
export const NOT_IMPORTED: Reachability = {
  verdict: 'not-imported',
  confidence: 'high',
  reason: 'no import chain from src/index.ts reaches semver',
};
export const UNKNOWN: Reachability = {
  verdict: 'unknown',
  confidence: 'low',
  reason: 'src/plugins.ts has require(name) with a computed name',
};

export function input(over: Partial<RankInput> = {}): RankInput {
  return {
    advisory: LODASH,
    package: pkg('lodash', '4.17.20'),
    cvss: CVSS_LODASH,
    exploit: { epss: { score: 0.0123, percentile: 0.85, date: '2026-11-29' } },
    reachability: REACHABLE,
    exposure: { entryPoint: true, hopsFromEntry: 0, blastRadius: 0 },
    ...over,
  };
}

/** A ranked finding, built directly (no ranking), for writer tests. */
export function finding(over: Partial<Finding> = {}): Finding {
  return {
    ...input(),
    priority: 50,
    reasons: ['reason one', 'reason two'],
    ...over,
  };
}
