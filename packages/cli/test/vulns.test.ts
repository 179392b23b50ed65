import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cycloneDxValidator, openVexValidator, sarifValidator } from '../../vulns/test/_schemas.ts';
import { diskFileSystem } from '../src/commands/vulns.ts';

const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
const repo = join(import.meta.dirname, '..', '..', '..');
const F = join(repo, 'packages', 'vulns', 'test', 'fixtures');
const OSV = join(F, 'advisories', 'osv');
const CJS_APP = join(F, 'reachability', 'cjs-app');
const FEATHERS = join(F, 'inventory', 'feathers.package-lock.json');

function ward(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: repo });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The cjs-app fixture's lockfile: the versions installed in its node_modules. */
const CJS_APP_LOCK = {
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
};

describe('ward vulns (real CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-vulns-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const lock = join(dir, 'package-lock.json');
  writeFileSync(lock, JSON.stringify(CJS_APP_LOCK, null, 2));

  it('prints the ranked table and JSON with the naive count', () => {
    const text = ward('vulns', '-f', FEATHERS, '--osv', OSV);
    expect(text.err).toBe('');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^PRIO\s+ADVISORY\s+PACKAGE\s+REASONS/);
    expect(text.out).toContain('GHSA-3h5v-q93c-6h6q');
    expect(text.out).toContain('ws@8.11.0');
    expect(text.out).toMatch(/counted naively/);
    const json = JSON.parse(ward('vulns', '-f', FEATHERS, '--osv', OSV, '-o', 'json').out);
    expect(json.version).toBe(1);
    expect(json.summary.naive).toBeGreaterThanOrEqual(json.summary.unsuppressed);
    expect(json.findings.length).toBe(json.summary.findings);
    expect(json.summary.suppressedBy['dev-only']).toBeGreaterThan(0);
  });

  it('decides reachability over the source tree and weighs EPSS, KEV and exposure', () => {
    const r = ward(
      'vulns',
      '-f',
      lock,
      '--osv',
      OSV,
      '--source',
      CJS_APP,
      '--epss',
      join(F, 'advisories', 'epss-2026-09-29-slice.csv'),
      '--kev',
      join(F, 'advisories', 'kev-slice.json'),
      '--graph',
      join(repo, 'examples', 'graph', 'k8s.yaml'),
      '--service',
      'shop/orders',
      '-o',
      'json',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lodash = JSON.parse(r.out).findings.find(
      (f: { advisory: { id: string } }) => f.advisory.id === 'GHSA-35jh-r3h4-6jhm',
    );
    expect(lodash.reachability.verdict).toBe('imported-unused');
    expect(lodash.reachability.reason).toContain('template');
    expect(lodash.exposure).toBeDefined();
    expect(typeof lodash.exposure.blastRadius).toBe('number');
  });

  it('gates CI: --fail-on exits 1 with the reason, 0 when nothing matches', () => {
    const high = ward('vulns', '-f', FEATHERS, '--osv', OSV, '--fail-on', 'kev,high');
    expect(high.code).toBe(1);
    expect(high.err).toContain('--fail-on kev,high failed');
    expect(high.err).toContain('GHSA-3h5v-q93c-6h6q ws@8.11.0');
    const kev = ward('vulns', '-f', FEATHERS, '--osv', OSV, '--fail-on', 'kev');
    expect(kev.err).toBe('');
    expect(kev.code).toBe(0);
  });

  it('applies suppressions and reports expired ones', () => {
    const file = join(dir, 'suppressions.yaml');
    writeFileSync(
      file,
      [
        'suppressions:',
        '  - id: GHSA-3h5v-q93c-6h6q',
        '    package: ws',
        '    reason: only talks to our own websocket server',
        '    expires: 2999-01-01',
        '  - id: GHSA-9wv6-86v2-598j',
        '    reason: routes are constant',
        '    expires: 2020-01-01',
        '',
      ].join('\n'),
    );
    const r = ward('vulns', '-f', FEATHERS, '--osv', OSV, '--suppressions', file, '-o', 'json');
    expect(r.code).toBe(0);
    expect(r.err).toContain('expired on 2020-01-01');
    const json = JSON.parse(r.out);
    expect(json.summary.suppressedBy.suppression).toBe(1);
    const gate = ward(
      'vulns',
      '-f',
      FEATHERS,
      '--osv',
      OSV,
      '--suppressions',
      file,
      '--fail-on',
      'high',
    );
    expect(gate.code).toBe(1);
    expect(gate.err).not.toContain('ws@8.11.0');
  });

  it('writes SARIF, CycloneDX VEX and OpenVEX that validate against their schemas', () => {
    const common = ['vulns', '-f', lock, '--osv', OSV, '--source', CJS_APP];
    const sarif = ward(...common, '-o', 'sarif');
    expect(sarif.code).toBe(0);
    const s = sarifValidator();
    expect(s(JSON.parse(sarif.out)), JSON.stringify(s.errors)).toBe(true);
    const cdx = ward(...common, '-o', 'cyclonedx-vex');
    expect(cdx.code).toBe(0);
    const c = cycloneDxValidator();
    const cdxDoc = JSON.parse(cdx.out);
    expect(c(cdxDoc), JSON.stringify(c.errors)).toBe(true);
    expect(cdxDoc.vulnerabilities.length).toBeGreaterThan(0);
    const out = join(dir, 'vex.json');
    const open = ward(...common, '-o', 'openvex', '--output-file', out);
    expect(open.code).toBe(0);
    expect(open.out).toBe('');
    const o = openVexValidator();
    const vex = JSON.parse(readFileSync(out, 'utf8'));
    expect(o(vex), JSON.stringify(o.errors)).toBe(true);
    expect(vex.statements.length).toBeGreaterThan(0);
  });

  it('exits 2 on usage errors', () => {
    expect(ward('vulns', '-f', FEATHERS).code).toBe(2); // no --osv
    expect(ward('vulns', '--osv', OSV).code).toBe(2); // no -f
    expect(ward('vulns', '-f', FEATHERS, '--osv', OSV, '-o', 'xml').code).toBe(2);
    const spec = ward('vulns', '-f', FEATHERS, '--osv', OSV, '--fail-on', 'bogus');
    expect(spec.code).toBe(2);
    expect(spec.err).toContain('--fail-on');
    expect(ward('vulns', '-f', FEATHERS, '--osv', join(dir, 'missing')).code).toBe(2);
    expect(ward('vulns', '-f', join(dir, 'missing.json'), '--osv', OSV).code).toBe(2);
    const graph = ward('vulns', '-f', FEATHERS, '--osv', OSV, '--graph', 'examples/graph/k8s.yaml');
    expect(graph.code).toBe(2);
    expect(graph.err).toContain('--service');
  });

  it('exits 1 on a bad lockfile, naming the file and the entry', () => {
    const bad = join(dir, 'bad', 'package-lock.json');
    rmSync(join(dir, 'bad'), { recursive: true, force: true });
    mkdirSync(join(dir, 'bad'));
    writeFileSync(
      bad,
      JSON.stringify({
        lockfileVersion: 3,
        packages: { '': { name: 'x' }, 'node_modules/left-pad': { version: 42 } },
      }),
    );
    const r = ward('vulns', '-f', bad, '--osv', OSV);
    expect(r.code).toBe(1);
    expect(r.err).toContain(bad);
    expect(r.err).toContain('left-pad');
  });

  it("runs on the demo's service with the demo graph and this repository's lockfile", () => {
    // The OSV fixtures plus one SYNTHETIC record (labelled so) for the pino the lockfile installs:
    // no real advisory matches this repository's versions, and the test needs a finding.
    const osv = join(dir, 'osv-demo');
    mkdirSync(osv, { recursive: true });
    for (const f of readdirSync(OSV)) copyFileSync(join(OSV, f), join(osv, f));
    const lockfile = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
    const pino: string = lockfile.packages['node_modules/pino'].version;
    const fixed = `${Number(pino.split('.')[0]) + 1}.0.0`;
    writeFileSync(
      join(osv, 'synthetic-pino.json'),
      JSON.stringify({
        id: 'GHSA-0000-0000-0001',
        modified: '2026-01-01T00:00:00Z',
        summary: 'SYNTHETIC advisory for this test: every pino before the next major',
        severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
        affected: [
          {
            package: { ecosystem: 'npm', name: 'pino' },
            ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed }] }],
          },
        ],
      }),
    );
    const demo = (service: string, ...more: string[]) =>
      ward(
        'vulns',
        '-f',
        'package-lock.json',
        '--osv',
        osv,
        '--source',
        'packages/demo',
        '--condition',
        'ward-source',
        '--graph',
        'examples/demo',
        '--service',
        service,
        ...more,
      );
    const exposureOf = (service: string) => {
      const r = demo(service, '-o', 'json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const f = JSON.parse(r.out).findings.find(
        (x: { advisory: { id: string } }) => x.advisory.id === 'GHSA-0000-0000-0001',
      );
      // The demo's own code loads pino (its identity module), found through the workspace root.
      expect(f.reachability.verdict).toBe('reachable');
      expect(f.reachability.chain[0]).toBe('packages/demo/src/index.ts');
      return f.exposure;
    };
    // examples/demo/services.yaml: edge (the gateway) → frontend → orders; frontend and edge
    // depend on orders, and notifications does at startup.
    expect(exposureOf('shop/orders')).toEqual({
      entryPoint: false,
      hopsFromEntry: 2,
      blastRadius: 3,
    });
    expect(exposureOf('shop/edge')).toEqual({ entryPoint: true, hopsFromEntry: 0, blastRadius: 0 });
    const gate = demo('shop/orders', '--fail-on', 'critical');
    expect(gate.code).toBe(1);
    expect(gate.err).toContain(`GHSA-0000-0000-0001 pino@${pino}`);
  });

  it('runs on this repository itself', () => {
    const r = ward(
      'vulns',
      '-f',
      'package-lock.json',
      '--source',
      'packages/demo',
      '--osv',
      'packages/vulns/test/fixtures/advisories/osv',
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/counted naively/);
  });
});

describe('diskFileSystem', () => {
  it('answers probes under missing folders and through files without throwing, and remembers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-vulns-fs-')).split('\\').join('/');
    try {
      mkdirSync(join(dir, 'lib'));
      writeFileSync(join(dir, 'lib', 'a.js'), 'x');
      const fs = diskFileSystem();
      expect(fs.isFile(`${dir}/lib/a.js`)).toBe(true);
      expect(fs.isFile(`${dir}/lib`)).toBe(false); // a folder
      expect(fs.isFile(`${dir}/missing/node_modules/x/index.js`)).toBe(false);
      expect(fs.isFile(`${dir}/lib/a.js/package.json`)).toBe(false); // ENOTDIR
      expect(fs.readFile(`${dir}/lib/a.js`)).toBe('x');
      // Made later: this analysis's answers stand (the tree is taken not to change meanwhile),
      // a new one sees it.
      mkdirSync(join(dir, 'missing'));
      writeFileSync(join(dir, 'missing', 'b.js'), 'y');
      expect(fs.isFile(`${dir}/missing/b.js`)).toBe(false);
      expect(diskFileSystem().isFile(`${dir}/missing/b.js`)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
