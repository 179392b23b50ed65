import type { BundleV1 } from '@ward/api-types';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BundleError,
  exportPublicKey,
  generateBundleSigningKey,
  importPublicKey,
  signBundle,
  verifyBundle,
} from '../src/index.ts';

const bundle: BundleV1 = {
  apiVersion: 'ward.dev/v1',
  kind: 'Bundle',
  service: 'orders',
  revision: 7,
  issuedAt: '2026-11-23T00:00:00.000Z',
  trustDomain: 'ward.local',
  documents: [],
  passportKeys: [],
};

const { privateKey, publicKey } = generateBundleSigningKey();
const trusted = importPublicKey(exportPublicKey(publicKey));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof BundleError) return error.code;
    throw error;
  }
  return 'none';
}

describe('bundle signatures', () => {
  it('verifies what it signed', () => {
    const signed = signBundle(bundle, privateKey);
    expect(verifyBundle(signed, { keys: [trusted], service: 'orders' })).toEqual(bundle);
  });

  it('rejects a bundle for another service, a rollback and an unknown key', () => {
    const signed = signBundle(bundle, privateKey);
    expect(codeOf(() => verifyBundle(signed, { keys: [trusted], service: 'payments' }))).toBe(
      'BUNDLE_WRONG_SERVICE',
    );
    expect(
      codeOf(() =>
        verifyBundle(signed, { keys: [trusted], service: 'orders', currentRevision: 7 }),
      ),
    ).toBe('BUNDLE_ROLLBACK');
    const other = generateBundleSigningKey();
    const otherKey = importPublicKey(exportPublicKey(other.publicKey));
    expect(codeOf(() => verifyBundle(signed, { keys: [otherKey], service: 'orders' }))).toBe(
      'BUNDLE_UNKNOWN_KEY',
    );
  });

  it('refuses a non-canonical spelling of a valid signature (unused low bits of the last character)', () => {
    const signed = signBundle(bundle, privateKey);
    const last = signed.signature.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The next character differs only in the 4 bits a decoder drops: same bytes, other text.
    const other = alphabet[alphabet.indexOf(last) + 1]!;
    const respelled = { ...signed, signature: signed.signature.slice(0, -1) + other };
    expect(Buffer.from(respelled.signature, 'base64url')).toEqual(
      Buffer.from(signed.signature, 'base64url'),
    );
    expect(codeOf(() => verifyBundle(respelled, { keys: [trusted], service: 'orders' }))).toBe(
      'BUNDLE_BAD_SIGNATURE',
    );
  });

  it('rejects any change to any byte of the payload or signature', () => {
    const signed = signBundle(bundle, privateKey);
    fc.assert(
      fc.property(
        fc.constantFrom('payload', 'signature', 'hash'),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (field, at, delta) => {
          const bytes = Buffer.from(signed[field as 'payload' | 'signature' | 'hash'], 'latin1');
          const i = at % bytes.length;
          bytes[i] = (bytes[i]! + delta) % 256;
          const tampered = { ...signed, [field]: bytes.toString('latin1') };
          const code = codeOf(() => verifyBundle(tampered, { keys: [trusted], service: 'orders' }));
          expect(['BUNDLE_BAD_SIGNATURE', 'BUNDLE_HASH_MISMATCH', 'BUNDLE_MALFORMED']).toContain(
            code,
          );
        },
      ),
    );
  });

  it('rejects malformed envelopes without throwing anything but BundleError', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(codeOf(() => verifyBundle(value, { keys: [trusted], service: 'orders' }))).not.toBe(
          'none',
        );
      }),
    );
  });
});
