import { describe, expect, it } from 'vitest';
import { type Advisory, cvssOf, parseCvss, ratingOf, VulnsError } from '../src/index.ts';

/**
 * CVSS v4.0 scores. Expected scores come from FIRST's "CVSS v4.0 Examples" document
 * (https://www.first.org/cvss/v4.0/examples; the CVE each example scores is named where the
 * document names one). Every vector below was also checked against the upstream reference
 * implementation, RedHatProductSecurity/cvss-v4-calculator at d1eafe0 (`cvss40.js`), which
 * agrees with ae-cvss-calculator 1.0.13 on all 104,976 base vectors and 50,000 random vectors
 * with threat, environmental and supplemental metrics.
 */
const FIRST_EXAMPLES: ReadonlyArray<readonly [string, number, string]> = [
  // Examples that score a named CVE.
  ['CVE-2022-41741', 7.3, 'CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['CVE-2020-3549', 7.7, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['CVE-2020-3549 E:U', 5.2, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U'],
  ['CVE-2023-3089', 8.3, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N'],
  [
    'CVE-2023-3089 environmental',
    8.1,
    'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N/CR:H/IR:L/AR:L/MAV:N/MAC:H/MVC:H/MVI:L/MVA:L',
  ],
  ['CVE-2021-44714', 4.6, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N'],
  ['CVE-2022-21830', 5.1, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N'],
  ['CVE-2022-22186', 6.9, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N'],
  ['CVE-2023-21989', 5.9, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:N/VI:N/VA:N/SC:H/SI:N/SA:N'],
  ['CVE-2020-3947', 9.4, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H'],
  [
    'CVE-2023-30560',
    8.3,
    'CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:H/SA:N/S:P/V:D',
  ],
  [
    'CVE-2014-0160 Heartbleed',
    8.7,
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/E:A',
  ],
  [
    'CVE-2021-44228 Log4Shell',
    10,
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A',
  ],
  [
    'CVE-2014-6271 Shellshock',
    9.3,
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A',
  ],
  ['CVE-2013-6014', 6.4, 'CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:H/SI:N/SA:H'],
  ['CVE-2016-5729', 9.3, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/R:I'],
  ['CVE-2015-2890', 8.7, 'CVSS:4.0/AV:L/AC:L/AT:P/PR:H/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/R:I'],
  ['CVE-2018-3652', 8.6, 'CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H'],
  // The document's examples for common vulnerability classes and supplemental metrics.
  ['class example', 7.1, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N'],
  ['class example', 8.2, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N'],
  ['class example', 8.7, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:L'],
  ['class example', 6.6, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:L/E:U'],
  ['class example', 5.1, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N'],
  ['class example', 7.7, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['class example', 8.3, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N'],
  ['class example', 5.6, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/E:U'],
  ['class example', 8.5, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['class example', 9.2, 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A'],
  ['class example', 5.4, 'CVSS:4.0/AV:P/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['class example', 8.7, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N'],
  ['class example', 6.9, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N'],
  ['class example', 9.3, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'],
  ['class example', 6.9, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:L/SA:N'],
  ['supplemental', 8.5, 'CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:P'],
  [
    'supplemental',
    9.4,
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/S:P/AU:Y/V:C/RE:L',
  ],
  [
    'environmental',
    7.0,
    'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P/CR:L/IR:H/AR:L/MAV:L/MAC:H/MAT:N/MPR:N/MUI:N/MVC:N/MVI:H/MVA:L/MSC:N/MSI:S/MSA:L',
  ],
  ['safety', 8.6, 'CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/S:P'],
  [
    'safety, MSI:S',
    9.7,
    'CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/MSI:S/S:P',
  ],
  ['value density', 8.7, 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/V:C'],
];

function refusal(vector: string): VulnsError {
  try {
    parseCvss(vector);
  } catch (err) {
    expect(err).toBeInstanceOf(VulnsError);
    expect((err as VulnsError).code).toBe('VULNS_BAD_CVSS');
    return err as VulnsError;
  }
  throw new Error(`expected ${vector} to be refused`);
}

/** The 1-based position of `needle` in `vector`, to say where a refusal must point. */
function at(vector: string, needle: string): string {
  const i = vector.indexOf(needle);
  expect(i).toBeGreaterThanOrEqual(0);
  return `position ${i + 1}`;
}

describe('CVSS v4.0 scores', () => {
  it.each(FIRST_EXAMPLES)('%s scores %d (FIRST v4.0 Examples)', (_name, score, vector) => {
    const c = parseCvss(vector);
    expect(c.version).toBe('4.0');
    expect(c.score).toBe(score);
    expect(c.rating).toBe(ratingOf(score));
  });

  it('rounds a half-way score up (upstream calculator fix, cvss-v4-calculator#66)', () => {
    // The interpolation lands on 8.55; plain float arithmetic gives 8.549999… and 8.5, which is
    // what FIRST's hosted copy of the calculator (FIRSTdotorg/cvss-v4-calculator c5b0d40) shows.
    const v = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:H/SI:H/SA:H';
    expect(parseCvss(v).score).toBe(8.6);
  });

  it('honours threat and environmental metrics and names the metric groups used', () => {
    const base = 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    expect(parseCvss(base)).toMatchObject({
      score: 7.7,
      nomenclature: 'CVSS-B',
      attackVector: 'N',
    });
    expect(parseCvss(`${base}/E:U`)).toMatchObject({ score: 5.2, nomenclature: 'CVSS-BT' });
    expect(parseCvss(`${base}/MAV:P`).nomenclature).toBe('CVSS-BE');
    expect(parseCvss(`${base}/E:P/CR:H`).nomenclature).toBe('CVSS-BTE');
    // X (not defined) everywhere is the base score.
    expect(parseCvss(`${base}/E:X/CR:X/MAV:X/S:X/U:X`)).toMatchObject({
      score: 7.7,
      nomenclature: 'CVSS-B',
    });
    // Supplemental metrics never change the score.
    expect(parseCvss(`${base}/S:P/AU:Y/R:I/V:C/RE:H/U:Red`).score).toBe(7.7);
  });

  it('a vector with no impact at all scores 0, NONE', () => {
    const c = parseCvss('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N');
    expect(c).toMatchObject({ score: 0, rating: 'NONE' });
  });

  it('tolerates surrounding blanks, as OSV records sometimes carry them', () => {
    const v = ' CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N\n';
    expect(parseCvss(v).score).toBe(9.3);
    // Positions count in the vector as given, leading blank included.
    expect(refusal(' CVSS:4.0/AV:N/AC:X').at).toBe('position 16');
  });

  it('cvssOf takes a v4.0 score over a lower v3.1 one of the same advisory', () => {
    const v4 = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    const v31 = 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N';
    const advisory: Advisory = {
      id: 'GHSA-x',
      aliases: [],
      summary: 'synthetic: two vectors',
      cvss: [v31, v4],
      affected: [],
      modified: '2026-01-01T00:00:00Z',
    };
    const best = cvssOf(advisory);
    expect(best).toEqual({
      version: '4.0',
      vector: v4,
      score: 9.3,
      rating: 'CRITICAL',
      attackVector: 'N',
    });
  });
});

describe('CVSS severity bands (FIRST: None 0.0, Low 0.1–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0)', () => {
  // Vectors found by search to land on each boundary, each checked against the reference.
  const BOUNDARIES: ReadonlyArray<readonly [number, string, string]> = [
    [0, 'NONE', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N'],
    [
      0.1,
      'LOW',
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:A/VC:L/VI:L/VA:L/SC:L/SI:L/SA:N/E:U/MAV:P/MAC:H/MAT:P/MPR:H/MUI:A',
    ],
    [3.9, 'LOW', 'CVSS:4.0/AV:A/AC:L/AT:N/PR:H/UI:A/VC:H/VI:L/VA:H/SC:H/SI:N/SA:N/E:U'],
    [4.0, 'MEDIUM', 'CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:L/VI:N/VA:L/SC:H/SI:N/SA:N'],
    [6.9, 'MEDIUM', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:A/VC:H/VI:L/VA:N/SC:L/SI:N/SA:N'],
    [7.0, 'HIGH', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:L/VI:L/VA:H/SC:L/SI:N/SA:N'],
    [8.9, 'HIGH', 'CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:L/SA:L'],
    [9.0, 'CRITICAL', 'CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:L/SI:N/SA:H'],
    [10, 'CRITICAL', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:H/SI:H/SA:H'],
  ];

  it.each(BOUNDARIES)('%d is %s', (score, rating, vector) => {
    expect(parseCvss(vector)).toMatchObject({ score, rating });
    expect(ratingOf(score)).toBe(rating);
  });

  it('v3.1 uses the same bands', () => {
    expect(parseCvss('CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N')).toMatchObject({
      score: 3.1,
      rating: 'LOW',
    });
    expect(ratingOf(0.1)).toBe('LOW');
    expect(ratingOf(3.9)).toBe('LOW');
  });
});

describe('invalid CVSS v4.0 vectors are refused, naming the position', () => {
  const BASE = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';

  it('a missing mandatory (base) metric', () => {
    const end = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N';
    const e1 = refusal(end);
    expect(e1.message).toMatch(/base metric SA is missing/);
    expect(e1.at).toBe(`position ${end.length + 1}`);
    const middle = 'CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    const e2 = refusal(middle);
    expect(e2.message).toMatch(/base metric AT is missing \(found PR\)/);
    expect(e2.at).toBe(at(middle, 'PR:'));
    expect(refusal('CVSS:4.0').message).toMatch(/no metrics/);
  });

  it('a duplicate metric', () => {
    const base = 'CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    const e1 = refusal(base);
    expect(e1.message).toMatch(/metric AV appears twice/);
    expect(e1.at).toBe('position 15');
    const threat = `${BASE}/E:A/E:A`;
    const e2 = refusal(threat);
    expect(e2.message).toMatch(/metric E appears twice/);
    expect(e2.at).toBe(`position ${BASE.length + 6}`);
  });

  it('a value the metric does not define', () => {
    const x = 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:X/VI:H/VA:H/SC:N/SI:N/SA:N';
    const e1 = refusal(x);
    expect(e1.message).toMatch(/VC:X is not defined \(VC is one of H, L, N\)/);
    expect(e1.at).toBe(at(x, 'VC:'));
    // S (Safety) is a value of MSI/MSA only, not of the base SI.
    expect(
      refusal('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N').message,
    ).toMatch(/SI:S is not defined/);
    expect(refusal(`${BASE}/U:red`).message).toMatch(/U:red is not defined/);
    expect(refusal(`${BASE}/E:H`).at).toBe(`position ${BASE.length + 2}`);
    expect(refusal(`${BASE}/ZZ:1`).message).toMatch(/unknown metric ZZ/);
    expect(refusal(`${BASE}//E:A`).message).toMatch(/is not METRIC:VALUE/);
  });

  it('metrics out of the specification’s order', () => {
    // FIRST's v4.0 Examples document prints two environmental examples with CR/IR/AR/E after the
    // modified metrics; the reference calculator refuses them, and so does Ward.
    const examples = [
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MAV:A/MAC:H/MAT:N/MPR:L/MUI:N/MVC:L/MVI:H/MVA:H/MSC:L/MSI:S/MSA:S/CR:L/IR:H/AR:H/E:P',
      'CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MAV:N/MAC:H/MAT:N/MPR:L/MUI:N/MVC:H/MVI:H/MVA:H/MSC:H/MSI:S/MSA:H/CR:M/IR:H/AR:M/E:P',
    ];
    for (const v of examples) {
      const e = refusal(v);
      expect(e.message).toMatch(/metric CR is out of order \(it comes before MSA\)/);
      expect(e.at).toBe(at(v, 'CR:'));
    }
    const swapped = 'CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N';
    expect(refusal(swapped).at).toBe('position 10');
    const supplemental = `${BASE}/U:Red/S:P`;
    expect(refusal(supplemental).message).toMatch(/metric S is out of order/);
  });
});
