import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { createApiKeyVerifier } from '../src/identity/api-keys.ts';
import {
  claimAt,
  compileClaimMapping,
  jsonValue,
  MAX_ATTRS_BYTES,
  mapClaims,
  parseClaimPath,
} from '../src/identity/claims.ts';
import { MAX_TOKEN_BYTES, readCredential } from '../src/identity/credentials.ts';
import { createAuthenticator } from '../src/index.ts';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs `fn`; anything it throws must be a GatewayError. */
function onlyGatewayErrors<T>(fn: () => T): T | GatewayError {
  try {
    return fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
}

const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.constantFrom(
    'Bearer',
    'Bearer ',
    'bearer a.b.c',
    'ApiKey',
    'ApiKey  k',
    'Basic dXNlcjpwYXNz',
    ' Bearer x ',
  ),
  fc
    .tuple(
      fc.constantFrom('Bearer ', 'ApiKey ', 'BEARER ', 'apikey '),
      fc.string({ unit: 'binary' }),
    )
    .map(([scheme, rest]) => scheme + rest),
);
const headers = fc.dictionary(
  fc.oneof(
    fc.constantFrom('authorization', 'x-api-key', 'cookie', '__proto__', 'constructor'),
    fc.string(),
  ),
  headerValue,
  { maxKeys: 5 },
) as fc.Arbitrary<IncomingHttpHeaders>;

describe('credential headers (property tests)', () => {
  it('never throws anything but GatewayError, and what it returns is well-formed', () => {
    fc.assert(
      fc.property(headers, (h) => {
        const result = onlyGatewayErrors(() => readCredential(h));
        if (result instanceof GatewayError) {
          expect(result.code).toBe('GATEWAY_UNAUTHENTICATED');
          return;
        }
        if (result === undefined) {
          expect(h.authorization === undefined && h['x-api-key'] === undefined).toBe(true);
          return;
        }
        if (result.kind === 'bearer') {
          expect(result.token.length).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
          expect(result.token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
        } else {
          expect(result.key).toMatch(/^[\x21-\x7e]+$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never echoes the credential in a refusal', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 12, unit: 'binary' }),
        fc.constantFrom('Bearer ', 'ApiKey ', 'Digest '),
        (secret, scheme) => {
          for (const h of [
            { authorization: scheme + secret },
            { authorization: 'Bearer a.b.c', 'x-api-key': secret },
          ]) {
            const result = onlyGatewayErrors(() => readCredential(h));
            if (result instanceof GatewayError) expect(result.message).not.toContain(secret);
          }
        },
      ),
    );
  });

  it('reads the documented forms', () => {
    expect(readCredential({ authorization: 'Bearer a.b.c' })).toEqual({
      kind: 'bearer',
      token: 'a.b.c',
    });
    expect(readCredential({ authorization: 'bearer a.b.c' })).toEqual({
      kind: 'bearer',
      token: 'a.b.c',
    });
    expect(readCredential({ authorization: 'ApiKey k3y' })).toEqual({ kind: 'apiKey', key: 'k3y' });
    expect(readCredential({ 'x-api-key': 'k3y' })).toEqual({ kind: 'apiKey', key: 'k3y' });
    expect(readCredential({})).toBeUndefined();
    for (const bad of [
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: `Bearer ${'a'.repeat(MAX_TOKEN_BYTES + 1)}` },
      { authorization: 'Bearer a b' },
      { authorization: 'ApiKey k', 'x-api-key': 'k' },
      { 'x-api-key': ['k', 'k'] },
      { 'x-api-key': 'k1, k2' },
      { 'x-api-key': '' },
    ]) {
      expect(() => readCredential(bad)).toThrow(GatewayError);
    }
  });
});

/** Claims as hostile as JSON gets, plus keys that aim at prototypes. */
const hostileKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'role',
    'realm_access',
    'roles',
    'a.b',
  ),
  fc.string({ maxLength: 6 }),
);
const claimsArb = fc
  .letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 2 }),
      tie('object'),
      fc.array(tie('value'), { maxLength: 3 }),
    ),
    object: fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  }))
  .object.map((o) => JSON.parse(JSON.stringify(o)) as unknown);
const pathArb = fc
  .array(
    hostileKey.filter((k) => k !== '' && !k.includes('.')),
    { minLength: 1, maxLength: 4 },
  )
  .map((s) => s.join('.'));

describe('claim mapping (property tests)', () => {
  it('maps hostile claims without throwing anything but GatewayError and without polluting prototypes', () => {
    fc.assert(
      fc.property(
        claimsArb,
        fc.dictionary(
          hostileKey.filter((k) => k !== ''),
          pathArb,
          { maxKeys: 4 },
        ),
        pathArb,
        (claims, attrs, subjectClaim) => {
          let mapping: ReturnType<typeof compileClaimMapping>;
          try {
            mapping = compileClaimMapping(attrs, subjectClaim);
          } catch (error) {
            // A configuration path aiming at a prototype is refused up front (misuse: TypeError).
            expect(error).toBeInstanceOf(TypeError);
            return;
          }
          const result = onlyGatewayErrors(() => mapClaims(claims, mapping));
          if (!(result instanceof GatewayError)) {
            expect(typeof result.subject).toBe('string');
            expect(Buffer.byteLength(JSON.stringify(result.attrs))).toBeLessThanOrEqual(
              MAX_ATTRS_BYTES,
            );
            expect(Object.getPrototypeOf(result.attrs)).toBe(Object.prototype);
            // Only JSON comes out: a round trip changes nothing.
            expect(JSON.parse(JSON.stringify(result.attrs))).toEqual(result.attrs);
          }
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.prototype).not.toHaveProperty('role');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('walks own properties only', () => {
    const claims = JSON.parse(
      '{"sub":"alice","__proto__":{"role":"admin"},"a":{"b":[1,2]}}',
    ) as unknown;
    expect(claimAt(claims, ['__proto__', 'role'])).toBeUndefined();
    expect(claimAt(claims, ['constructor', 'name'])).toBeUndefined();
    expect(claimAt(claims, ['toString'])).toBeUndefined();
    expect(claimAt(claims, ['a', 'b'])).toEqual([1, 2]);
    expect(claimAt(claims, ['a', 'b', 'length'])).toBeUndefined();
    expect(() => parseClaimPath('__proto__.role')).toThrow(TypeError);
    expect(() => parseClaimPath('a..b')).toThrow(TypeError);
  });

  it('keeps only JSON values, defined as own properties', () => {
    const copy = jsonValue(JSON.parse('{"__proto__":{"x":1},"n":1}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect(jsonValue({ f: () => 1 })).toBeUndefined();
    expect(jsonValue([Number.NaN])).toBeUndefined();
    expect(jsonValue(new Date())).toBeUndefined();
  });

  it('refuses a missing subject and oversized attrs', () => {
    const mapping = compileClaimMapping({ big: 'big' });
    expect(() => mapClaims({ big: 'x' }, mapping)).toThrow(GatewayError);
    expect(() => mapClaims({ sub: 'a', big: 'x'.repeat(MAX_ATTRS_BYTES) }, mapping)).toThrow(
      GatewayError,
    );
    expect(mapClaims({ sub: 'a', big: { n: 1 } }, mapping)).toEqual({
      subject: 'a',
      attrs: { big: { n: 1 } },
    });
  });
});

describe('authenticator on hostile headers (property test)', () => {
  it('resolves or rejects with GatewayError, never anything else', async () => {
    const key = 'k'.repeat(32);
    const hash = sha256(key);
    const gate = createAuthenticator({ apiKeys: [{ id: 'bot', sha256: hash, subject: 'bot' }] });
    try {
      await fc.assert(
        fc.asyncProperty(headers, async (h) => {
          await gate.authenticate(h).catch((error: unknown) => {
            expect(error).toBeInstanceOf(GatewayError);
          });
        }),
        { numRuns: 500 },
      );
      expect(await gate.authenticate({ 'x-api-key': key })).toMatchObject({
        subject: 'bot',
        apiKeyId: 'bot',
      });
    } finally {
      await gate.close();
    }
  });

  it('API key table: configured attrs cannot be changed through a returned principal', () => {
    const verifier = createApiKeyVerifier([
      { id: 'bot', sha256: sha256('s3cret'), subject: 'bot', attrs: { role: 'machine' } },
    ]);
    const first = verifier.verify('s3cret');
    (first.attrs as Record<string, unknown>).role = 'admin';
    expect(verifier.verify('s3cret').attrs).toEqual({ role: 'machine' });
  });
});
