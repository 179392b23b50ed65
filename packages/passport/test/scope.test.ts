/**
 * Issue 9: passports scoped by algorithm, lifetime and audience. Ed25519 (`v2`) passports, the
 * maximum lifetime, the audience, and no algorithm confusion between the two formats.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createPassportVerifier,
  generatePassportKeyMaterial,
  keyringFromBundleKeys,
  mintPassport,
  PassportError,
  PassportKeyring,
  verifyPassport,
  zoneAudience,
} from '../src/index.ts';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const NOW_S = NOW / 1000;
const ed = generatePassportKeyMaterial('EdDSA');
const edMinter = new PassportKeyring([
  { kid: 'e1', alg: 'EdDSA', key: ed.key, privateKey: ed.privateKey! },
]);
const edVerifier = new PassportKeyring([{ kid: 'e1', alg: 'EdDSA', key: ed.key }]);
const hs = generatePassportKeyMaterial('HS256');
const hsRing = new PassportKeyring([{ kid: 'h1', key: hs.key }]);
const claims = { sub: 'alice', iss: 'edge', attrs: { roles: ['admin'] }, aud: 'zone:default' };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof PassportError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('Ed25519 passports (v2)', () => {
  it('are minted only with the private key and verify with the public key alone', () => {
    const token = mintPassport(claims, edMinter, { now: NOW });
    expect(token).toMatch(/^v2\.e1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$/);
    const got = verifyPassport(token, edVerifier, { now: NOW, audience: 'zone:default' });
    expect(got).toMatchObject({ sub: 'alice', kid: 'e1', aud: ['zone:default'] });
    // A verifying service's keyring cannot mint: it holds no private key.
    expect(edVerifier.current?.canMint).toBe(false);
    expect(() => mintPassport(claims, edVerifier, { now: NOW })).toThrow(/cannot mint/);
  });

  it('refuses a passport signed by another Ed25519 key under the same kid', () => {
    const other = generatePassportKeyMaterial('EdDSA');
    const forger = new PassportKeyring([
      { kid: 'e1', alg: 'EdDSA', key: other.key, privateKey: other.privateKey! },
    ]);
    const forged = mintPassport(claims, forger, { now: NOW });
    expect(codeOf(() => verifyPassport(forged, edVerifier, { now: NOW }))).toBe(
      'PASSPORT_BAD_SIGNATURE',
    );
  });

  it('never uses a key with the other algorithm (no alg confusion)', () => {
    // An attacker who knows the Ed25519 public key uses it as an HMAC secret for a v1 passport.
    const confused = mintPassport(
      claims,
      new PassportKeyring([{ kid: 'e1', key: Buffer.from(ed.key, 'base64url') }]),
      { now: NOW },
    );
    expect(codeOf(() => verifyPassport(confused, edVerifier, { now: NOW }))).toBe(
      'PASSPORT_UNKNOWN_KEY',
    );
    // And a v2 token naming an HS256 key.
    const v2 = mintPassport(claims, edMinter, { now: NOW }).replace('.e1.', '.h1.');
    expect(codeOf(() => verifyPassport(v2, hsRing, { now: NOW }))).toBe('PASSPORT_UNKNOWN_KEY');
  });

  it('fails with a PASSPORT_* code when any byte changes', () => {
    const token = mintPassport(claims, edMinter, { now: NOW });
    fc.assert(
      fc.property(
        fc.nat({ max: token.length - 1 }),
        fc.integer({ min: 0, max: 0xffff }),
        (pos, code) => {
          const c = String.fromCharCode(code);
          fc.pre(c !== token[pos]);
          const changed = token.slice(0, pos) + c + token.slice(pos + 1);
          expect(codeOf(() => verifyPassport(changed, edVerifier, { now: NOW }))).toMatch(
            /^PASSPORT_/,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never crashes on random v2-shaped strings', () => {
    const segment = fc.string({
      unit: fc.constantFrom(...'ABCxyz019-_.=+/é\u0000'.split('')),
      maxLength: 120,
    });
    fc.assert(
      fc.property(segment, segment, (payload, sig) => {
        const token = `v2.e1.${payload}.${sig}`;
        expect(codeOf(() => verifyPassport(token, edVerifier, { now: NOW }))).toMatch(/^PASSPORT_/);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses unusable Ed25519 bundle keys with PASSPORT_INVALID_KEY', () => {
    const otherPrivate = generatePassportKeyMaterial('EdDSA').privateKey!;
    const cases: [unknown, RegExp][] = [
      [[{ kid: 'a', alg: 'EdDSA', key: 'c2hvcnQ' }], /32 bytes/],
      [[{ kid: 'a', alg: 'EdDSA', key: ed.key, privateKey: otherPrivate }], /private key/],
      [[{ kid: 'a', alg: 'HS256', key: hs.key, privateKey: ed.privateKey }], /no privateKey/],
      [[{ kid: 'a', alg: 'EdDSA', key: ed.key, privateKey: 7 }], /privateKey/],
    ];
    for (const [keys, message] of cases) {
      let error: unknown;
      try {
        keyringFromBundleKeys(keys as never);
      } catch (e) {
        error = e;
      }
      expect((error as PassportError).code).toBe('PASSPORT_INVALID_KEY');
      expect((error as PassportError).message).toMatch(message);
    }
  });

  it('accepts keys made by node:crypto and JWK members (x, d)', () => {
    const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    const ring = keyringFromBundleKeys([
      { kid: 'j', alg: 'EdDSA', key: String(jwk.x), privateKey: String(jwk.d) },
    ]);
    expect(ring.current?.canMint).toBe(true);
  });
});

describe('maximum lifetime', () => {
  it('refuses a 100-year passport by default, in both modes and through the cache', () => {
    const century = { ...claims, iat: NOW_S, exp: NOW_S + 100 * 365 * 86_400 };
    for (const [minter, verifier] of [
      [hsRing, hsRing],
      [edMinter, edVerifier],
    ] as const) {
      const token = mintPassport(century, minter);
      expect(codeOf(() => verifyPassport(token, verifier, { now: NOW }))).toBe('PASSPORT_LIFETIME');
      const cached = createPassportVerifier({ keyring: verifier });
      expect(codeOf(() => cached.verify(token, NOW))).toBe('PASSPORT_LIFETIME');
      expect(cached.size).toBe(0);
    }
  });

  it('accepts exactly maxLifetimeSec and refuses one second more', () => {
    const at = (life: number) => mintPassport({ ...claims, iat: NOW_S, exp: NOW_S + life }, hsRing);
    expect(codeOf(() => verifyPassport(at(3600), hsRing, { now: NOW }))).toBe('OK');
    expect(codeOf(() => verifyPassport(at(3601), hsRing, { now: NOW }))).toBe('PASSPORT_LIFETIME');
    expect(codeOf(() => verifyPassport(at(61), hsRing, { now: NOW, maxLifetimeSec: 60 }))).toBe(
      'PASSPORT_LIFETIME',
    );
  });
});

describe('audience', () => {
  const me = ['orders', zoneAudience('default')];

  it('accepts a passport for the service or its zone, refuses others and none', () => {
    const cases: [string | string[] | undefined, string][] = [
      ['orders', 'OK'],
      [['billing', 'orders'], 'OK'],
      ['zone:default', 'OK'],
      ['payments', 'PASSPORT_AUDIENCE'],
      ['zone:partners', 'PASSPORT_AUDIENCE'],
      ['default', 'PASSPORT_AUDIENCE'], // a zone is only ever named as zone:<name>
      [undefined, 'PASSPORT_AUDIENCE'],
    ];
    for (const [aud, want] of cases) {
      const token = mintPassport({ ...claims, aud }, edMinter, { now: NOW });
      expect(codeOf(() => verifyPassport(token, edVerifier, { now: NOW, audience: me }))).toBe(
        want,
      );
    }
  });

  it('is checked before a passport enters the cache', () => {
    const v = createPassportVerifier({ keyring: hsRing, audience: me });
    const token = mintPassport({ ...claims, aud: 'payments' }, hsRing, { now: NOW });
    expect(codeOf(() => v.verify(token, NOW))).toBe('PASSPORT_AUDIENCE');
    expect(codeOf(() => v.verify(token, NOW))).toBe('PASSPORT_AUDIENCE');
    expect(v.size).toBe(0);
  });

  it('refuses authentic payloads with a malformed aud as PASSPORT_MALFORMED', () => {
    const bad: unknown[] = [[], '', [''], [1], { a: 1 }, Array.from({ length: 65 }, () => 'x')];
    for (const aud of bad) {
      const json = JSON.stringify({
        sub: 'a',
        iss: 'e',
        iat: NOW_S,
        exp: NOW_S + 60,
        aud,
        attrs: {},
      });
      const signed = `v1.h1.${Buffer.from(json).toString('base64url')}`;
      const token = `${signed}.${hsRing.get('h1')!.sign(signed)}`;
      expect(codeOf(() => verifyPassport(token, hsRing, { now: NOW }))).toBe('PASSPORT_MALFORMED');
    }
  });

  it('round-trips arbitrary audiences, and accepts iff one entry is expected', () => {
    const entry = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 8 }),
        fc.array(entry, { minLength: 1, maxLength: 4 }),
        (aud, expected) => {
          const token = mintPassport({ ...claims, aud }, hsRing, { now: NOW, maxBytes: 1 << 16 });
          const got = codeOf(() =>
            verifyPassport(token, hsRing, { now: NOW, maxBytes: 1 << 16, audience: expected }),
          );
          expect(got).toBe(aud.some((a) => expected.includes(a)) ? 'OK' : 'PASSPORT_AUDIENCE');
        },
      ),
      { numRuns: 300 },
    );
  });
});
