import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AdvisoryDatabase,
  analyzeReachability,
  type Exposure,
  exportNameOf,
  parseEpssCsv,
  parseKev,
  parseSuppressions,
  readInventory,
  scan,
} from '../src/index.ts';
import { diskFileSystem } from './reachability-disk.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const OSV = join(FIXTURES, 'advisories', 'osv');
const read = (...p: string[]) => readFileSync(join(FIXTURES, ...p), 'utf8');
const db = AdvisoryDatabase.fromRecords(
  readdirSync(OSV)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: f, text: readFileSync(join(OSV, f), 'utf8') })),
);
const NOW = Date.parse('2026-06-01T00:00:00Z');

/** An npm v3 lockfile of the cjs-app fixture, versions as installed in its node_modules. */
export const CJS_APP_LOCK = JSON.stringify({
  name: 'cjs-app',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': {
      name: 'cjs-app',
      version: '1.0.0',
      dependencies: { express: '^4.21.2', lodash: '^4.17.21', qs: '^6.13.0', 'left-pad': '^1.3.0' },
    },
    'node_modules/debug': { version: '4.4.0' },
    'node_modules/express': { version: '4.21.2', dependencies: { debug: '2.6.9' } },
    'node_modules/express/node_modules/debug': { version: '2.6.9' },
    'node_modules/left-pad': { version: '1.3.0' },
    'node_modules/lodash': { version: '4.17.20' },
    'node_modules/qs': { version: '6.13.0' },
  },
});

describe('scan', () => {
  it('finds what the OSV fixtures say about the feathers lockfile, counted like npm audit and deduplicated', () => {
    const inventory = readInventory(
      read('inventory', 'feathers.package-lock.json'),
      'package-lock.json',
    );
    const r = scan({ inventory, advisories: db, now: NOW });
    expect(r.findings.length).toBeGreaterThan(0);
    const ids = r.findings.map((f) => `${f.advisory.id} ${f.package.name}@${f.package.version}`);
    expect(ids).toContain('GHSA-3h5v-q93c-6h6q ws@8.11.0');
    // One finding per advisory and name@version.
    expect(new Set(ids).size).toBe(ids.length);
    // The naive count is at least every finding, and more when a version is installed twice.
    expect(r.naive).toBeGreaterThanOrEqual(r.findings.length);
    const unsuppressed = r.findings.filter((f) => !f.suppressed).length;
    expect(r.naive).toBeGreaterThanOrEqual(unsuppressed);
    // Ranked: priorities never increase down the list.
    for (let i = 1; i < r.findings.length; i++)
      expect(r.findings[i - 1]!.priority).toBeGreaterThanOrEqual(r.findings[i]!.priority);
    // Without a source tree, no verdict is claimed.
    for (const f of r.findings) expect(f.reachability.verdict).toBe('unknown');
    // CVSS comes from the advisory's vectors.
    const ws = r.findings.find((f) => f.package.name === 'ws')!;
    expect(ws.cvss?.vector).toMatch(/^CVSS:3\.1\//);
    const dev = Object.values(r.suppressedBy).reduce((a, b) => a + b, 0);
    expect(dev).toBe(r.findings.length - unsuppressed);
  });

  it('counts the same advisory once per name@version but every entry naively', () => {
    const a = readInventory(read('inventory', 'hyper-app.yarn.lock'), 'yarn.lock');
    const once = scan({ inventory: a, advisories: db, now: NOW });
    const twice = scan({
      inventory: [a, { ...a, file: 'copy/yarn.lock' }],
      advisories: db,
      now: NOW,
    });
    expect(twice.findings.length).toBe(once.findings.length);
    expect(twice.naive).toBe(2 * once.naive);
  });

  it('joins reachability, exploit signals, exposure and suppressions', () => {
    const root = join(FIXTURES, 'reachability', 'cjs-app');
    const reachability = analyzeReachability({ fs: diskFileSystem(), root });
    const inventory = readInventory(CJS_APP_LOCK, 'package-lock.json');
    const exposure: Exposure = { entryPoint: true, hopsFromEntry: 0, blastRadius: 2 };
    const epss = parseEpssCsv(read('advisories', 'epss-2026-09-29-slice.csv'), 'epss.csv');
    const kev = parseKev(read('advisories', 'kev-slice.json'), 'kev.json');
    const r = scan({ inventory, advisories: db, reachability, exposure, epss, kev, now: NOW });
    const lodash = r.findings.find((f) => f.advisory.id === 'GHSA-35jh-r3h4-6jhm');
    expect(lodash).toBeDefined();
    // lodash is loaded, but only merge is used, not template.
    expect(lodash!.reachability.verdict).toBe('imported-unused');
    expect(lodash!.exposure).toEqual(exposure);
    expect(lodash!.suppressed?.by).toBe(
      lodash!.reachability.confidence === 'high' ? 'reachability' : undefined,
    );
    // A suppression file hides what is not already hidden and reports expiry.
    const suppressions = parseSuppressions(read('report', 'ward-vulns.yaml'), 'ward-vulns.yaml');
    const later = scan({
      inventory,
      advisories: db,
      reachability,
      suppressions,
      now: Date.parse('2027-12-31T00:00:00Z'),
    });
    expect(later.expiredSuppressions.map((e) => e.suppression.id)).toContain('CVE-2021-23337');
    expect(r.naive).toBeGreaterThanOrEqual(r.findings.filter((f) => !f.suppressed).length);
  });
});

describe('symbols of real GitHub records as exports', () => {
  it.each([
    ['(lodash).defaultsDeep', 'lodash', 'defaultsDeep'],
    ['(lodash-es).defaultsDeep', 'lodash-es', 'defaultsDeep'],
    ['(lodash.defaultsdeep)', 'lodash.defaultsdeep', 'default'],
    ['minimatch', 'minimatch', 'default'],
    ['minimatch.Minimatch', 'minimatch', 'Minimatch'],
    ['minimatch.Minimatch.braceExpand', 'minimatch', 'Minimatch'],
    ['ext', 'minimatch', 'ext'],
    ['template', 'lodash', 'template'],
    ['lib/parse.js', 'braces', 'lib/parse.js'],
  ])('%s of %s is reached through %s', (symbol, name, expected) => {
    expect(exportNameOf(symbol, name)).toBe(expected);
  });

  it('asks the reachability index about exports, not the raw affected_functions', () => {
    // GHSA-f8q6-p94x-37v3 (minimatch, real record shape): glob calls minimatch() and reads
    // minimatch.Minimatch, both named by the advisory.
    const record = {
      id: 'GHSA-f8q6-p94x-37v3',
      modified: '2023-01-23T18:54:22Z',
      affected: [
        {
          package: { ecosystem: 'npm', name: 'minimatch' },
          ecosystem_specific: {
            affected_functions: ['ext', 'minimatch', 'minimatch.Minimatch', 'minimatch.match'],
          },
          ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.5' }] }],
        },
      ],
    };
    const asked: (string[] | undefined)[] = [];
    const r = scan({
      inventory: readInventory(
        JSON.stringify({
          lockfileVersion: 3,
          packages: { '': { name: 'x' }, 'node_modules/minimatch': { version: '3.0.4' } },
        }),
        'package-lock.json',
      ),
      advisories: AdvisoryDatabase.fromRecords([{ file: 'r.json', text: JSON.stringify(record) }]),
      reachability: {
        entries: ['index.js'],
        files: 1,
        dynamic: [],
        loadedPackages: () => ['minimatch'],
        verdictFor(_name, symbols) {
          asked.push(symbols);
          return symbols?.includes('Minimatch')
            ? { verdict: 'reachable', confidence: 'high', reason: 'Minimatch is used' }
            : { verdict: 'imported-unused', confidence: 'high', reason: 'not used' };
        },
      },
      now: NOW,
    });
    expect(asked).toEqual([['Minimatch', 'default', 'ext', 'match']]);
    expect(r.findings[0]?.reachability.verdict).toBe('reachable');
  });
});
