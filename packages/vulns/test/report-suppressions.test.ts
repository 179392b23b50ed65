import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { applySuppressions, parseSuppressions, rank, VulnsError } from '../src/index.ts';
import { AXIOS, input, pkg, SEMVER, UNKNOWN } from './_report.ts';

const FILE = join(import.meta.dirname, 'fixtures', 'report', 'ward-vulns.yaml');
const TEXT = readFileSync(FILE, 'utf8');
const NOW = Date.UTC(2026, 10, 30, 12); // 2026-11-30T12:00Z

function refused(text: string): VulnsError {
  try {
    parseSuppressions(text, 'ward-vulns.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(VulnsError);
    return err as VulnsError;
  }
  throw new Error(`accepted: ${text}`);
}

describe('parseSuppressions', () => {
  it('reads entries with their positions', () => {
    const s = parseSuppressions(TEXT, 'ward-vulns.yaml');
    expect(s).toHaveLength(3);
    expect(s[0]).toEqual({
      id: 'CVE-2021-23337',
      package: 'lodash',
      reason: 'template() is only called with constant templates',
      expires: '2027-06-30',
      expiresAt: Date.UTC(2027, 6, 1),
      by: 'alice@example.com',
      file: 'ward-vulns.yaml',
      line: 3,
      col: 5,
    });
    expect(s[1]).toMatchObject({ service: 'shop/orders', line: 8, col: 5 });
    expect(s[2]!.expiresAt).toBe(Date.UTC(2027, 0, 1));
  });

  it('reads the same from JSON', () => {
    const json = JSON.stringify({
      suppressions: [{ id: 'GHSA-c2qf-rxjj-qqgw', reason: 'r', expires: '2027-01-01' }],
    });
    expect(parseSuppressions(json, 'x.json')).toEqual([
      {
        id: 'GHSA-c2qf-rxjj-qqgw',
        reason: 'r',
        expires: '2027-01-01',
        expiresAt: Date.UTC(2027, 0, 2),
        file: 'x.json',
        line: 1,
        col: 18,
      },
    ]);
    expect(parseSuppressions('', 'empty.yaml')).toEqual([]);
    expect(parseSuppressions('suppressions:\n', 'empty.yaml')).toEqual([]);
  });

  it('refuses entries without id, reason or expiry, bad dates and unknown fields, naming line:col', () => {
    const missing = refused('suppressions:\n  - id: X\n    expires: 2027-01-01\n');
    expect(missing.code).toBe('VULNS_BAD_SUPPRESSIONS');
    expect(missing.at).toBe('2:5');
    expect(missing.message).toBe('ward-vulns.yaml:2:5: a suppression needs `reason`');
    expect(refused('suppressions:\n  - {id: X, reason: r, expires: 2027-02-30}\n').message).toMatch(
      /ward-vulns.yaml:2:5: `expires` must be a date .* not "2027-02-30"/,
    );
    expect(refused('suppressions:\n  - {id: X, reason: r, expires: soon}\n').code).toBe(
      'VULNS_BAD_SUPPRESSIONS',
    );
    const typo = refused('suppressions:\n  - id: X\n    reason: r\n    expire: 2027-01-01\n');
    expect(typo.message).toMatch(/^ward-vulns.yaml:4:5: unknown field "expire"/);
    expect(
      refused('suppressions:\n  - {id: [X], reason: r, expires: 2027-01-01}\n').message,
    ).toMatch(/`id` must be a non-empty string/);
    expect(refused('suppressions: {id: X}\n').message).toMatch(/must be a list/);
    expect(refused('- 1\n').message).toMatch(/expected a mapping/);
    expect(refused('ignores: []\n').message).toMatch(/unknown field "ignores"/);
    expect(refused('suppressions: [\n').message).toMatch(
      /^ward-vulns.yaml:\d+:\d+: not YAML or JSON/,
    );
    expect(refused('suppressions: []\nsuppressions: []\n').message).toMatch(/not YAML or JSON/);
  });

  it('never throws anything but VULNS_BAD_SUPPRESSIONS on arbitrary text (fast-check)', () => {
    const fragments = fc.constantFrom(
      'suppressions:',
      '  - id: X',
      '    reason: r',
      '    expires: 2027-01-01',
      '    expires: 2027-13-01',
      '    package: [a',
      '  - {id: Y, reason: q, expires: "2026-02-29"}',
      '&a [*a]',
      '"',
      '{',
      '- ',
      '    by: ~',
      '\t',
    );
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(fragments, { maxLength: 12 }).map((l) => l.join('\n')),
    );
    fc.assert(
      fc.property(text, (t) => {
        try {
          const out = parseSuppressions(t, 'f.yaml');
          for (const s of out) {
            expect(typeof s.id).toBe('string');
            expect(Number.isFinite(s.expiresAt)).toBe(true);
            expect(s.line).toBeGreaterThanOrEqual(1);
          }
        } catch (err) {
          expect(err).toBeInstanceOf(VulnsError);
          expect((err as VulnsError).code).toBe('VULNS_BAD_SUPPRESSIONS');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any valid entry through YAML and JSON (fast-check)', () => {
    const str = fc
      .string({ minLength: 1, maxLength: 30 })
      .filter((s) => s.trim() === s && s !== '');
    const day = fc
      .date({
        min: new Date(Date.UTC(2000, 0, 1)),
        max: new Date(Date.UTC(2099, 11, 31)),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 10));
    fc.assert(
      fc.property(str, str, day, fc.option(str, { nil: undefined }), (id, reason, expires, by) => {
        const entry = { id, reason, expires, ...(by === undefined ? {} : { by }) };
        const [s] = parseSuppressions(JSON.stringify({ suppressions: [entry] }), 'f.json');
        expect(s).toMatchObject(entry);
        const [fromYaml] = parseSuppressions(stringify({ suppressions: [entry] }), 'f.yaml');
        expect(fromYaml).toMatchObject({ ...entry, line: 2, col: 5 });
        const [y, m, d] = expires.split('-').map(Number);
        expect(s!.expiresAt).toBe(Date.UTC(y!, m! - 1, d! + 1));
      }),
    );
  });
});

describe('applySuppressions', () => {
  const findings = rank([
    input(), // lodash, matched by its CVE alias
    input({ advisory: SEMVER, package: pkg('semver', '7.3.8'), reachability: UNKNOWN }),
    input({ advisory: AXIOS, package: pkg('axios', '0.27.2'), reachability: UNKNOWN }),
  ]);
  const sups = parseSuppressions(TEXT, 'ward-vulns.yaml');

  it('suppresses by id or alias, package and service; an expired one no longer applies', () => {
    const out = applySuppressions(findings, sups, { now: NOW, service: 'shop/orders' });
    const by = new Map(out.findings.map((f) => [f.package.name, f]));
    expect(by.get('lodash')!.suppressed).toEqual({
      by: 'suppression',
      reason:
        'template() is only called with constant templates (ward-vulns.yaml:3:5, by alice@example.com, until 2027-06-30)',
    });
    expect(by.get('axios')!.suppressed?.by).toBe('suppression');
    // semver's suppression expired on 2026-01-31: the finding shows, with the reason.
    expect(by.get('semver')!.suppressed).toBeUndefined();
    expect(by.get('semver')!.reasons.at(-1)).toBe(
      'suppression of GHSA-c2qf-rxjj-qqgw at ward-vulns.yaml:8:5 expired on 2026-01-31',
    );
    expect(out.expired.map((e) => e.suppression.id)).toEqual(['GHSA-c2qf-rxjj-qqgw']);
    expect(out.unused).toEqual([]);
    // The input is not modified.
    expect(findings.every((f) => !f.suppressed)).toBe(true);
  });

  it('applies on the last day of a date and not the day after', () => {
    const lastDay = Date.UTC(2027, 5, 30, 23, 59, 59);
    expect(
      applySuppressions(findings, sups, { now: lastDay }).findings.find(
        (f) => f.package.name === 'lodash',
      )!.suppressed,
    ).toBeDefined();
    const after = applySuppressions(findings, sups, { now: Date.UTC(2027, 6, 1) });
    expect(after.findings.find((f) => f.package.name === 'lodash')!.suppressed).toBeUndefined();
    expect(after.expired.map((e) => e.suppression.id)).toEqual([
      'CVE-2021-23337',
      'GHSA-c2qf-rxjj-qqgw',
      'GHSA-wf5p-g6vw-rhxx',
    ]);
  });

  it('matches a service-scoped one only for that service, and reports unused ones', () => {
    const later = [{ ...sups[1]!, expires: '2027-12-31', expiresAt: Date.UTC(2028, 0, 1) }];
    const other = applySuppressions(findings, later, { now: NOW, service: 'shop/payments' });
    expect(other.findings.some((f) => f.suppressed)).toBe(false);
    expect(other.unused).toEqual(later);
    const mine = applySuppressions(findings, later, { now: NOW, service: 'shop/orders' });
    expect(mine.findings.find((f) => f.package.name === 'semver')!.suppressed?.by).toBe(
      'suppression',
    );
    expect(mine.unused).toEqual([]);
  });

  it('matches a service however its key is spelt (default/orders is orders)', () => {
    const later = [
      {
        ...sups[1]!,
        service: 'default/orders',
        expires: '2027-12-31',
        expiresAt: Date.UTC(2028, 0, 1),
      },
    ];
    const mine = applySuppressions(findings, later, { now: NOW, service: 'orders' });
    expect(mine.findings.find((f) => f.package.name === 'semver')!.suppressed?.by).toBe(
      'suppression',
    );
    const other = applySuppressions(findings, later, { now: NOW, service: 'shop/orders' });
    expect(other.findings.some((f) => f.suppressed)).toBe(false);
  });
});
