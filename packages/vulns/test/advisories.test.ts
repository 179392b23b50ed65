import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  AdvisoryDatabase,
  exploitSignal,
  parseCvss,
  parseEpssCsv,
  parseKev,
  parseOsvRecord,
  roundup31,
  VulnsError,
} from '../src/index.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'advisories');
const OSV_DIR = join(DIR, 'osv');
const records = readdirSync(OSV_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, text: readFileSync(join(OSV_DIR, file), 'utf8') }));

function pkg(name: string, version: string) {
  return { name, version, path: `node_modules/${name}` };
}

function ids(db: AdvisoryDatabase, name: string, version: string): string[] {
  return db.match(pkg(name, version)).map((a) => a.id);
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VulnsError);
    expect((err as VulnsError).code).toBe(code);
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a VulnsError');
}

describe('parseOsvRecord (real GitHub records)', () => {
  it('reads ids, aliases, severity, CVSS vectors and affected_functions', () => {
    const lodash = records.find((r) => r.file.startsWith('GHSA-35jh'));
    const a = parseOsvRecord(lodash?.text ?? '', 'GHSA-35jh-r3h4-6jhm.json');
    expect(a?.id).toBe('GHSA-35jh-r3h4-6jhm');
    expect(a?.aliases).toEqual(['CVE-2021-23337']);
    expect(a?.severity).toBe('HIGH');
    expect(a?.cvss).toEqual(['CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H']);
    expect(a?.affected.map((x) => x.name)).toEqual(['lodash', 'lodash-es']);
    expect(a?.affected[0]?.symbols).toEqual(['lodash.template']);
    expect(a?.modified).toBe('2022-02-08T21:35:09Z');
  });

  it('drops withdrawn records and other ecosystems', () => {
    const doc = JSON.parse(records[0]?.text ?? '{}');
    expect(
      parseOsvRecord(JSON.stringify({ ...doc, withdrawn: '2024-01-01T00:00:00Z' }), 'w.json'),
    ).toBeUndefined();
    const pypi = { ...doc, affected: [{ package: { ecosystem: 'PyPI', name: 'x' }, ranges: [] }] };
    expect(parseOsvRecord(JSON.stringify(pypi), 'p.json')?.affected).toEqual([]);
  });

  it('names the file and the field of what it refuses', () => {
    expectCode(() => parseOsvRecord('{', 'a.json'), 'VULNS_BAD_OSV', /a\.json: not JSON/);
    expectCode(() => parseOsvRecord('{"modified":"x"}', 'b.json'), 'VULNS_BAD_OSV', /b\.json: id/);
    const base = { id: 'GHSA-x', modified: '2024-01-01T00:00:00Z' };
    const withEvents = (events: unknown) =>
      JSON.stringify({
        ...base,
        affected: [
          { package: { ecosystem: 'npm', name: 'p' }, ranges: [{ type: 'SEMVER', events }] },
        ],
      });
    expectCode(
      () => parseOsvRecord(withEvents([]), 'c.json'),
      'VULNS_BAD_OSV',
      /affected\[0\]\.ranges\[0\]\.events/,
    );
    expectCode(
      () => parseOsvRecord(withEvents([{ introduced: '0' }, { broken: '1' }]), 'd.json'),
      'VULNS_BAD_OSV',
      /events\[1\]\.broken: unknown event kind/,
    );
    expectCode(
      () => parseOsvRecord(withEvents([{ introduced: '0', fixed: '1.0.0' }]), 'e.json'),
      'VULNS_BAD_OSV',
      /exactly one/,
    );
    expectCode(
      () => parseOsvRecord(withEvents([{ introduced: 'one' }]), 'f.json'),
      'VULNS_BAD_OSV',
      /not a semantic version/,
    );
    expectCode(
      () => parseOsvRecord(withEvents([{ fixed: '1.0.0' }]), 'g.json'),
      'VULNS_BAD_OSV',
      /at least one introduced/,
    );
  });
});

describe('AdvisoryDatabase.match (OSV evaluation on real records)', () => {
  const db = AdvisoryDatabase.fromRecords(records);

  it('loads every fixture, one advisory each', () => {
    expect(db.advisories).toHaveLength(records.length);
    expect(db.skipped).toEqual([]);
  });

  it('introduced "0" and fixed (exclusive)', () => {
    expect(ids(db, 'lodash', '4.17.20')).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(ids(db, 'lodash', '0.0.1')).toEqual(['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    expect(ids(db, 'lodash', '4.17.21')).toEqual([]);
    expect(ids(db, 'lodash-es', '4.17.15')).toEqual(['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    expect(ids(db, 'left-pad', '1.0.0')).toEqual([]);
  });

  it('several affected entries and ranges are OR-ed, gaps stay unaffected', () => {
    expect(ids(db, 'semver', '7.5.1')).toEqual(['GHSA-c2qf-rxjj-qqgw']);
    expect(ids(db, 'semver', '7.5.2')).toEqual([]);
    expect(ids(db, 'semver', '6.3.0')).toEqual(['GHSA-c2qf-rxjj-qqgw']);
    expect(ids(db, 'semver', '6.3.1')).toEqual([]);
    expect(ids(db, 'semver', '5.7.1')).toEqual(['GHSA-c2qf-rxjj-qqgw']);
    expect(ids(db, 'semver', '5.7.2')).toEqual([]);
    expect(ids(db, 'minimist', '0.2.3')).toEqual(['GHSA-xvch-5gv4-984h']);
    expect(ids(db, 'minimist', '0.2.4')).toEqual([]);
    expect(ids(db, 'minimist', '1.2.5')).toEqual(['GHSA-xvch-5gv4-984h']);
    expect(ids(db, 'ansi-regex', '2.1.1')).toEqual([]);
    expect(ids(db, 'ansi-regex', '3.0.0')).toEqual(['GHSA-93q8-gq69-wqmw']);
    expect(ids(db, 'ansi-regex', '4.1.0')).toEqual(['GHSA-93q8-gq69-wqmw']);
    expect(ids(db, 'ansi-regex', '4.1.1')).toEqual([]);
  });

  it('two advisories of one package, and ranges listed out of order', () => {
    expect(ids(db, 'lodash', '4.17.19')).toEqual(['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    expect(ids(db, 'lodash', '4.17.20')).toEqual(['GHSA-35jh-r3h4-6jhm']);
    expect(ids(db, 'path-to-regexp', '0.1.7')).toEqual(['GHSA-9wv6-86v2-598j']);
    expect(ids(db, 'path-to-regexp', '0.1.10')).toEqual([]);
    expect(ids(db, 'path-to-regexp', '6.2.2')).toEqual(['GHSA-9wv6-86v2-598j']);
    expect(ids(db, 'path-to-regexp', '6.3.0')).toEqual([]);
    expect(ids(db, 'path-to-regexp', '8.0.0')).toEqual([]);
    expect(ids(db, 'ws', '2.0.0')).toEqual([]);
    expect(ids(db, 'ws', '8.17.0')).toEqual(['GHSA-3h5v-q93c-6h6q']);
    expect(ids(db, 'ws', '7.5.10')).toEqual([]);
  });

  it('last_affected is inclusive', () => {
    expect(ids(db, 'request', '2.88.2')).toEqual(['GHSA-p8p7-x288-28g6']);
    expect(ids(db, 'request', '2.88.3')).toEqual([]);
    expect(ids(db, '@cypress/request', '2.88.11')).toEqual(['GHSA-p8p7-x288-28g6']);
    expect(ids(db, '@cypress/request', '3.0.0')).toEqual([]);
  });

  it('prereleases follow SemVer precedence (OSV), not npm range rules', () => {
    expect(ids(db, 'express', '5.0.0-beta.1')).toEqual(['GHSA-rv95-896h-c2vc']);
    expect(ids(db, 'express', '5.0.0-beta.3')).toEqual([]);
    // 4.19.2-rc.1 sorts before the fix 4.19.2 (affected); 5.0.0-alpha.0 sorts after 4.19.2 and
    // before 5.0.0-alpha.1 (unaffected). npm's satisfies() would exclude prereleases from `<4.19.2`.
    expect(ids(db, 'express', '4.19.2-rc.1')).toEqual(['GHSA-rv95-896h-c2vc']);
    expect(ids(db, 'express', '5.0.0-alpha.0')).toEqual([]);
    expect(ids(db, 'axios', '1.6.0-beta.1')).toEqual(['GHSA-wf5p-g6vw-rhxx']);
    expect(ids(db, 'axios', '0.8.0')).toEqual([]);
  });

  it('an installed version that is not SemVer matches only an explicit versions list', () => {
    expect(ids(db, 'lodash', 'not-a-version')).toEqual([]);
    const listed = AdvisoryDatabase.fromRecords([
      {
        file: 'synthetic.json',
        text: JSON.stringify({
          id: 'GHSA-syn1-syn1-syn1',
          modified: '2024-01-01T00:00:00Z',
          affected: [
            { package: { ecosystem: 'npm', name: 'p' }, versions: ['git+https://x/y#abc'] },
          ],
        }),
      },
    ]);
    expect(ids(listed, 'p', 'git+https://x/y#abc')).toEqual(['GHSA-syn1-syn1-syn1']);
  });

  it('limit events bound a range (synthetic record)', () => {
    const limited = AdvisoryDatabase.fromRecords([
      {
        file: 'synthetic-limit.json',
        text: JSON.stringify({
          id: 'GHSA-lim1-lim1-lim1',
          modified: '2024-01-01T00:00:00Z',
          affected: [
            {
              package: { ecosystem: 'npm', name: 'p' },
              ranges: [{ type: 'SEMVER', events: [{ introduced: '1.0.0' }, { limit: '2.0.0' }] }],
            },
          ],
        }),
      },
    ]);
    expect(ids(limited, 'p', '1.5.0')).toEqual(['GHSA-lim1-lim1-lim1']);
    expect(ids(limited, 'p', '2.0.0')).toEqual([]);
  });
});

describe('AdvisoryDatabase merging by alias', () => {
  // SYNTHETIC: a second GHSA id for the real minimist CVE, and a CVE-only record (as OSV.dev
  // publishes them), to show the union-find merge; the real fixtures hold no such pair.
  const minimist = JSON.parse(records.find((r) => r.file.startsWith('GHSA-xvch'))?.text ?? '{}');
  const duplicate = {
    ...minimist,
    id: 'GHSA-aaaa-bbbb-cccc',
    aliases: ['CVE-2021-44906'],
    database_specific: { severity: 'HIGH' },
  };
  const cveOnly = {
    ...minimist,
    id: 'CVE-2021-44906',
    aliases: ['GHSA-zzzz-yyyy-xxxx'],
    modified: '2025-01-01T00:00:00Z',
  };
  const db = AdvisoryDatabase.fromRecords([
    ...records,
    { file: 'dup.json', text: JSON.stringify(duplicate) },
    { file: 'cve.json', text: JSON.stringify(cveOnly) },
    {
      file: 'withdrawn.json',
      text: JSON.stringify({
        ...minimist,
        id: 'GHSA-wwww-wwww-wwww',
        withdrawn: '2024-01-01T00:00:00Z',
      }),
    },
  ]);

  it('one advisory per vulnerability: GHSA primary (smallest), every other id kept', () => {
    const found = db.match(pkg('minimist', '1.2.5'));
    expect(found).toHaveLength(1);
    expect(found[0]?.id).toBe('GHSA-aaaa-bbbb-cccc');
    expect(found[0]?.aliases).toEqual([
      'CVE-2021-44906',
      'GHSA-xvch-5gv4-984h',
      'GHSA-zzzz-yyyy-xxxx',
    ]);
    expect(found[0]?.severity).toBe('CRITICAL');
    expect(found[0]?.modified).toBe('2025-01-01T00:00:00Z');
    expect(db.get('GHSA-xvch-5gv4-984h')?.id).toBe('GHSA-aaaa-bbbb-cccc');
    expect(db.withdrawn).toBe(1);
    expect(db.advisories).toHaveLength(records.length);
  });

  it('without a GHSA id the smallest id is primary; an entry without package is skipped', () => {
    // SYNTHETIC records.
    const affected = [
      { ranges: [{ type: 'GIT', repo: 'https://x/y', events: [{ introduced: 'abc' }] }] },
      {
        package: { ecosystem: 'npm', name: 'q' },
        ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }] }],
      },
    ];
    const one = AdvisoryDatabase.fromRecords([
      {
        file: 'a.json',
        text: JSON.stringify({
          id: 'OSV-2024-9',
          modified: '2024-01-01T00:00:00Z',
          aliases: ['CVE-2024-1'],
          affected,
        }),
      },
    ]);
    expect(one.advisories.map((a) => [a.id, a.aliases])).toEqual([['CVE-2024-1', ['OSV-2024-9']]]);
    expect(ids(one, 'q', '1.0.0')).toEqual(['CVE-2024-1']);
  });

  it('strict: false skips bad records and says which', () => {
    const lax = AdvisoryDatabase.fromRecords([...records, { file: 'broken.json', text: '{' }], {
      strict: false,
    });
    expect(lax.advisories).toHaveLength(records.length);
    expect(lax.skipped).toEqual([
      {
        file: 'broken.json',
        code: 'VULNS_BAD_OSV',
        message: expect.stringContaining('broken.json'),
      },
    ]);
    expectCode(
      () => AdvisoryDatabase.fromRecords([{ file: 'broken.json', text: '{' }]),
      'VULNS_BAD_OSV',
    );
  });

  it('fromZip reads the OSV ecosystem zip', () => {
    const zip = zipSync(
      Object.fromEntries(records.map((r) => [r.file, new TextEncoder().encode(r.text)])),
    );
    const fromZip = AdvisoryDatabase.fromZip(zip);
    expect(fromZip.advisories.map((a) => a.id)).toEqual(
      AdvisoryDatabase.fromRecords(records).advisories.map((a) => a.id),
    );
    expectCode(
      () => AdvisoryDatabase.fromZip(new Uint8Array([1, 2, 3, 4])),
      'VULNS_BAD_OSV',
      /zip/,
    );
  });
});

describe('EPSS and KEV', () => {
  // A slice of FIRST's real scores (see fixtures/advisories/README.md for where it comes from).
  const epss = parseEpssCsv(
    readFileSync(join(DIR, 'epss-2026-09-29-slice.csv'), 'utf8'),
    'epss-2026-09-29-slice.csv',
  );
  const kev = parseKev(readFileSync(join(DIR, 'kev-slice.json'), 'utf8'), 'kev-slice.json');

  it('parses the real EPSS slice with its score date', () => {
    expect(epss.size).toBe(327);
    expect(epss.get('CVE-2021-21315')).toEqual({
      score: 0.90675,
      percentile: 0.99801,
      date: '2026-09-29T12:00:22Z',
    });
    expect(epss.get('CVE-2021-23337')?.score).toBe(0.21333);
    expect(epss.get('CVE-1999-0001')?.percentile).toBe(0.88255);
    expect(
      parseEpssCsv('cve,epss,percentile\nCVE-2020-0001,0.1,0.2\n', 'x.csv').get('CVE-2020-0001'),
    ).toEqual({ score: 0.1, percentile: 0.2 });
  });

  it('refuses a missing header and out-of-range numbers, naming the line', () => {
    expectCode(() => parseEpssCsv('cve,score\n', 'a.csv'), 'VULNS_BAD_EPSS', /a\.csv: line 1/);
    expectCode(
      () => parseEpssCsv('#x\ncve,epss,percentile\nCVE-2020-0001,1.5,0.2\n', 'b.csv'),
      'VULNS_BAD_EPSS',
      /line 3/,
    );
    expectCode(
      () => parseEpssCsv('cve,epss,percentile\nCVE-2020-0001,NaN,0.2\n', 'c.csv'),
      'VULNS_BAD_EPSS',
      /line 2/,
    );
  });

  it('parses the real KEV slice', () => {
    expect(kev.size).toBe(4);
    expect(kev.get('CVE-2021-21315')).toEqual({ dateAdded: expect.any(String), ransomware: false });
    expect(kev.get('CVE-2021-44228')?.ransomware).toBe(true);
    expectCode(() => parseKev('{"vulnerabilities":{}}', 'k.json'), 'VULNS_BAD_KEV', /k\.json/);
    expectCode(
      () => parseKev('{"vulnerabilities":[{"cveID":"x"}]}', 'k.json'),
      'VULNS_BAD_KEV',
      /vulnerabilities\[0\]\.cveID/,
    );
  });

  it('exploitSignal takes the highest EPSS and any KEV entry over the CVE aliases', () => {
    const db = AdvisoryDatabase.fromRecords(records);
    const si = db.get('GHSA-2m8v-572m-ff2v');
    expect(si).toBeDefined();
    const signal = exploitSignal(si as NonNullable<typeof si>, epss, kev);
    expect(signal.epss?.score).toBe(0.90675);
    expect(signal.kev?.dateAdded).toBe(kev.get('CVE-2021-21315')?.dateAdded);
    // Synthetic alias list: lodash's CVE (0.21333), a Python CVE (0.40736), Log4Shell (KEV,
    // not in the slice) and a CVE absent from both.
    const both = exploitSignal(
      {
        id: 'GHSA-x',
        aliases: ['CVE-2021-23337', 'CVE-2021-23336', 'CVE-2021-44228', 'CVE-2099-0001'],
      },
      epss,
      kev,
    );
    expect(both.epss?.score).toBe(0.40736);
    expect(both.kev?.ransomware).toBe(true);
    expect(exploitSignal({ id: 'GHSA-y', aliases: [] }, epss, kev)).toEqual({});
  });
});

describe('parseCvss', () => {
  // FIRST CVSS v3.1 specification, section 7 examples / the v3.1 examples document.
  const spec: [string, number, string][] = [
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N', 6.1, 'MEDIUM'], // CVE-2013-1937 phpMyAdmin XSS
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N', 6.4, 'MEDIUM'], // CVE-2013-0375 MySQL
    ['CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N', 3.1, 'LOW'], // CVE-2014-3566 POODLE
    ['CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H', 9.9, 'CRITICAL'], // CVE-2012-1516 VMware
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5, 'HIGH'], // CVE-2014-0160 Heartbleed
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'CRITICAL'], // CVE-2014-6271 Shellshock
    ['CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8, 'CRITICAL'],
    ['CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N', 0, 'NONE'],
  ];
  it.each(spec)('%s → %d', (vector, score, rating) => {
    const c = parseCvss(vector);
    expect(c.score).toBe(score);
    expect(c.rating).toBe(rating);
    expect(c.attackVector).toBe('N');
  });

  it('scores the real fixtures’ vectors as GitHub/NVD publish them', () => {
    const expected: Record<string, number> = {
      'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H': 7.2, // lodash CVE-2021-23337 (NVD 7.2)
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L': 5.3, // semver CVE-2022-25883 (NVD 5.3)
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H': 7.5, // ansi-regex CVE-2021-3807 (NVD 7.5)
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N': 6.1, // express, request (6.1)
      'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H': 9.8, // minimist CVE-2021-44906 (9.8)
      'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H': 7.4, // lodash CVE-2020-8203 (NVD 7.4)
    };
    const seen = new Set(AdvisoryDatabase.fromRecords(records).advisories.flatMap((a) => a.cvss));
    expect([...seen].sort()).toEqual(Object.keys(expected).sort());
    for (const v of seen) expect(parseCvss(v).score).toBe(expected[v]);
  });

  it('v3.1 Roundup avoids float error; v3.0 uses plain ceiling', () => {
    // CVSS v3.1 Appendix A: Roundup(4.000000000000001) must be 4.0, not 4.1.
    expect(roundup31(4.000000000000001)).toBe(4);
    expect(roundup31(4.02)).toBe(4.1);
    expect(roundup31(4)).toBe(4);
    const a = parseCvss('CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N');
    expect(a.score).toBe(1.6);
    expect(a.attackVector).toBe('P');
  });

  it('v4.0: scored (the full checks are in cvss4.test.ts)', () => {
    const v = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    expect(parseCvss(v)).toMatchObject({
      version: '4.0',
      attackVector: 'N',
      rating: 'CRITICAL',
      score: 9.3,
      nomenclature: 'CVSS-B',
    });
    expectCode(() => parseCvss('CVSS:4.0/AV:N/AC:L'), 'VULNS_BAD_CVSS', /AT is missing/);
  });

  it('refuses unknown versions, missing or undefined metrics', () => {
    expectCode(() => parseCvss('CVSS:2.0/AV:N'), 'VULNS_BAD_CVSS', /unknown version/);
    expectCode(
      () => parseCvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H'),
      'VULNS_BAD_CVSS',
      /A is missing/,
    );
    expectCode(
      () => parseCvss('CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'),
      'VULNS_BAD_CVSS',
      /AV:X/,
    );
    expectCode(
      () => parseCvss('CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'),
      'VULNS_BAD_CVSS',
      /twice/,
    );
    expectCode(
      () => parseCvss('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1'),
      'VULNS_BAD_CVSS',
      /unknown metric/,
    );
  });
});
