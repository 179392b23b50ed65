/**
 * Where the secrets' key-encryption key comes from, in order: `startServer({ secrets: { kek } })`
 * (a KekRing or any KeyEncryptionKey: a KMS), `WARD_SECRETS_KEK`, `secrets.kekFile`
 * (`--secrets-kek-file`), else a KEK derived from the seal key by HKDF (id `seal`) — with a
 * warning, because then whoever has the seal key has the secrets too.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { SealKey } from '@ward/ca';
import {
  KekRing,
  type KeyEncryptionKey,
  localKek,
  parseKekSpec,
  SecretsError,
} from '@ward/secrets';
import { ServerError } from '../errors.ts';
import { isInside } from '../keys/seal-key.ts';

/** `startServer`'s `secrets` option. */
export interface SecretsKekOptions {
  /** A ring, or a KEK (a KMS client implementing KeyEncryptionKey). Wins over the rest. */
  kek?: KekRing | KeyEncryptionKey;
  /** A file holding a KEK spec (`id:base64url32[,…]`), kept outside the data directory. */
  kekFile?: string;
  /** How often the leader checks for scheduled rotations (ms; default 10 s). */
  rotationCheckMs?: number;
}

export interface ResolvedKek {
  ring: KekRing;
  /** `option`, `env:WARD_SECRETS_KEK`, the file's path, or `seal-key`. */
  source: string;
  warnings: string[];
  /** `secrets.rotationCheckMs`, passed on to the plugin. */
  rotationCheckMs?: number;
}

function invalid(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  throw new ServerError('SERVER_CONFIG_INVALID', message, { cause: error });
}

/** The KEK ring of this start (SERVER_CONFIG_INVALID for an unreadable or malformed spec). */
export function resolveSecretsKek(options: {
  secrets?: SecretsKekOptions;
  env: NodeJS.ProcessEnv;
  sealKey: SealKey;
  dataDir: string;
}): ResolvedKek {
  const resolved = resolveRing(options);
  const every = options.secrets?.rotationCheckMs;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) {
    invalid(new Error('secrets.rotationCheckMs must be a positive integer'));
  }
  return every === undefined ? resolved : { ...resolved, rotationCheckMs: every };
}

function resolveRing(options: {
  secrets?: SecretsKekOptions;
  env: NodeJS.ProcessEnv;
  sealKey: SealKey;
  dataDir: string;
}): ResolvedKek {
  const given = options.secrets?.kek;
  if (given) {
    return {
      ring: given instanceof KekRing ? given : new KekRing(given),
      source: 'option',
      warnings: [],
    };
  }
  const env = options.env.WARD_SECRETS_KEK;
  if (env) {
    try {
      return {
        ring: parseKekSpec(env, 'WARD_SECRETS_KEK'),
        source: 'env:WARD_SECRETS_KEK',
        warnings: [],
      };
    } catch (error) {
      invalid(error);
    }
  }
  if (options.secrets?.kekFile) {
    const file = resolve(options.secrets.kekFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      invalid(new Error(`cannot read the secrets KEK file ${file}: ${(error as Error).message}`));
    }
    let ring: KekRing;
    try {
      ring = parseKekSpec(text, file);
    } catch (error) {
      if (error instanceof SecretsError) invalid(error);
      throw error;
    }
    const warnings: string[] = [];
    if (isInside(options.dataDir, file)) {
      warnings.push(
        `the secrets KEK file ${file} is inside the data directory ${resolve(options.dataDir)}: a copy of that directory decrypts every secret. Keep it elsewhere (docs/operations.md)`,
      );
    }
    if (statSync(file).mode & 0o077) {
      warnings.push(`${file} is readable by others; it should be mode 600`);
    }
    return { ring, source: file, warnings };
  }
  const derived = hkdfSync(
    'sha256',
    options.sealKey.bytes,
    Buffer.alloc(0),
    'ward-secrets-kek/v1',
    32,
  );
  return {
    ring: new KekRing(localKek('seal', new Uint8Array(derived))),
    source: 'seal-key',
    warnings: [
      'secrets are encrypted under a KEK derived from the seal key: whoever holds the seal key can read them. Set WARD_SECRETS_KEK or --secrets-kek-file (docs/operations.md)',
    ],
  };
}
