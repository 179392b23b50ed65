import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SignedBundleV1 } from '@ward/api-types';
import { PdpError } from './errors.ts';

/** Where the last good bundle of `service` lives inside `cacheDir`. */
export function cacheFile(cacheDir: string, service: string): string {
  // Service names are DNS-like, but the cache must not be steered outside its folder by any name.
  return join(cacheDir, `${encodeURIComponent(service).replaceAll('.', '%2E')}.bundle.json`);
}

/**
 * Reads the cached envelope as untrusted JSON (the caller verifies it). Synchronous on purpose:
 * it runs once, at start, so that `decide()` answers from the cache as soon as `createPdp`
 * returns. `undefined` when there is no cache yet (a file holding `null` is a bad cache, not
 * none); `PDP_CACHE_UNREADABLE` when it is not JSON.
 */
export function readCache(cacheDir: string, service: string): unknown {
  const file = cacheFile(cacheDir, service);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // no cache yet (or no folder)
    throw new PdpError('PDP_CACHE_UNREADABLE', `cannot read bundle cache ${file}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PdpError('PDP_CACHE_UNREADABLE', `bundle cache ${file} is not JSON`, {
      cause: error,
    });
  }
}

/** Creates the cache folder (owner-only) if needed; synchronous for the same reason as reading. */
export function ensureCacheDir(cacheDir: string): void {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
}

/**
 * Writes the envelope atomically (see {@link writeFileAtomic}). Mode 0600 because bundles carry
 * passport HMAC keys.
 */
export async function writeCache(
  cacheDir: string,
  service: string,
  envelope: SignedBundleV1,
): Promise<void> {
  const file = cacheFile(cacheDir, service);
  try {
    await writeFileAtomic(cacheDir, file, JSON.stringify(envelope));
  } catch (error) {
    throw new PdpError('PDP_CACHE_WRITE_FAILED', `cannot write bundle cache ${file}`, {
      cause: error,
    });
  }
}

/**
 * Writes `text` to `file` (inside `dir`, created 0700) atomically: a temporary file in the same
 * folder, flushed to disk, renamed over the old one, then the folder flushed so the rename itself
 * survives a power loss. A crash leaves either the old or the new content, never half of one.
 */
export async function writeFileAtomic(dir: string, file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a folder; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => {});
  }
}
