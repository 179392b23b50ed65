/**
 * Envelope encryption of one secret version: a fresh 256-bit data key (DEK) per version encrypts
 * the value with AES-256-GCM (random 96-bit IV), and the KEK wraps the DEK. Both are bound to the
 * version's context, `ward-secret/v1/<secretKey>/<version>`, as associated data: a ciphertext
 * copied into another row (another secret, another version) does not decrypt. Re-wrapping under a
 * new KEK touches the wrapped DEK only; the value's ciphertext stays as it is.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretsError } from './errors.ts';
import { type KekRing, type KeyEncryptionKey, ringOf } from './kek.ts';

/** A sealed version as stored (JSON in `secret_versions.sealed`); fields base64url. */
export interface SealedValueV1 {
  v: 1;
  /** Id of the KEK that wrapped `wk`. */
  kek: string;
  /** The wrapped data key. */
  wk: string;
  /** 96-bit IV of the value's encryption. */
  iv: string;
  /** Ciphertext ‖ GCM tag of the value's JSON. */
  ct: string;
}

/** The context (associated data) of `secret`'s version `version`. */
export function secretContext(secret: string, version: number): string {
  return `ward-secret/v1/${secret}/${version}`;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function failed(message: string, cause?: unknown): SecretsError<'SECRETS_DECRYPT_FAILED'> {
  return new SecretsError('SECRETS_DECRYPT_FAILED', message, cause ? { cause } : undefined);
}

/** Checks a stored envelope's shape (a database row is input too). */
function checkSealed(sealed: unknown): SealedValueV1 {
  const s = sealed as Partial<SealedValueV1> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    s.v !== 1 ||
    typeof s.kek !== 'string' ||
    [s.wk, s.iv, s.ct].some((f) => typeof f !== 'string' || !B64URL.test(f))
  ) {
    throw failed('not a sealed secret value (v1)');
  }
  return s as SealedValueV1;
}

async function unwrapDek(sealed: SealedValueV1, context: string, ring: KekRing): Promise<Buffer> {
  const kek = ring.get(sealed.kek);
  if (!kek) {
    throw new SecretsError(
      'SECRETS_UNKNOWN_KEK',
      `the value is wrapped by KEK ${JSON.stringify(sealed.kek.slice(0, 64))}, which the key ring does not hold`,
    );
  }
  let dek: Uint8Array;
  try {
    dek = await kek.unwrap(Buffer.from(sealed.wk, 'base64url'), context);
  } catch (cause) {
    throw failed(`KEK ${kek.id} does not unwrap the data key (wrong key, or altered row)`, cause);
  }
  if (dek.length !== 32) throw failed('the unwrapped data key is not 32 bytes');
  return Buffer.from(dek);
}

/**
 * Seals `data` (checked by the caller: see `checkSecretData`) for `context` under `kek` (a ring
 * seals under its current KEK).
 *
 * @example
 * ```ts
 * const sealed = await sealValue({ value: 's3cret' }, secretContext('api-key', 1), ring);
 * ```
 */
export async function sealValue(
  data: Readonly<Record<string, string>>,
  context: string,
  kek: KeyEncryptionKey | KekRing,
): Promise<SealedValueV1> {
  const current = ringOf(kek).current;
  const dek = randomBytes(32);
  try {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', dek, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([
      cipher.update(Buffer.from(JSON.stringify(data), 'utf8')),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    const wk = await current.wrap(dek, context);
    return {
      v: 1,
      kek: current.id,
      wk: Buffer.from(wk).toString('base64url'),
      iv: iv.toString('base64url'),
      ct: ct.toString('base64url'),
    };
  } finally {
    dek.fill(0);
  }
}

/**
 * Opens a sealed version. Throws SECRETS_UNKNOWN_KEK when the ring lacks its KEK, and
 * SECRETS_DECRYPT_FAILED for a wrong key, a wrong context or any altered byte.
 */
export async function openValue(
  sealed: SealedValueV1,
  context: string,
  ring: KekRing,
): Promise<Record<string, string>> {
  const s = checkSealed(sealed);
  const dek = await unwrapDek(s, context, ring);
  try {
    const iv = Buffer.from(s.iv, 'base64url');
    const body = Buffer.from(s.ct, 'base64url');
    if (iv.length !== 12 || body.length < 16) throw failed('malformed IV or ciphertext');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', dek, iv);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - 16));
      plain = Buffer.concat([
        decipher.update(body.subarray(0, body.length - 16)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw failed('the value does not decrypt (wrong context, or altered row)', cause);
    }
    let data: unknown;
    try {
      data = JSON.parse(plain.toString('utf8'));
    } finally {
      plain.fill(0);
    }
    if (
      typeof data !== 'object' ||
      data === null ||
      Array.isArray(data) ||
      Object.values(data).some((v) => typeof v !== 'string')
    ) {
      throw failed('the decrypted value is not a map of strings');
    }
    return data as Record<string, string>;
  } finally {
    dek.fill(0);
  }
}

/**
 * Re-wraps a sealed version's data key under `ring.current` (the value's ciphertext is kept).
 * A version already under the current KEK is returned as it is.
 */
export async function rewrapValue(
  sealed: SealedValueV1,
  context: string,
  ring: KekRing,
): Promise<SealedValueV1> {
  const s = checkSealed(sealed);
  if (s.kek === ring.current.id) return s;
  const dek = await unwrapDek(s, context, ring);
  try {
    const wk = await ring.current.wrap(dek, context);
    return { ...s, kek: ring.current.id, wk: Buffer.from(wk).toString('base64url') };
  } finally {
    dek.fill(0);
  }
}
