import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacAscii, precomputePads } from '../src/hmac.ts';
import {
  createPassportVerifier,
  keyringFromBundleKeys,
  mintPassport,
  PassportError,
  PassportKeyring,
  verifyPassport,
} from '../src/index.ts';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const NOW_S = NOW / 1000;
const key1 = randomBytes(32);
const key2 = randomBytes(48);
const ring = new PassportKeyring([
  { kid: 'k1', key: key1 },
  { kid: 'k2', key: key2 },
]);
const claims = { sub: 'alice', iss: 'edge', attrs: { roles: ['admin'], tenant: 'acme' } };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof PassportError) return error.code;
    throw error;
  }
  return 'OK';
}

describe('hmacAscii', () => {
  it('equals node:crypto HMAC-SHA-256 for random keys and ASCII messages', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 150 }),
        fc.string({
          unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)),
          maxLength: 300,
        }),
        (key, text) => {
          const out = new Int32Array(8);
          expect(hmacAscii(precomputePads(key), `${text}.x`, text.length, out)).toBeLessThan(128);
          const got = Buffer.alloc(32);
          for (let i = 0; i < 8; i++) got.writeInt32BE(out[i]!, i * 4);
          const want = createHmac('sha256', key).update(text, 'latin1').digest();
          expect(got.toString('hex')).toBe(want.toString('hex'));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('mint and verify', () => {
  it('round-trips with the documented format', () => {
    const token = mintPassport(claims, ring, { now: NOW });
    expect(token).toMatch(/^v1\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const [, , payload] = token.split('.');
    expect(JSON.parse(Buffer.from(payload!, 'base64url').toString())).toEqual({
      sub: 'alice',
      iss: 'edge',
      iat: NOW_S,
      exp: NOW_S + 300,
      attrs: claims.attrs,
    });
    expect(verifyPassport(token, ring, { now: NOW })).toEqual({
      ...claims,
      iat: NOW_S,
      exp: NOW_S + 300,
      kid: 'k1',
      aud: [],
    });
  });

  it('round-trips arbitrary claims', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
        fc.integer({ min: 1, max: 86_400 }),
        (sub, iss, attrs, ttlSec) => {
          const token = mintPassport({ sub, iss, attrs, ttlSec }, ring, {
            now: NOW,
            maxBytes: 1 << 20,
          });
          const got = verifyPassport(token, ring, {
            now: NOW,
            maxBytes: 1 << 20,
            maxLifetimeSec: 86_400,
          });
          expect(got).toEqual({
            sub,
            iss,
            attrs: JSON.parse(JSON.stringify(attrs)),
            iat: NOW_S,
            exp: NOW_S + ttlSec,
            kid: 'k1',
            aud: [],
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fails with a PASSPORT_* code when any byte of a passport changes', () => {
    const token = mintPassport(claims, ring, { now: NOW });
    fc.assert(
      fc.property(
        fc.nat({ max: token.length - 1 }),
        fc.integer({ min: 0, max: 0xffff }),
        (pos, code) => {
          const replacement = String.fromCharCode(code);
          fc.pre(replacement !== token[pos]);
          const tampered = token.slice(0, pos) + replacement + token.slice(pos + 1);
          expect(codeOf(() => verifyPassport(tampered, ring, { now: NOW }))).toMatch(/^PASSPORT_/);
        },
      ),
      { numRuns: 2000 },
    );
    // Exhaustively: every position, every base64url character and the dot.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    for (let pos = 0; pos < token.length; pos++) {
      for (const ch of alphabet) {
        if (ch === token[pos]) continue;
        const tampered = token.slice(0, pos) + ch + token.slice(pos + 1);
        expect(codeOf(() => verifyPassport(tampered, ring, { now: NOW }))).toMatch(/^PASSPORT_/);
      }
    }
  });

  it('fails on truncation, extension and deletion of any byte', () => {
    const token = mintPassport(claims, ring, { now: NOW });
    for (let i = 0; i < token.length; i++) {
      expect(codeOf(() => verifyPassport(token.slice(0, i), ring, { now: NOW }))).toMatch(
        /^PASSPORT_/,
      );
      const dropped = token.slice(0, i) + token.slice(i + 1);
      expect(codeOf(() => verifyPassport(dropped, ring, { now: NOW }))).toMatch(/^PASSPORT_/);
    }
    expect(codeOf(() => verifyPassport(`${token}A`, ring, { now: NOW }))).toMatch(/^PASSPORT_/);
  });

  it('never crashes on random strings', () => {
    const near = fc
      .tuple(
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 50 }),
      )
      .map(([k, p, m]) => `v1.${k}.${p}.${m}`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          near,
          fc.string({ unit: 'binary', maxLength: 300 }),
        ),
        (s) => {
          expect(codeOf(() => verifyPassport(s, ring, { now: NOW }))).toMatch(/^PASSPORT_/);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects an authentic but malformed payload as PASSPORT_MALFORMED', () => {
    const sign = (payload: string) => {
      const signed = `v1.k1.${Buffer.from(payload).toString('base64url')}`;
      return `${signed}.${createHmac('sha256', key1).update(signed).digest('base64url')}`;
    };
    for (const payload of [
      'not json',
      '[]',
      '{"sub":"a","iss":"e","iat":1,"exp":2}',
      '{"sub":"a","iss":"e","iat":1,"exp":2,"attrs":{},"extra":1}',
      '{"sub":"","iss":"e","iat":1,"exp":2,"attrs":{}}',
      '{"sub":"a","iss":"e","iat":1.5,"exp":2,"attrs":{}}',
      '{"sub":"a","iss":"e","iat":5,"exp":5,"attrs":{}}',
      '{"sub":"a","iss":"e","iat":1,"exp":2,"attrs":[]}',
    ]) {
      expect(
        codeOf(() => verifyPassport(sign(payload), ring, { now: 1500 })),
        payload,
      ).toBe('PASSPORT_MALFORMED');
    }
    expect(
      verifyPassport(sign('{"sub":"a","iss":"e","iat":1,"exp":2,"attrs":{}}'), ring, { now: 1500 })
        .sub,
    ).toBe('a');
  });

  it('checks the size before anything else', () => {
    expect(codeOf(() => verifyPassport('x'.repeat(4097), ring))).toBe('PASSPORT_TOO_LARGE');
    expect(codeOf(() => verifyPassport('x'.repeat(100), ring, { maxBytes: 99 }))).toBe(
      'PASSPORT_TOO_LARGE',
    );
    expect(codeOf(() => mintPassport({ ...claims, attrs: { big: 'y'.repeat(5000) } }, ring))).toBe(
      'PASSPORT_TOO_LARGE',
    );
  });
});

describe('times', () => {
  const token = mintPassport({ ...claims, iat: NOW_S, exp: NOW_S + 60 }, ring);

  it('accepts exactly within [iat - skew, exp + skew)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: -200_000, max: 200_000 }),
        (skew, offsetMs) => {
          const now = NOW + offsetMs;
          const lo = (NOW_S - skew) * 1000;
          const hi = (NOW_S + 60 + skew) * 1000;
          const want = now < lo ? 'PASSPORT_NOT_YET_VALID' : now >= hi ? 'PASSPORT_EXPIRED' : 'OK';
          expect(codeOf(() => verifyPassport(token, ring, { now, clockSkewSec: skew }))).toBe(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is exact at the boundaries', () => {
    const at = (now: number) => codeOf(() => verifyPassport(token, ring, { now, clockSkewSec: 5 }));
    expect(at((NOW_S + 65) * 1000 - 1)).toBe('OK');
    expect(at((NOW_S + 65) * 1000)).toBe('PASSPORT_EXPIRED');
    expect(at((NOW_S - 5) * 1000)).toBe('OK');
    expect(at((NOW_S - 5) * 1000 - 1)).toBe('PASSPORT_NOT_YET_VALID');
  });
});

describe('keyring and rotation', () => {
  it('verifies old kids while held and refuses retired ones', () => {
    const r = new PassportKeyring([{ kid: 'old', key: key1 }]);
    const oldToken = mintPassport(claims, r, { now: NOW });
    r.add({ kid: 'new', key: key2 }, { current: true });
    const newToken = mintPassport(claims, r, { now: NOW });
    expect(newToken.startsWith('v1.new.')).toBe(true);
    expect(verifyPassport(oldToken, r, { now: NOW }).kid).toBe('old');
    expect(verifyPassport(newToken, r, { now: NOW }).kid).toBe('new');
    r.retire('old');
    expect(codeOf(() => verifyPassport(oldToken, r, { now: NOW }))).toBe('PASSPORT_UNKNOWN_KEY');
    expect(verifyPassport(newToken, r, { now: NOW }).kid).toBe('new');
  });

  it('random rotations: a token verifies iff its key is held', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), (retire) => {
        const keys = retire.map((_, i) => ({ kid: `k${i}`, key: randomBytes(32) }));
        const r = new PassportKeyring(keys);
        const tokens = keys.map((k) => {
          r.use(k.kid);
          return mintPassport(claims, r, { now: NOW });
        });
        retire.forEach((gone, i) => {
          if (gone) r.retire(`k${i}`);
        });
        tokens.forEach((t, i) => {
          expect(codeOf(() => verifyPassport(t, r, { now: NOW }))).toBe(
            retire[i] ? 'PASSPORT_UNKNOWN_KEY' : 'OK',
          );
        });
      }),
      { numRuns: 30 },
    );
  });

  it('builds from bundle keys, honouring notAfter', () => {
    const r = keyringFromBundleKeys([
      { kid: 'cur', alg: 'HS256', key: key2.toString('base64url') },
      {
        kid: 'prev',
        alg: 'HS256',
        key: key1.toString('base64url'),
        notAfter: new Date(NOW + 1000).toISOString(),
      },
    ]);
    expect(r.current?.kid).toBe('cur');
    const prev = mintPassport(claims, new PassportKeyring([{ kid: 'prev', key: key1 }]), {
      now: NOW,
    });
    expect(verifyPassport(prev, r, { now: NOW }).kid).toBe('prev');
    expect(codeOf(() => verifyPassport(prev, r, { now: NOW + 1000 }))).toBe('PASSPORT_UNKNOWN_KEY');
  });

  it('refuses bad bundle keys with PASSPORT_INVALID_KEY naming the entry', () => {
    const good = { kid: 'a', alg: 'HS256' as const, key: key1.toString('base64url') };
    const cases: [unknown, RegExp][] = [
      [[{ ...good, alg: 'none' }], /passportKeys\[0\]\.alg/],
      [[good, { ...good, kid: 'b', key: 'c2hvcnQ' }], /passportKeys\[1\].*at least 32/],
      [[{ ...good, kid: 'a.b' }], /passportKeys\[0\]\.kid/],
      [[good, good], /listed twice/],
      [[{ ...good, notAfter: 'soon' }], /notAfter/],
      [[{ ...good, key: 'not base64!' }], /base64url/],
    ];
    for (const [keys, message] of cases) {
      let error: unknown;
      try {
        keyringFromBundleKeys(keys as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PassportError);
      expect((error as PassportError).code).toBe('PASSPORT_INVALID_KEY');
      expect((error as PassportError).message).toMatch(message);
    }
  });

  it('never prints secrets', () => {
    const text = `${JSON.stringify(ring)} ${JSON.stringify(ring.get('k1'))}`;
    expect(text).not.toContain(key1.toString('base64url'));
    expect(text).not.toContain(key1.toString('hex'));
  });
});

describe('verifier cache', () => {
  it('serves hits but still checks expiry on every hit', () => {
    const r = new PassportKeyring([{ kid: 'k1', key: key1 }]);
    const v = createPassportVerifier({ keyring: r, cacheSize: 4, clockSkewSec: 0 });
    const token = mintPassport({ ...claims, iat: NOW_S, exp: NOW_S + 10 }, r);
    const first = v.verify(token, NOW);
    expect(v.verify(token, NOW + 5000)).toBe(first);
    expect(Object.isFrozen(first.attrs)).toBe(true);
    expect(codeOf(() => v.verify(token, NOW + 10_000))).toBe('PASSPORT_EXPIRED');
    expect(codeOf(() => v.verify(token, NOW - 1))).toBe('PASSPORT_NOT_YET_VALID');
  });

  it('never lets a tampered token hit, and forgets entries of a retired key', () => {
    const r = new PassportKeyring([{ kid: 'k1', key: key1 }]);
    const v = createPassportVerifier({ keyring: r });
    const token = mintPassport(claims, r, { now: NOW });
    v.verify(token, NOW);
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'E' : 'A'}`;
    expect(codeOf(() => v.verify(tampered, NOW))).toBe('PASSPORT_BAD_SIGNATURE');
    r.retire('k1');
    expect(codeOf(() => v.verify(token, NOW))).toBe('PASSPORT_UNKNOWN_KEY');
  });

  it('stays bounded', () => {
    const v = createPassportVerifier({ keyring: ring, cacheSize: 8 });
    for (let i = 0; i < 50; i++)
      v.verify(mintPassport({ ...claims, sub: `u${i}` }, ring, { now: NOW }), NOW);
    expect(v.size).toBe(8);
  });
});
