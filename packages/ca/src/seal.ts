import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CaError } from './errors.ts';

/**
 * The 32-byte AES-256-GCM key that encrypts private keys at rest (the CA's, and the control
 * plane's bundle-signing and passport keys). Parse one with {@link parseSealKey}; where it comes
 * from (environment, key file) is the server shell's business. Never log it.
 */
export interface SealKey {
  readonly bytes: Buffer;
}

const VERSION = 'v1';

/**
 * Parses a seal key: 64 hex characters, or base64/base64url of 32 bytes. Throws `CA_SEAL_KEY`
 * naming `source`.
 */
export function parseSealKey(text: string, source = 'WARD_SEAL_KEY'): SealKey {
  const t = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    bytes = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  }
  if (bytes?.length !== 32) {
    throw new CaError(
      'CA_SEAL_KEY',
      `${source}: the seal key must be 32 bytes as 64 hex characters or base64 (generate one with \`openssl rand -base64 32\`)`,
      { field: source },
    );
  }
  return { bytes };
}

/** A new random seal key, base64 (what goes into `WARD_SEAL_KEY` or a 0600 key file). */
export function generateSealKey(): string {
  return randomBytes(32).toString('base64');
}

/**
 * Encrypts `plaintext` with AES-256-GCM. `purpose` is bound as associated data so a ciphertext
 * for one key slot cannot be swapped into another.
 */
export function seal(key: SealKey, plaintext: Uint8Array, purpose: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
  cipher.setAAD(Buffer.from(purpose));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
}

/** Decrypts what {@link seal} produced. Throws `CA_UNSEAL` on a wrong key or tampering. */
export function unseal(key: SealKey, sealed: string, purpose: string): Buffer {
  const fail = (cause?: unknown): never => {
    throw new CaError(
      'CA_UNSEAL',
      `cannot decrypt "${purpose}": wrong seal key (WARD_SEAL_KEY), or the stored key was altered`,
      { cause },
    );
  };
  if (typeof sealed !== 'string' || !sealed.startsWith(`${VERSION}.`)) return fail();
  const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
  if (raw.length < 12 + 16) return fail();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
  } catch (cause) {
    return fail(cause);
  }
}
