import fc from 'fast-check';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import {
  AdvisoryDatabase,
  parseCvss,
  parseEpssCsv,
  parseKev,
  parseOsvRecord,
  VulnsError,
} from '../src/index.ts';

function onlyVulnsError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof VulnsError)) throw err;
  }
}

const version = fc
  .tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.option(fc.constantFrom('alpha', 'alpha.1', 'beta', 'beta.2', 'rc.1', '0'), {
      nil: undefined,
    }),
  )
  .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-${pre}`}`);

const event = fc.oneof(
  version.map((v) => ({ introduced: v })),
  fc.constant({ introduced: '0' }),
  version.map((v) => ({ fixed: v })),
  version.map((v) => ({ last_affected: v })),
  version.map((v) => ({ limit: v })),
  fc.constant({ limit: '*' }),
);
const range = fc
  .tuple(fc.constantFrom('SEMVER', 'ECOSYSTEM'), version, fc.array(event, { maxLength: 6 }))
  .map(([type, first, rest]) => ({ type, events: [{ introduced: first }, ...rest] }));

/** OSV "Evaluation" pseudocode, literally, over the raw record (the reference). */
function referenceIsVulnerable(
  affected: { ranges: { events: Record<string, string>[] }[]; versions: string[] }[],
  v: string,
): boolean {
  const lt = (a: string, b: string) => {
    if (a === b) return false;
    if (a === '0') return true; // introduced "0" sorts before any version
    if (b === '0') return false;
    if (a === '*') return false; // limit "*" is infinity
    if (b === '*') return true;
    return semver.lt(a, b);
  };
  const ge = (a: string, b: string) => !lt(a, b);
  for (const a of affected) {
    if (a.versions.includes(v)) return true;
    for (const r of a.ranges) {
      const limits = r.events.filter((e) => 'limit' in e).map((e) => e.limit as string);
      const beforeLimits = limits.length === 0 || limits.some((l) => lt(v, l));
      if (!beforeLimits) continue;
      const sorted = r.events
        .filter((e) => !('limit' in e))
        .map((e, i) => ({ e, i, at: Object.values(e)[0] as string }))
        .sort((x, y) => (lt(x.at, y.at) ? -1 : lt(y.at, x.at) ? 1 : x.i - y.i))
        .map((x) => x.e);
      let vulnerable = false;
      for (const e of sorted) {
        if (e.introduced !== undefined && ge(v, e.introduced)) vulnerable = true;
        else if (e.fixed !== undefined && ge(v, e.fixed)) vulnerable = false;
        else if (e.last_affected !== undefined && lt(e.last_affected, v)) vulnerable = false;
      }
      if (vulnerable) return true;
    }
  }
  return false;
}

describe('advisory parsers never throw anything but VulnsError', () => {
  it('parseOsvRecord on arbitrary JSON and text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ id: 'GHSA-x', modified: 'x', affected: v })),
        ),
        (text) => {
          onlyVulnsError(() => parseOsvRecord(text, 'fuzz.json'));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('parseOsvRecord on near-valid records', () => {
    const affected = fc.record({
      package: fc.record({
        ecosystem: fc.constantFrom('npm', 'PyPI', 1),
        name: fc.oneof(fc.string(), fc.integer()),
      }),
      ranges: fc.array(
        fc.record({
          type: fc.constantFrom('SEMVER', 'ECOSYSTEM', 'GIT', 3),
          events: fc.array(
            fc.dictionary(
              fc.constantFrom('introduced', 'fixed', 'last_affected', 'limit', 'x'),
              fc.oneof(fc.string(), version, fc.integer()),
            ),
          ),
        }),
      ),
      versions: fc.oneof(fc.array(fc.string()), fc.constant(null), fc.integer()),
      ecosystem_specific: fc.oneof(
        fc.constant(undefined),
        fc.record({
          affected_functions: fc.oneof(fc.array(fc.string()), fc.integer()),
          imports: fc.oneof(
            fc.array(
              fc.record({
                path: fc.oneof(fc.string(), fc.integer()),
                symbols: fc.array(fc.string()),
              }),
            ),
            fc.string(),
          ),
        }),
      ),
    });
    fc.assert(
      fc.property(fc.array(affected, { maxLength: 3 }), fc.jsonValue(), (aff, extra) => {
        const text = JSON.stringify({
          id: 'GHSA-x',
          modified: '2024-01-01',
          affected: aff,
          severity: extra,
          database_specific: extra,
        });
        onlyVulnsError(() =>
          AdvisoryDatabase.fromRecords([{ file: 'f.json', text }]).match({
            name: 'p',
            version: '1.0.0',
            path: 'p',
          }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('parseEpssCsv, parseKev, parseCvss, fromZip', () => {
    const csvLine = fc.oneof(
      fc.string(),
      fc.tuple(fc.string(), fc.double(), fc.double()).map((t) => t.join(',')),
    );
    fc.assert(
      fc.property(fc.array(csvLine, { maxLength: 5 }), fc.boolean(), (lines, header) => {
        const text = (header ? 'cve,epss,percentile\n' : '') + lines.join('\n');
        onlyVulnsError(() => parseEpssCsv(text, 'e.csv'));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ vulnerabilities: [v] })),
        ),
        (text) => {
          onlyVulnsError(() => parseKev(text, 'k.json'));
        },
      ),
      { numRuns: 300 },
    );
    const metric = fc
      .tuple(
        fc.constantFrom(
          'AV',
          'AC',
          'PR',
          'UI',
          'S',
          'C',
          'I',
          'A',
          'AT',
          'VC',
          'VI',
          'VA',
          'SC',
          'SI',
          'SA',
          'E',
          'CR',
          'MAV',
          'MSI',
          'U',
          'X',
          '',
        ),
        fc.constantFrom('N', 'L', 'H', 'P', 'U', 'C', 'R', 'A', 'S', 'X', 'Red', ''),
      )
      .map(([k, v]) => `${k}:${v}`);
    fc.assert(
      fc.property(
        fc.constantFrom('CVSS:3.0', 'CVSS:3.1', 'CVSS:4.0', 'CVSS:2', ''),
        fc.array(metric, { maxLength: 24 }),
        fc.string(),
        (head, ms, junk) => {
          onlyVulnsError(() => parseCvss([head, ...ms].join('/')));
          onlyVulnsError(() => parseCvss(junk));
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        onlyVulnsError(() => AdvisoryDatabase.fromZip(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('every valid v3 vector scores within 0..10 with a matching rating', () => {
    const pick = (k: string, vs: string[]) => fc.constantFrom(...vs).map((v) => `${k}:${v}`);
    fc.assert(
      fc.property(
        fc.tuple(
          pick('AV', ['N', 'A', 'L', 'P']),
          pick('AC', ['L', 'H']),
          pick('PR', ['N', 'L', 'H']),
          pick('UI', ['N', 'R']),
          pick('S', ['U', 'C']),
          pick('C', ['H', 'L', 'N']),
          pick('I', ['H', 'L', 'N']),
          pick('A', ['H', 'L', 'N']),
        ),
        (ms) => {
          const c = parseCvss(['CVSS:3.1', ...ms].join('/'));
          expect(c.score).toBeGreaterThanOrEqual(0);
          expect(c.score).toBeLessThanOrEqual(10);
          expect(Math.round(c.score * 10) / 10).toBe(c.score);
          expect(c.rating === 'NONE').toBe(c.score === 0);
        },
      ),
    );
  });
});

describe('CVSS v4.0 vectors', () => {
  // The specification's order and values (section 7); base metrics first and mandatory.
  const BASE: [string, string[]][] = [
    ['AV', ['N', 'A', 'L', 'P']],
    ['AC', ['L', 'H']],
    ['AT', ['N', 'P']],
    ['PR', ['N', 'L', 'H']],
    ['UI', ['N', 'P', 'A']],
    ['VC', ['H', 'L', 'N']],
    ['VI', ['H', 'L', 'N']],
    ['VA', ['H', 'L', 'N']],
    ['SC', ['H', 'L', 'N']],
    ['SI', ['H', 'L', 'N']],
    ['SA', ['H', 'L', 'N']],
  ];
  const OPTIONAL: [string, string[]][] = [
    ['E', ['X', 'A', 'P', 'U']],
    ['CR', ['X', 'H', 'M', 'L']],
    ['IR', ['X', 'H', 'M', 'L']],
    ['AR', ['X', 'H', 'M', 'L']],
    ['MAV', ['X', 'N', 'A', 'L', 'P']],
    ['MAC', ['X', 'L', 'H']],
    ['MAT', ['X', 'N', 'P']],
    ['MPR', ['X', 'N', 'L', 'H']],
    ['MUI', ['X', 'N', 'P', 'A']],
    ['MVC', ['X', 'H', 'L', 'N']],
    ['MVI', ['X', 'H', 'L', 'N']],
    ['MVA', ['X', 'H', 'L', 'N']],
    ['MSC', ['X', 'H', 'L', 'N']],
    ['MSI', ['X', 'S', 'H', 'L', 'N']],
    ['MSA', ['X', 'S', 'H', 'L', 'N']],
    ['S', ['X', 'N', 'P']],
    ['AU', ['X', 'N', 'Y']],
    ['R', ['X', 'A', 'U', 'I']],
    ['V', ['X', 'D', 'C']],
    ['RE', ['X', 'L', 'M', 'H']],
    ['U', ['X', 'Clear', 'Green', 'Amber', 'Red']],
  ];
  const valid = fc
    .tuple(
      fc.tuple(...BASE.map(([k, vs]) => fc.constantFrom(...vs).map((v) => `${k}:${v}`))),
      fc.tuple(
        ...OPTIONAL.map(([k, vs]) => fc.option(fc.constantFrom(...vs).map((v) => `${k}:${v}`))),
      ),
    )
    .map(([base, optional]) =>
      ['CVSS:4.0', ...base, ...optional.filter((m) => m !== null)].join('/'),
    );
  // FIRST's qualitative severity rating scale, written out rather than taken from ratingOf.
  const band = (s: number) =>
    s === 0 ? 'NONE' : s <= 3.9 ? 'LOW' : s <= 6.9 ? 'MEDIUM' : s <= 8.9 ? 'HIGH' : 'CRITICAL';

  it('every valid vector scores in 0..10 with one decimal and the matching rating', () => {
    fc.assert(
      fc.property(valid, (vector) => {
        const c = parseCvss(vector);
        expect(c.version).toBe('4.0');
        expect(c.score).toBeGreaterThanOrEqual(0);
        expect(c.score).toBeLessThanOrEqual(10);
        expect(Math.round(c.score * 10) / 10).toBe(c.score);
        expect(c.rating).toBe(band(c.score));
      }),
      { numRuns: 300 },
    );
  });

  it('a valid vector with one part removed, duplicated or swapped is refused, never crashes', () => {
    fc.assert(
      fc.property(valid, fc.nat(), fc.constantFrom('drop', 'dup', 'swap'), (vector, n, how) => {
        const parts = vector.split('/');
        const i = 1 + (n % (parts.length - 1));
        const j = i === 1 ? 2 : i - 1;
        const edited = [...parts];
        if (how === 'drop') edited.splice(i, 1);
        else if (how === 'dup') edited.splice(i, 0, parts[i] as string);
        else [edited[i], edited[j]] = [parts[j] as string, parts[i] as string];
        const mandatory = i <= BASE.length;
        try {
          parseCvss(edited.join('/'));
          // Only dropping an optional metric keeps a vector valid.
          expect(how === 'drop' && !mandatory).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(VulnsError);
          expect((err as VulnsError).at).toMatch(/^position \d+$/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('matching agrees with the OSV evaluation pseudocode', () => {
  it('on generated ranges, versions lists and installed versions', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ranges: fc.array(range, { maxLength: 3 }),
            versions: fc.array(version, { maxLength: 2 }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(version, { minLength: 1, maxLength: 8 }),
        (affected, installed) => {
          const record = {
            id: 'GHSA-prop-prop-prop',
            modified: '2024-01-01T00:00:00Z',
            affected: affected.map((a) => ({ package: { ecosystem: 'npm', name: 'p' }, ...a })),
          };
          const db = AdvisoryDatabase.fromRecords([
            { file: 'gen.json', text: JSON.stringify(record) },
          ]);
          for (const v of installed) {
            const got = db.match({ name: 'p', version: v, path: 'p' }).length > 0;
            expect(got, `version ${v} of ${JSON.stringify(affected)}`).toBe(
              referenceIsVulnerable(affected, v),
            );
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
