/** A read-only FileSystem over the real disk for the reachability tests. */
import { readFileSync, statSync } from 'node:fs';
import type { FileSystem } from '../src/index.ts';

export function diskFileSystem(): FileSystem & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile(path) {
      reads.push(path);
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    isFile(path) {
      reads.push(path);
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    },
  };
}
