import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { failOn, parseFailOn, rank, VulnsError } from '../src/index.ts';
import { AXIOS, input, NOT_IMPORTED, pkg, SEMVER, UNKNOWN } from './_report.ts';

const findings = rank([
  input({ exploit: { kev: { dateAdded: '2021-11-03' }, epss: { score: 0.2, percentile: 0.96 } } }),
  input({
    advisory: SEMVER,
    package: pkg('semver', '7.3.8'),
    cvss: { ...input().cvss!, score: 9.8, rating: 'CRITICAL' },
    exploit: { epss: { score: 0.5, percentile: 0.99 } },
    reachability: NOT_IMPORTED, // suppressed: never fails a run
  }),
  (() => {
    const { cvss: _c, ...f } = input({
      advisory: AXIOS,
      package: pkg('axios', '0.27.2'),
      exploit: { epss: { score: 0.05, percentile: 0.9 } },
      reachability: UNKNOWN,
    });
    return f;
  })(),
]);

describe('parseFailOn', () => {
  it('parses conditions joined by commas', () => {
    expect(
      parseFailOn('kev, critical,epss>=0.1,priority>70,cvss>=7,percentile>=0.9,reachable'),
    ).toEqual([
      { kind: 'kev' },
      { kind: 'severity', atLeast: 'critical' },
      { kind: 'epss', op: '>=', value: 0.1 },
      { kind: 'priority', op: '>', value: 70 },
      { kind: 'cvss', op: '>=', value: 7 },
      { kind: 'percentile', op: '>=', value: 0.9 },
      { kind: 'reachable' },
    ]);
    expect(parseFailOn('HIGH')).toEqual([{ kind: 'severity', atLeast: 'high' }]);
  });

  it('refuses unknown conditions, empty ones and thresholds out of range, saying what is accepted', () => {
    const err = (spec: string): VulnsError => {
      try {
        parseFailOn(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(VulnsError);
        return e as VulnsError;
      }
      throw new Error(`accepted ${spec}`);
    };
    expect(err('severe').message).toMatch(
      /^--fail-on: unknown condition "severe" \(expected kev, reachable/,
    );
    expect(err('severe').code).toBe('VULNS_BAD_FAIL_ON');
    expect(err('').message).toMatch(/empty/);
    expect(err('kev,,high').message).toMatch(/an empty condition/);
    expect(err('epss>=1.5').message).toBe(
      '--fail-on: epss must be compared with a number in 0..1, not 1.5',
    );
    expect(err('priority>=101').message).toMatch(/0\.\.100/);
    expect(err('risk>=3').message).toMatch(/unknown field "risk"/);
    expect(err('epss<=0.1').message).toMatch(/unknown condition/);
  });

  it('never throws anything but VULNS_BAD_FAIL_ON (fast-check)', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'kev',
        'critical',
        'high',
        'medium',
        'low',
        'reachable',
        'epss',
        'cvss',
        'priority',
        '>=',
        '>',
        '0.5',
        '7',
        ',',
        ' ',
        '-1',
        '1e3',
      ),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 8 }).map((t) => t.join('')),
        (spec) => {
          try {
            const cs = parseFailOn(spec);
            expect(cs.length).toBeGreaterThan(0);
            expect(failOn(findings, cs).failed).toBe(failOn(findings, spec).failed);
          } catch (e) {
            expect(e).toBeInstanceOf(VulnsError);
            expect((e as VulnsError).code).toBe('VULNS_BAD_FAIL_ON');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('failOn', () => {
  it('fails on unsuppressed findings meeting any condition, and says which and why', () => {
    expect(failOn(findings, 'kev')).toEqual({
      failed: true,
      why: ['GHSA-35jh-r3h4-6jhm lodash@4.17.20: in CISA KEV since 2021-11-03 (kev)'],
    });
    // semver is CRITICAL with EPSS 0.5, but suppressed (not imported, high confidence).
    expect(failOn(findings, 'critical')).toEqual({ failed: false, why: [] });
    expect(failOn(findings, 'epss>=0.3').failed).toBe(false);
    // axios has no CVSS vector: its MODERATE label counts as medium.
    expect(failOn(findings, 'medium').why).toEqual([
      'GHSA-35jh-r3h4-6jhm lodash@4.17.20: severity high (medium)',
      'GHSA-wf5p-g6vw-rhxx axios@0.27.2: severity medium (medium)',
    ]);
    expect(failOn(findings, 'high,epss>=0.05').why).toEqual([
      'GHSA-35jh-r3h4-6jhm lodash@4.17.20: severity high (high); epss 0.2 (epss>=0.05)',
      'GHSA-wf5p-g6vw-rhxx axios@0.27.2: epss 0.05 (epss>=0.05)',
    ]);
    expect(failOn(findings, 'epss>0.05').why).toHaveLength(1);
    expect(failOn(findings, `priority>=${findings[0]!.priority}`).why).toHaveLength(1);
    expect(failOn(findings, 'cvss>=9').failed).toBe(false);
    expect(failOn(findings, 'reachable').why).toEqual([
      'GHSA-35jh-r3h4-6jhm lodash@4.17.20: reachable (reachable)',
    ]);
  });
});
