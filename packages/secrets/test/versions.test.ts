import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currentVersion,
  isValid,
  nextTransition,
  planNewVersion,
  SecretsError,
  type VersionTimes,
  validVersions,
} from '../src/index.ts';

/** Applies a sequence of rotations at increasing times, as the store does. */
function history(steps: { dt: number; activationMs: number; graceMs: number }[], t0: number) {
  let versions: VersionTimes[] = [];
  let now = t0;
  const log: { at: number; activationMs: number; graceMs: number; version: number }[] = [];
  for (const s of steps) {
    now += s.dt;
    const { next, superseded } = planNewVersion(versions, now, s);
    versions = versions.map((v) => {
      const sup = superseded.find((x) => x.version === v.version);
      return sup ? { ...v, notAfter: sup.notAfter } : v;
    });
    versions.push(next);
    log.push({ at: now, activationMs: s.activationMs, graceMs: s.graceMs, version: next.version });
  }
  return { versions, log, end: now };
}

const step = fc.record({
  dt: fc.integer({ min: 0, max: 100_000 }),
  activationMs: fc.integer({ min: 0, max: 10_000 }),
  graceMs: fc.integer({ min: 0, max: 50_000 }),
});

describe('version timing', () => {
  it('the first version is current at once; later ones after activation', () => {
    const first = planNewVersion([], 1000);
    expect(first.next).toEqual({ version: 1, notBefore: 1000, notAfter: null });
    const second = planNewVersion([first.next], 2000, { activationMs: 5, graceMs: 10 });
    expect(second.next).toEqual({ version: 2, notBefore: 2005, notAfter: null });
    expect(second.superseded).toEqual([{ version: 1, notAfter: 2015 }]);
    const vs = [{ ...first.next, notAfter: 2015 }, second.next];
    expect(currentVersion(vs, 2004)?.version).toBe(1);
    expect(currentVersion(vs, 2005)?.version).toBe(2);
    expect(validVersions(vs, 2014).map((v) => v.version)).toEqual([2, 1]);
    expect(validVersions(vs, 2015).map((v) => v.version)).toEqual([2]);
    expect(nextTransition(vs, 2000)).toBe(2005);
    expect(nextTransition(vs, 2005)).toBe(2015);
    expect(nextTransition(vs, 2015)).toBeUndefined();
    expect(() => planNewVersion([], 0, { graceMs: -1 })).toThrow(SecretsError);
  });

  it('the current version is always valid, and one exists while any is valid', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 900_000 }),
        (steps, probe) => {
          const { versions } = history(steps, 1_000_000);
          const now = 1_000_000 + probe;
          const cur = currentVersion(versions, now);
          if (cur) expect(isValid(cur, now)).toBe(true);
          expect(cur !== undefined).toBe(versions.some((v) => isValid(v, now)));
          const valid = validVersions(versions, now);
          if (cur) expect(valid).toContain(cur);
          // Newest first.
          for (let i = 1; i < valid.length; i++)
            expect(valid[i - 1]!.version).toBeGreaterThan(valid[i]!.version);
        },
      ),
    );
  });

  it('the newest version never expires and is current once its notBefore passed', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
        const { versions } = history(steps, 0);
        const newest = versions[versions.length - 1]!;
        expect(newest.notAfter).toBeNull();
        expect(currentVersion(versions, newest.notBefore)?.version).toBe(newest.version);
      }),
    );
  });

  it('a superseded version stays valid exactly until its successor notBefore + grace', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 2, maxLength: 2 }), ([a, b]) => {
        // Rotation after the first is active: a → b.
        const { versions } = history([a!, b!], 0);
        const [v1, v2] = versions as [VersionTimes, VersionTimes];
        const end = v2.notBefore + b!.graceMs;
        expect(v1.notAfter).toBe(end);
        expect(isValid(v1, end - 1)).toBe(true);
        expect(isValid(v1, end)).toBe(false);
      }),
    );
  });

  it('nextTransition is the first instant at which the answers change', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 700_000 }),
        (steps, probe) => {
          const { versions } = history(steps, 0);
          const t = nextTransition(versions, probe);
          const sig = (now: number) =>
            `${currentVersion(versions, now)?.version}|${validVersions(versions, now).map((v) => v.version)}`;
          if (t === undefined) {
            expect(sig(probe + 10_000_000)).toBe(sig(probe));
          } else {
            expect(t).toBeGreaterThan(probe);
            expect(sig(t - 1)).toBe(sig(probe));
          }
        },
      ),
    );
  });
});
