/**
 * The revision floor: the highest bundle revision this PDP has accepted from a control plane,
 * kept apart from the bundle cache. The cache file is meant to be replaceable (it is just the
 * last good bundle); anyone who can swap it for an older signed bundle would otherwise roll the
 * PDP's policy back at the next restart. With the floor in place, a cached (or served) bundle
 * older than the floor is refused, and the PDP waits for a control plane instead.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './cache.ts';
import { PdpError } from './errors.ts';

/**
 * Where the floor lives. `read` runs once, synchronously, at start (before the cache is
 * trusted); `write` after every bundle accepted from a control plane. Pass your own to keep the
 * floor somewhere the cache's writers cannot reach (a secret store, a root-owned file).
 */
export interface RevisionFloorStore {
  /** The floor of `service`, or `undefined` when none was ever written. Throws when unreadable. */
  read(service: string): number | undefined;
  write(service: string, revision: number): Promise<void>;
}

/** The floor file of `service` inside `dir` (named like the cache file, so any name is safe). */
export function floorFile(dir: string, service: string): string {
  return join(dir, `${encodeURIComponent(service).replaceAll('.', '%2E')}.floor.json`);
}

/**
 * The default store: one small JSON file per service in `dir` (0700), written atomically with
 * fsync, mode 0600. A missing file is "no floor yet"; a file that does not hold
 * `{service, revision}` for this service is `PDP_FLOOR_UNREADABLE`, which keeps the cache out.
 */
export function fileFloorStore(dir: string): RevisionFloorStore {
  return {
    read(service) {
      const file = floorFile(dir, service);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
        throw unreadable(file, error);
      }
      let value: { service?: unknown; revision?: unknown };
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw unreadable(file, error);
      }
      if (
        value?.service !== service ||
        typeof value.revision !== 'number' ||
        !Number.isSafeInteger(value.revision) ||
        value.revision < 0
      ) {
        throw unreadable(file, new Error('expected {"service", "revision"} for this service'));
      }
      return value.revision;
    },
    async write(service, revision) {
      await writeFileAtomic(dir, floorFile(dir, service), JSON.stringify({ service, revision }));
    },
  };
}

function unreadable(file: string, cause: unknown): PdpError {
  return new PdpError(
    'PDP_FLOOR_UNREADABLE',
    `revision floor ${file} is unreadable: ${(cause as Error)?.message ?? cause}`,
    { cause },
  );
}
