/**
 * The control plane's Ed25519 bundle-signing key: a PKCS#8 PEM file created at first start with
 * mode 0600 (owner read/write only). Replicas share it by pointing at the same file.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportPublicKey, generateBundleSigningKey, keyIdOf } from '@ward/bundle';
import { ServerError } from '../errors.ts';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64url raw 32-byte public key. */
  publicKeyText: string;
  keyId: string;
  file: string;
  /** True when this start created the file. */
  created: boolean;
  /** Set when the file is readable by group or others. */
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

/** Loads the key from `file`, creating it (0600, exclusively) when it does not exist. */
export function loadOrCreateSigningKey(file: string): SigningKey {
  let pem: string | undefined;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ServerError(
        'SERVER_SIGNING_KEY_INVALID',
        `cannot read ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  if (pem === undefined) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateBundleSigningKey();
    const text = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    try {
      // `wx`: never overwrite — two replicas starting together must not replace each other's key.
      writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
      return describe(privateKey, file, true);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ServerError(
          'SERVER_SIGNING_KEY_INVALID',
          `cannot write ${file}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      pem = readFileSync(file, 'utf8');
    }
  }
  const key = describe(fromPem(pem, file), file, false);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    key.warning = `${file} has mode ${mode.toString(8)}; it should be 600 (readable by its owner only)`;
  }
  return key;
}
