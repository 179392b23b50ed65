import { CaError } from './errors.ts';
import type { CryptoKeyPair } from './webcrypto.ts';

// Every Ward key is ECDSA P-256 (design brief: "ECDSA P-256"); the algorithm objects are shared.
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** Signature algorithm of every Ward certificate: ECDSA with SHA-256. */
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A new extractable ECDSA P-256 key pair (WebCrypto). */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** PKCS#8 DER of a private key. */
export async function exportPrivateKey(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
}

/**
 * Imports a PKCS#8 DER P-256 private key together with its public half. Throws `CA_BAD_KEY`
 * naming `field` when the bytes are not one.
 */
export async function importPrivateKey(pkcs8: Uint8Array, field = 'key'): Promise<CryptoKeyPair> {
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey('pkcs8', new Uint8Array(pkcs8), EC, true, ['sign']);
  } catch (cause) {
    throw new CaError('CA_BAD_KEY', `${field}: not a PKCS#8 ECDSA P-256 private key`, {
      cause,
      field,
    });
  }
  // WebCrypto cannot derive a public key from a private one; the JWK form carries x and y.
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await crypto.subtle.importKey(
    'jwk',
    { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
    EC,
    true,
    ['verify'],
  );
  return { privateKey, publicKey };
}
