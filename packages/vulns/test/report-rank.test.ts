import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { priorityOf, type RankInput, rank, rankOne } from '../src/index.ts';
import type { Exposure, ReachabilityVerdict } from '../src/types.ts';
import { AXIOS, input, LODASH, NOT_IMPORTED, pkg, REACHABLE, SEMVER, UNKNOWN } from './_report.ts';

const VERDICTS: ReachabilityVerdict[] = ['not-imported', 'imported-unused', 'unknown', 'reachable'];
const VECTORS = ['P', 'L', 'A', 'N'] as const;

const unit = fc.double({ min: 0, max: 1, noNaN: true });
const arbExposure: fc.Arbitrary<Exposure> = fc.oneof(
  fc.record({
    entryPoint: fc.constant(true),
    hopsFromEntry: fc.constant(0),
    blastRadius: fc.nat(200),
  }),
  fc.record({
    entryPoint: fc.constant(false),
    hopsFromEntry: fc.option(fc.integer({ min: 1, max: 20 }), { nil: null }),
    blastRadius: fc.nat(200),
  }),
);

const arbInput: fc.Arbitrary<RankInput> = fc
  .record({
    advisory: fc.constantFrom(LODASH, SEMVER, AXIOS),
    severity: fc.constantFrom(undefined, 'LOW', 'MODERATE', 'HIGH', 'CRITICAL'),
    cvss: fc.option(
      fc.record({
        score: fc.double({ min: 0, max: 10, noNaN: true }),
        av: fc.constantFrom(...VECTORS),
      }),
      { nil: undefined },
    ),
    epss: fc.option(fc.record({ score: unit, percentile: unit }), { nil: undefined }),
    kev: fc.boolean(),
    verdict: fc.constantFrom(...VERDICTS),
    confidence: fc.constantFrom('high', 'medium', 'low') as fc.Arbitrary<'high' | 'medium' | 'low'>,
    exposure: fc.option(arbExposure, { nil: undefined }),
    dev: fc.boolean(),
  })
  .map((r) => {
    const { severity: _s, ...adv } = r.advisory;
    const out: RankInput = {
      advisory: r.severity ? { ...adv, severity: r.severity as 'LOW' } : adv,
      package: pkg('lodash', '4.17.20', { dev: r.dev }),
      exploit: {
        ...(r.epss ? { epss: r.epss } : {}),
        ...(r.kev ? { kev: { dateAdded: '2024-01-02' } } : {}),
      },
      reachability: { verdict: r.verdict, confidence: r.confidence, reason: 'test' },
    };
    if (r.cvss)
      out.cvss = {
        version: '3.1',
        vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
        score: r.cvss.score,
        rating: 'HIGH',
        attackVector: r.cvss.av,
      };
    if (r.exposure) out.exposure = r.exposure;
    return out;
  });

describe('rank: properties of the formula', () => {
  it('gives an integer priority in 0..100, and KEV-listed findings always outrank the rest', () => {
    fc.assert(
      fc.property(arbInput, arbInput, (a, b) => {
        const pa = priorityOf(a);
        expect(Number.isInteger(pa) && pa >= 0 && pa <= 100).toBe(true);
        const kev = { ...a, exploit: { ...a.exploit, kev: { dateAdded: '2024-01-02' } } };
        const { kev: _k, ...rest } = b.exploit;
        const plain = { ...b, exploit: rest };
        expect(priorityOf(kev)).toBeGreaterThan(priorityOf(plain));
        expect(priorityOf(kev)).toBeGreaterThanOrEqual(priorityOf({ ...a, exploit: rest }));
      }),
    );
  });

  it('is monotonic in EPSS score and percentile', () => {
    fc.assert(
      fc.property(arbInput, unit, unit, unit, (f, s, p, d) => {
        const at = (score: number, percentile: number) =>
          priorityOf({ ...f, exploit: { ...f.exploit, epss: { score, percentile } } });
        expect(at(Math.min(1, s + d), p)).toBeGreaterThanOrEqual(at(s, p));
        expect(at(s, Math.min(1, p + d))).toBeGreaterThanOrEqual(at(s, p));
        const { epss: _e, ...none } = f.exploit;
        expect(at(s, p)).toBeGreaterThanOrEqual(priorityOf({ ...f, exploit: none }));
      }),
    );
  });

  it('is monotonic in the CVSS base score and in the attack vector (network highest)', () => {
    fc.assert(
      fc.property(
        arbInput,
        fc.double({ min: 0, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 10, noNaN: true }),
        fc.constantFrom(...VECTORS),
        (f, x, y, av) => {
          const base = {
            version: '3.1' as const,
            vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H',
            rating: 'HIGH' as const,
          };
          const lo = Math.min(x, y);
          const hi = Math.max(x, y);
          expect(
            priorityOf({ ...f, cvss: { ...base, score: hi, attackVector: av } }),
          ).toBeGreaterThanOrEqual(
            priorityOf({ ...f, cvss: { ...base, score: lo, attackVector: av } }),
          );
          const byVector = VECTORS.map((v) =>
            priorityOf({ ...f, cvss: { ...base, score: x, attackVector: v } }),
          );
          for (let i = 1; i < byVector.length; i++)
            expect(byVector[i]!).toBeGreaterThanOrEqual(byVector[i - 1]!);
        },
      ),
    );
  });

  it('is monotonic in reachability: reachable > unknown > imported-unused > not-imported', () => {
    fc.assert(
      fc.property(arbInput, (f) => {
        const ps = VERDICTS.map((verdict) =>
          priorityOf({ ...f, reachability: { ...f.reachability, verdict } }),
        );
        for (let i = 1; i < ps.length; i++) expect(ps[i]!).toBeGreaterThanOrEqual(ps[i - 1]!);
      }),
    );
    // And strictly so for one ordinary finding (a formula that ignored reachability fails here).
    const ps = VERDICTS.map((verdict) =>
      priorityOf(input({ reachability: { verdict, confidence: 'low', reason: 'r' } })),
    );
    expect(ps).toEqual([...ps].sort((a, b) => a - b));
    expect(new Set(ps).size).toBe(4);
  });

  it('is monotonic in exposure: an entry point, fewer hops and a larger blast radius weigh more', () => {
    fc.assert(
      fc.property(
        arbInput,
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.nat(500),
        fc.nat(500),
        (f, h1, h2, b1, b2) => {
          const at = (x: Exposure) => priorityOf({ ...f, exposure: x });
          const near = Math.min(h1, h2);
          const far = Math.max(h1, h2);
          const small = Math.min(b1, b2);
          const big = Math.max(b1, b2);
          const entry = at({ entryPoint: true, hopsFromEntry: 0, blastRadius: small });
          const hopsNear = at({ entryPoint: false, hopsFromEntry: near, blastRadius: small });
          const hopsFar = at({ entryPoint: false, hopsFromEntry: far, blastRadius: small });
          const unreached = at({ entryPoint: false, hopsFromEntry: null, blastRadius: small });
          expect(entry).toBeGreaterThanOrEqual(hopsNear);
          expect(hopsNear).toBeGreaterThanOrEqual(hopsFar);
          expect(hopsFar).toBeGreaterThanOrEqual(unreached);
          expect(
            at({ entryPoint: false, hopsFromEntry: near, blastRadius: big }),
          ).toBeGreaterThanOrEqual(hopsNear);
        },
      ),
    );
  });

  it('never suppresses `unknown`, and suppresses by reachability only with high confidence', () => {
    fc.assert(
      fc.property(arbInput, (f) => {
        const r = rankOne(f);
        const { verdict, confidence } = f.reachability;
        if (verdict === 'unknown' || verdict === 'reachable')
          expect(r.suppressed?.by).not.toBe('reachability');
        const proven =
          (verdict === 'not-imported' || verdict === 'imported-unused') && confidence === 'high';
        expect(r.suppressed?.by === 'reachability').toBe(proven);
        if (!proven) expect(r.suppressed?.by === 'dev-only').toBe(f.package.dev === true);
        if (verdict === 'unknown' && f.package.dev !== true) expect(r.suppressed).toBeUndefined();
      }),
    );
  });

  it('is deterministic: the same findings in any order rank the same', () => {
    fc.assert(
      fc.property(fc.array(arbInput, { maxLength: 12 }), fc.integer(), (inputs, seed) => {
        const shuffled = [...inputs]
          .map((x, i) => ({ x, k: (i * 2654435761 + seed) >>> 0 }))
          .sort((a, b) => a.k - b.k)
          .map((e) => e.x);
        const a = rank(inputs);
        const b = rank(shuffled);
        expect(b.map((f) => [f.priority, f.advisory.id, f.reasons])).toEqual(
          a.map((f) => [f.priority, f.advisory.id, f.reasons]),
        );
        for (let i = 1; i < a.length; i++)
          expect(a[i - 1]!.priority).toBeGreaterThanOrEqual(a[i]!.priority);
      }),
    );
  });
});

describe('rank: examples', () => {
  it('puts a KEV-listed, reachable finding first with the KEV reason first', () => {
    const kev = input({
      exploit: {
        kev: { dateAdded: '2021-11-03', ransomware: true },
        epss: { score: 0.02, percentile: 0.8 },
      },
    });
    const quiet = input({
      advisory: SEMVER,
      package: pkg('semver', '7.3.8'),
      exploit: { epss: { score: 0.9, percentile: 0.99 } },
      reachability: UNKNOWN,
    });
    const [first, second] = rank([quiet, kev]);
    expect(first!.advisory.id).toBe(LODASH.id);
    expect(first!.reasons[0]).toBe('in CISA KEV since 2021-11-03 (used in ransomware campaigns)');
    expect(first!.priority).toBeGreaterThanOrEqual(60);
    expect(second!.advisory.id).toBe(SEMVER.id);
    expect(second!.priority).toBeLessThan(60);
    expect(second!.suppressed).toBeUndefined();
    expect(second!.reasons).toContain(
      'unknown (low confidence): src/plugins.ts has require(name) with a computed name',
    );
  });

  it('explains every signal in the reasons, strongest first', () => {
    const f = rankOne(input({ exposure: { entryPoint: false, hopsFromEntry: 2, blastRadius: 1 } }));
    expect(f.reasons).toEqual([
      `reachable (high confidence): ${REACHABLE.reason}`,
      'CVSS 3.1 7.2 HIGH',
      'EPSS 0.012 (percentile 85)',
      'network attack vector',
      '2 hops from an entry point; blast radius 1 service',
    ]);
    // 0.25·(0.0123+0.85)/2 + 0.25·0.72 + 0.10·1 + 0.25·1 + 0.15·(0.6/3 + 0.4·1/5) = 0.6698…
    expect(f.priority).toBe(Math.round(59 * 0.6698));
  });

  it('suppresses proven unreachable code and dev-only packages, keeping the finding', () => {
    const [un] = rank([
      input({ advisory: SEMVER, package: pkg('semver', '7.3.8'), reachability: NOT_IMPORTED }),
    ]);
    expect(un!.suppressed).toEqual({
      by: 'reachability',
      reason: `not-imported: ${NOT_IMPORTED.reason}`,
    });
    const [dev] = rank([input({ package: pkg('lodash', '4.17.20', { dev: true }) })]);
    expect(dev!.suppressed).toEqual({
      by: 'dev-only',
      reason: 'lodash is only a development dependency',
    });
    expect(dev!.reasons.at(-1)).toBe('development dependency only');
    const [medium] = rank([input({ reachability: { ...NOT_IMPORTED, confidence: 'medium' } })]);
    expect(medium!.suppressed).toBeUndefined();
  });

  it('falls back to the severity label without a CVSS vector', () => {
    const { cvss: _c, ...noCvss } = input({ advisory: AXIOS, package: pkg('axios', '0.27.2') });
    const f = rankOne(noCvss);
    expect(f.reasons).toContain('severity MODERATE (no CVSS vector)');
    expect(f.reasons).toContain('attack vector unknown');
  });
});
