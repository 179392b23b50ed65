import { verify } from 'node:crypto';
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { BundleError } from './errors.ts';
import type { BundlePublicKey } from './keys.ts';
import { bundleHash } from './sign.ts';

// 86 base64url characters carry 516 bits for the signature's 512: the last one's 4 low bits are
// unused, and a decoder ignores them. Only the canonical last characters (A, Q, g, w: low bits
// zero) are accepted, so one signature has one spelling.
const ED25519_SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;

export interface VerifyBundleOptions {
  /** Keys the verifier trusts (current and, during rotation, previous). */
  keys: readonly BundlePublicKey[];
  /** The service the bundle must be for. */
  service: string;
  /** The revision currently held; the new bundle must be strictly newer. */
  currentRevision?: number;
}

/**
 * Verifies a signed bundle and returns its content. Order matters: the signature is checked
 * before the payload is parsed, so untrusted JSON is never interpreted.
 */
export function verifyBundle(envelope: unknown, options: VerifyBundleOptions): BundleV1 {
  const signed = asEnvelope(envelope);
  const key = options.keys.find((k) => k.keyId === signed.keyId);
  if (!key)
    throw new BundleError('BUNDLE_UNKNOWN_KEY', `bundle signed by unknown key ${signed.keyId}`);
  const payloadBytes = Buffer.from(signed.payload, 'utf8');
  // Buffer.from skips characters outside the alphabet, so a mangled signature could decode to
  // the valid one: insist on exactly the 86 characters of a 64-byte Ed25519 signature.
  if (!ED25519_SIGNATURE.test(signed.signature)) {
    throw new BundleError('BUNDLE_BAD_SIGNATURE', 'bundle signature is not base64url Ed25519');
  }
  const signature = Buffer.from(signed.signature, 'base64url');
  if (!verify(null, payloadBytes, key.key, signature)) {
    throw new BundleError('BUNDLE_BAD_SIGNATURE', 'bundle signature does not verify');
  }
  if (bundleHash(signed.payload) !== signed.hash) {
    throw new BundleError('BUNDLE_HASH_MISMATCH', 'bundle hash does not match its payload');
  }
  const bundle = parsePayload(signed.payload);
  if (bundle.service !== options.service) {
    throw new BundleError(
      'BUNDLE_WRONG_SERVICE',
      `bundle is for service ${bundle.service}, expected ${options.service}`,
    );
  }
  if (options.currentRevision !== undefined && !(bundle.revision > options.currentRevision)) {
    throw new BundleError(
      'BUNDLE_ROLLBACK',
      `bundle revision ${bundle.revision} is not newer than ${options.currentRevision}`,
    );
  }
  return bundle;
}

function asEnvelope(value: unknown): SignedBundleV1 {
  const v = value as Partial<SignedBundleV1> | null;
  if (
    !v ||
    typeof v !== 'object' ||
    typeof v.payload !== 'string' ||
    typeof v.signature !== 'string' ||
    typeof v.keyId !== 'string' ||
    typeof v.hash !== 'string'
  ) {
    throw new BundleError(
      'BUNDLE_MALFORMED',
      'bundle envelope needs payload, signature, keyId, hash strings',
    );
  }
  return v as SignedBundleV1;
}

function parsePayload(payload: string): BundleV1 {
  let bundle: BundleV1;
  try {
    bundle = JSON.parse(payload) as BundleV1;
  } catch (error) {
    throw new BundleError('BUNDLE_MALFORMED', 'bundle payload is not JSON', { cause: error });
  }
  if (
    bundle?.kind !== 'Bundle' ||
    typeof bundle.service !== 'string' ||
    !Number.isSafeInteger(bundle.revision) ||
    !Array.isArray(bundle.documents) ||
    !Array.isArray(bundle.passportKeys)
  ) {
    throw new BundleError('BUNDLE_MALFORMED', 'bundle payload is not a ward.dev/v1 Bundle');
  }
  return bundle;
}
