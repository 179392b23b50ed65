/**
 * The control plane's Ed25519 bundle-signing key: a file created at first start with mode 0600
 * (owner read/write only) holding the PKCS#8 PEM sealed with the control plane's seal key
 * (AES-256-GCM), so a copy of the file alone reveals nothing. Replicas share it by pointing at
 * the same file (and sharing the seal key). A plaintext PEM file (older versions, or one an
 * operator provides) is accepted and sealed in place at start.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportPublicKey, generateBundleSigningKey, keyIdOf } from '@ward/bundle';
import type { SealKey } from '@ward/ca';
import { ServerError } from '../errors.ts';
import { isSealed, openText, replaceFileAtomic, sealText } from '../keys/seal-key.ts';

/** Associated data of the sealed file: its ciphertext cannot be moved into another key slot. */
export const SIGNING_KEY_PURPOSE = 'ward:bundle-signing-key';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64url raw 32-byte public key. */
  publicKeyText: string;
  keyId: string;
  file: string;
  /** True when this start created the file. */
  created: boolean;
  /** True when this start sealed a plaintext PEM file in place. */
  migrated?: boolean;
  /** Set when the file is readable by group or others, or a plaintext file could not be sealed. */
  warning?: string;
}

function fromPem(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new ServerError('SERVER_SIGNING_KEY_INVALID', `${file} is not a PEM private key`, {
      cause,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ServerError(
      'SERVER_SIGNING_KEY_INVALID',
      `${file} holds a ${key.asymmetricKeyType} key; bundle signing keys are Ed25519`,
    );
  }
  return key;
}

function describe(privateKey: KeyObject, file: string, created: boolean): SigningKey {
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyText: exportPublicKey(publicKey),
    keyId: keyIdOf(publicKey),
    file,
    created,
  };
}

/** Loads the key from `file`, creating it (0600, exclusively, sealed) when it does not exist. */
export function loadOrCreateSigningKey(file: string, sealKey: SealKey): SigningKey {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ServerError(
        'SERVER_SIGNING_KEY_INVALID',
        `cannot read ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (text === undefined) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateBundleSigningKey();
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    try {
      // `wx`: never overwrite — two replicas starting together must not replace each other's key.
      writeFileSync(file, `${sealText(sealKey, pem, SIGNING_KEY_PURPOSE)}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      return describe(privateKey, file, true);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ServerError(
          'SERVER_SIGNING_KEY_INVALID',
          `cannot write ${file}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      text = readFileSync(file, 'utf8');
    }
  }
  const stored = text.trim();
  const sealed = isSealed(stored);
  const pem = sealed
    ? openText(sealKey, stored, SIGNING_KEY_PURPOSE, `the bundle-signing key ${file}`)
    : stored;
  const key = describe(fromPem(pem, file), file, false);
  const warnings: string[] = [];
  if (!sealed) {
    try {
      replaceFileAtomic(file, `${sealText(sealKey, pem, SIGNING_KEY_PURPOSE)}\n`);
      key.migrated = true;
    } catch (error) {
      warnings.push(
        `${file} holds the bundle-signing key in plaintext and could not be sealed in place (${(error as Error).message}); make it writable for one start so it gets sealed (docs/operations.md)`,
      );
    }
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    warnings.push(
      `${file} has mode ${mode.toString(8)}; it should be 600 (readable by its owner only)`,
    );
  }
  if (warnings.length > 0) key.warning = warnings.join('; ');
  return key;
}
