/**
 * Generators of `random` and `keypair` secrets: what a scheduled (or asked-for) rotation writes
 * as the new version's value.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SecretsError } from './errors.ts';

export type RandomAlphabet = 'base64url' | 'hex' | 'alphanumeric';
export type KeypairAlgorithm = 'ed25519' | 'ecdsa-p256' | 'rsa-2048';

/** The generator settings of a `Secret` document (its `spec.type` and the matching block). */
export interface GeneratorSettings {
  type: 'static' | 'random' | 'keypair' | 'postgres';
  random?: { length: number; alphabet: RandomAlphabet };
  keypair?: { algorithm: KeypairAlgorithm };
}

const ALPHABETS: Record<RandomAlphabet, string> = {
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  hex: '0123456789abcdef',
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
};

/** `length` characters of `alphabet`, uniform (rejection sampling: no modulo bias). */
function randomString(length: number, alphabet: string): string {
  const n = alphabet.length;
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(Math.max(16, (length - out.length) * 2))) {
      if (b >= limit) continue;
      out += alphabet[b % n];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * A new value for a generated secret: random → `{ value }`; keypair → `{ privateKey (PKCS#8
 * PEM), publicKey (SPKI PEM) }`. Throws SECRETS_BAD_GENERATOR for other types or bad settings.
 *
 * @example
 * ```ts
 * generateValue({ type: 'random', random: { length: 32, alphabet: 'hex' } }); // { value: '9f…' }
 * ```
 */
export function generateValue(settings: GeneratorSettings): Record<string, string> {
  if (settings.type === 'random') {
    const length = settings.random?.length ?? 32;
    const alphabet = settings.random?.alphabet ?? 'base64url';
    if (!Number.isSafeInteger(length) || length < 16 || length > 4096) {
      throw new SecretsError('SECRETS_BAD_GENERATOR', 'random.length must be 16..4096', {
        field: 'random.length',
      });
    }
    const chars = ALPHABETS[alphabet];
    if (!chars) {
      throw new SecretsError('SECRETS_BAD_GENERATOR', 'unknown random.alphabet', {
        field: 'random.alphabet',
      });
    }
    return { value: randomString(length, chars) };
  }
  if (settings.type === 'keypair') {
    const algorithm = settings.keypair?.algorithm ?? 'ed25519';
    const enc = {
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    } as const;
    const pair =
      algorithm === 'ed25519'
        ? generateKeyPairSync('ed25519', enc)
        : algorithm === 'ecdsa-p256'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256', ...enc })
          : algorithm === 'rsa-2048'
            ? generateKeyPairSync('rsa', { modulusLength: 2048, ...enc })
            : undefined;
    if (!pair) {
      throw new SecretsError('SECRETS_BAD_GENERATOR', 'unknown keypair.algorithm', {
        field: 'keypair.algorithm',
      });
    }
    return { privateKey: pair.privateKey, publicKey: pair.publicKey };
  }
  throw new SecretsError(
    'SECRETS_BAD_GENERATOR',
    `a ${String(settings.type)} secret is not generated (only random and keypair are)`,
    { field: 'type' },
  );
}
