import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** An Ed25519 public key as served by the control plane (`GET /v1/keys/bundle`). */
export interface BundlePublicKey {
  keyId: string;
  key: KeyObject;
}

/** Creates a new Ed25519 signing key pair for bundles. */
export function generateBundleSigningKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/** Raw 32-byte public key, base64url: the compact form printed by `ward server`. */
export function exportPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 public key');
  return jwk.x;
}

/** Parses the base64url raw public key (or a PEM SPKI) into a key with its id. */
export function importPublicKey(text: string): BundlePublicKey {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? createPublicKey(trimmed)
    : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: trimmed }, format: 'jwk' });
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('bundle keys must be Ed25519');
  return { keyId: keyIdOf(key), key };
}

/** First 16 characters of the base64url SHA-256 of the raw public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const raw = Buffer.from(exportPublicKey(publicKey), 'base64url');
  return createHash('sha256').update(raw).digest('base64url').slice(0, 16);
}
