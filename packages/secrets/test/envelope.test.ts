import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkSecretData,
  generateValue,
  KekRing,
  localKek,
  openValue,
  parseKekSpec,
  rewrapValue,
  type SealedValueV1,
  SecretsError,
  sealValue,
  secretContext,
} from '../src/index.ts';

const kekA = localKek('a', randomBytes(32));
const kekB = localKek('b', randomBytes(32));
const ringA = new KekRing(kekA);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    if (error instanceof SecretsError) return error.code;
    throw error;
  }
  return 'resolved';
}

const dataArb = fc.dictionary(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/),
  fc.string({ maxLength: 40 }),
  { minKeys: 1, maxKeys: 5 },
);

describe('envelope encryption', () => {
  it('round-trips any value and never stores it in clear', async () => {
    await fc.assert(
      fc.asyncProperty(dataArb, fc.integer({ min: 1, max: 1000 }), async (data, version) => {
        const ctx = secretContext('shop/api-key', version);
        const sealed = await sealValue(data, ctx, ringA);
        expect(sealed.kek).toBe('a');
        expect(await openValue(sealed, ctx, ringA)).toEqual(data);
      }),
      { numRuns: 50 },
    );
    const sealed = await sealValue({ value: 'plain-text-marker' }, 'c', kekA);
    expect(JSON.stringify(sealed)).not.toContain('plain-text-marker');
  });

  it('fails with SECRETS_DECRYPT_FAILED on any bit flip or a wrong context', async () => {
    const ctx = secretContext('api-key', 3);
    const sealed = await sealValue({ value: 'hello', other: 'world' }, ctx, ringA);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'wk' | 'iv' | 'ct'>('wk', 'iv', 'ct'),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        async (field, at, bit) => {
          const bytes = Buffer.from(sealed[field], 'base64url');
          bytes[at % bytes.length]! ^= 1 << bit;
          const flipped: SealedValueV1 = { ...sealed, [field]: bytes.toString('base64url') };
          expect(await code(openValue(flipped, ctx, ringA))).toBe('SECRETS_DECRYPT_FAILED');
        },
      ),
      { numRuns: 100 },
    );
    expect(await code(openValue(sealed, secretContext('api-key', 4), ringA))).toBe(
      'SECRETS_DECRYPT_FAILED',
    );
    expect(await code(openValue(sealed, secretContext('api-keyx', 3), ringA))).toBe(
      'SECRETS_DECRYPT_FAILED',
    );
    // Another key under the same id: the data key does not unwrap.
    const impostor = new KekRing(localKek('a', randomBytes(32)));
    expect(await code(openValue(sealed, ctx, impostor))).toBe('SECRETS_DECRYPT_FAILED');
    expect(await code(openValue(sealed, ctx, new KekRing(kekB)))).toBe('SECRETS_UNKNOWN_KEK');
    expect(await code(openValue({ v: 2 } as never, ctx, ringA))).toBe('SECRETS_DECRYPT_FAILED');
  });

  it('rewraps under the current KEK without touching the ciphertext', async () => {
    const ctx = secretContext('k', 1);
    const sealed = await sealValue({ value: 'v' }, ctx, kekA);
    const ring = new KekRing(kekB, kekA);
    const re = await rewrapValue(sealed, ctx, ring);
    expect(re.kek).toBe('b');
    expect(re.ct).toBe(sealed.ct);
    expect(re.iv).toBe(sealed.iv);
    expect(await openValue(re, ctx, new KekRing(kekB))).toEqual({ value: 'v' });
    expect(await rewrapValue(re, ctx, ring)).toBe(re);
    expect(await code(rewrapValue(sealed, 'other', ring))).toBe('SECRETS_DECRYPT_FAILED');
  });
});

describe('parseKekSpec', () => {
  const k32 = () => randomBytes(32).toString('base64url');

  it('reads a ring, first current', async () => {
    const ring = parseKekSpec(` b:${k32()}, a:${k32()}\n`, 'WARD_SECRETS_KEK');
    expect(ring.current.id).toBe('b');
    expect(ring.ids).toEqual(['b', 'a']);
    expect(ring.get('a')?.id).toBe('a');
    // Standard base64 with padding is accepted too.
    expect(parseKekSpec(`x:${randomBytes(32).toString('base64')}`, 's').current.id).toBe('x');
  });

  it('refuses bad specs with SECRETS_BAD_KEK and never echoes key material', () => {
    const secret = k32();
    for (const text of [
      '',
      secret,
      `a:${secret.slice(1)}`,
      `a:${secret},a:${k32()}`,
      `bad id:${secret}`,
      `a:${secret},`,
    ]) {
      let err: unknown;
      try {
        parseKekSpec(text, 'WARD_SECRETS_KEK');
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(SecretsError);
      expect((err as SecretsError).code).toBe('SECRETS_BAD_KEK');
      expect((err as SecretsError).message).not.toContain(secret.slice(2, 30));
    }
  });

  it('throws nothing but SecretsError on arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc
            .array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 50 })), {
              maxLength: 4,
            })
            .map((parts) => parts.map(([a, b]) => `${a}:${b}`).join(',')),
        ),
        (text) => {
          try {
            parseKekSpec(text, 'x');
          } catch (e) {
            expect(e).toBeInstanceOf(SecretsError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('checkSecretData', () => {
  const codeOf = (data: unknown) => {
    try {
      checkSecretData(data);
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(SecretsError);
      return `${(e as SecretsError).code} ${(e as SecretsError).field}`;
    }
  };

  it('enforces the limits and names the field, never the value', () => {
    expect(checkSecretData({ value: 'x', 'a.b-c_1': 'y' })).toEqual({ value: 'x', 'a.b-c_1': 'y' });
    expect(codeOf(null)).toBe('SECRETS_BAD_VALUE data');
    expect(codeOf([])).toBe('SECRETS_BAD_VALUE data');
    expect(codeOf({})).toBe('SECRETS_BAD_VALUE data');
    expect(codeOf({ '1x': 'a' })).toBe('SECRETS_BAD_VALUE data');
    expect(codeOf({ password: 5 })).toBe('SECRETS_BAD_VALUE data.password');
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, 'v']));
    expect(codeOf(many)).toBe('SECRETS_BAD_VALUE data');
    const ok64 = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`f${i}`, 'v']));
    expect(codeOf(ok64)).toBe('ok');
    // 64 KiB in all, names included.
    expect(codeOf({ value: 'x'.repeat(65536 - 5) })).toBe('ok');
    expect(codeOf({ value: 'x'.repeat(65536 - 4) })).toBe('SECRETS_BAD_VALUE data.value');
    expect(codeOf({ value: 'é'.repeat(32767) })).toBe('SECRETS_BAD_VALUE data.value');
    try {
      checkSecretData({ big: 'TOPSECRET'.repeat(9000) });
    } catch (e) {
      expect((e as Error).message).not.toContain('TOPSECRET');
    }
  });

  it('accepts exactly the values within the limits (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 70 }), fc.oneof(fc.string(), fc.integer()), {
          maxKeys: 70,
        }),
        (data) => {
          const entries = Object.entries(data);
          const ok =
            entries.length >= 1 &&
            entries.length <= 64 &&
            entries.every(
              ([k, v]) => /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(k) && typeof v === 'string',
            ) &&
            entries.reduce(
              (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(String(v)),
              0,
            ) <= 65536;
          expect(codeOf(data) === 'ok').toBe(ok);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('generateValue', () => {
  it('generates random values of the alphabet and length asked', () => {
    expect(generateValue({ type: 'random' }).value).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(
      generateValue({ type: 'random', random: { length: 40, alphabet: 'hex' } }).value,
    ).toMatch(/^[0-9a-f]{40}$/);
    const a = generateValue({ type: 'random', random: { length: 100, alphabet: 'alphanumeric' } });
    expect(a.value).toMatch(/^[A-Za-z0-9]{100}$/);
    expect(generateValue({ type: 'random' }).value).not.toBe(
      generateValue({ type: 'random' }).value,
    );
    expect(() =>
      generateValue({ type: 'random', random: { length: 15, alphabet: 'hex' } }),
    ).toThrow(SecretsError);
  });

  it('generates key pairs as PEM', () => {
    for (const algorithm of ['ed25519', 'ecdsa-p256', 'rsa-2048'] as const) {
      const kp = generateValue({ type: 'keypair', keypair: { algorithm } });
      expect(kp.privateKey).toContain('-----BEGIN PRIVATE KEY-----');
      expect(kp.publicKey).toContain('-----BEGIN PUBLIC KEY-----');
    }
    expect(() => generateValue({ type: 'static' })).toThrow(SecretsError);
    expect(() => generateValue({ type: 'postgres' })).toThrow(SecretsError);
  });
});
