/**
 * The control plane's seal key: one AES-256-GCM key that encrypts every private key it keeps at
 * rest (the bundle-signing key file, the passport HMAC secrets in the store, the CA keys). The
 * pure seal/unseal functions live in `@ward/ca`; this shell decides where the key comes from.
 *
 * Source order: `WARD_SEAL_KEY` (or its older name `WARD_CA_KEY`) from the environment, then a
 * key file the operator names (`--seal-key-file`), then — so that `npm start` works with no
 * setup — a key file generated in the data directory, which the start reports as a warning.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { generateSealKey, parseSealKey, type SealKey, seal, unseal } from '@ward/ca';
import { ServerError } from '../errors.ts';

export interface SealKeyOptions {
  /** A key given programmatically wins over everything else. */
  sealKey?: SealKey;
  /** Key file named by the operator; it must exist (32 bytes, hex or base64). */
  file?: string;
  env: NodeJS.ProcessEnv;
  dataDir: string;
  /** Generate the default key file when there is none (true for a start, false for a reseal). */
  create?: boolean;
}

export interface ResolvedSealKey {
  key: SealKey;
  /** Where the key came from: `option`, `env:WARD_SEAL_KEY`, `env:WARD_CA_KEY` or a file path. */
  source: string;
  /** True when this start generated the key file. */
  created: boolean;
  /** Loud warnings for the start banner: the key sits next to the data, or is readable by others. */
  warnings: string[];
}

/** The default key file; `ca-seal.key` is what the CA plugin generated before the key was shared. */
const DEFAULT_FILE = 'seal.key';
const LEGACY_FILE = 'ca-seal.key';

function invalid(message: string, cause?: unknown): ServerError {
  return new ServerError('SERVER_SEAL_KEY_INVALID', message, { cause });
}

function parse(text: string, source: string): SealKey {
  try {
    return parseSealKey(text, source);
  } catch (cause) {
    throw invalid((cause as Error).message, cause);
  }
}

function readKeyFile(file: string): SealKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw invalid(
      `cannot read the seal key file ${file}: ${(cause as Error).message} (create one with \`openssl rand -base64 32 > ${file}; chmod 600 ${file}\`)`,
      cause,
    );
  }
  return parse(text, file);
}

/** Whether `file` lies inside `dir` (then a copy of `dir` carries the key with the data). */
export function isInside(dir: string, file: string): boolean {
  const rel = relative(resolve(dir), resolve(file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function fileWarnings(file: string, dataDir: string): string[] {
  const warnings: string[] = [];
  if (isInside(dataDir, file)) {
    warnings.push(
      `the seal key ${file} is inside the data directory ${resolve(dataDir)}: anyone with a copy of that directory (a backup, a volume snapshot) can decrypt every key it protects. Set WARD_SEAL_KEY or --seal-key-file to a key kept elsewhere (docs/operations.md)`,
    );
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    warnings.push(
      `${file} has mode ${mode.toString(8)}; it should be 600 (readable by its owner only)`,
    );
  }
  return warnings;
}

/** Finds the seal key (see the module comment for the order). */
export function resolveSealKey(options: SealKeyOptions): ResolvedSealKey {
  if (options.sealKey)
    return { key: options.sealKey, source: 'option', created: false, warnings: [] };
  for (const name of ['WARD_SEAL_KEY', 'WARD_CA_KEY']) {
    const text = options.env[name];
    if (text)
      return { key: parse(text, name), source: `env:${name}`, created: false, warnings: [] };
  }
  if (options.file) {
    const file = resolve(options.file);
    return {
      key: readKeyFile(file),
      source: file,
      created: false,
      warnings: fileWarnings(file, options.dataDir),
    };
  }
  const legacy = join(options.dataDir, LEGACY_FILE);
  let file = join(options.dataDir, DEFAULT_FILE);
  let created = false;
  if (!exists(file) && exists(legacy)) file = legacy;
  else if (!exists(file) && options.create !== false) {
    try {
      // `wx`: never overwrite a key another replica (or process) just wrote.
      writeFileSync(file, `${generateSealKey()}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw invalid(
          `cannot create the seal key file ${file}: ${(cause as Error).message}`,
          cause,
        );
      }
    }
  }
  return {
    key: readKeyFile(file),
    source: file,
    created,
    warnings: fileWarnings(file, options.dataDir),
  };
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Seals `plaintext` for the slot `purpose` (bound as associated data). */
export function sealText(key: SealKey, plaintext: string, purpose: string): string {
  return seal(key, Buffer.from(plaintext, 'utf8'), purpose);
}

/** Opens what {@link sealText} produced; a wrong key or altered text is `SERVER_UNSEAL_FAILED`. */
export function openText(key: SealKey, sealed: string, purpose: string, what: string): string {
  try {
    return unseal(key, sealed, purpose).toString('utf8');
  } catch (cause) {
    throw new ServerError(
      'SERVER_UNSEAL_FAILED',
      `cannot decrypt ${what}: the seal key (WARD_SEAL_KEY / --seal-key-file) is not the one it was sealed with, or it was altered`,
      { cause },
    );
  }
}

/** Whether a stored value is sealed (the `v1.` prefix of `seal`), as opposed to legacy plaintext. */
export function isSealed(value: string): boolean {
  return value.startsWith('v1.');
}

/**
 * Replaces `file` with `text` atomically (temporary file 0600 in the same folder, fsync, rename),
 * so a crash during a migration leaves the old or the new key, never a torn one.
 */
export function replaceFileAtomic(file: string, text: string): void {
  const temp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
