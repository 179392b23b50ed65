import { createHash, createPublicKey, type KeyObject, sign } from 'node:crypto';
import type { BundleV1, SignedBundleV1 } from '@ward/api-types';
import { keyIdOf } from './keys.ts';

/** `sha256-<base64url>` of the payload bytes: the content hash and HTTP ETag of a bundle. */
export function bundleHash(payload: string): string {
  return `sha256-${createHash('sha256').update(payload, 'utf8').digest('base64url')}`;
}

/** Serialises and signs a bundle with the control plane's Ed25519 private key. */
export function signBundle(bundle: BundleV1, privateKey: KeyObject): SignedBundleV1 {
  const payload = JSON.stringify(bundle);
  const signature = sign(null, Buffer.from(payload, 'utf8'), privateKey).toString('base64url');
  return {
    payload,
    signature,
    keyId: keyIdOf(createPublicKey(privateKey)),
    hash: bundleHash(payload),
  };
}
