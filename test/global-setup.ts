/**
 * Tests clean up what they create. Every test run gets a private temporary directory (mode 0711:
 * other users may pass through it, as the tests that run processes as `nobody` or `postgres`
 * need, but nobody else may list or write it), and `TMPDIR` points at it, so `os.tmpdir()` in
 * every test worker and every child process that inherits the environment lands there. After
 * the run, anything left in it was made by this run's tests and not removed: the run fails and
 * names each entry. Other runs on the same machine use their own directory, so they never show
 * up here.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConsole } from '../tools/build-console.ts';

export default async function setup(): Promise<() => void> {
  // The console tests (and the control plane's `/`) serve the built console: build it first
  // when it is missing or older than its sources, as `npm start` does.
  await buildConsole({ ifStale: true });
  const outer = process.env.TMPDIR;
  const runDir = mkdtempSync(join(tmpdir(), 'ward-test-run-'));
  chmodSync(runDir, 0o711);
  process.env.TMPDIR = runDir;
  return function teardown(): void {
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    // Each entry with a few of the names inside it, to tell which test made it.
    const left = readdirSync(runDir).map((name) => {
      let inside: string[] = [];
      try {
        inside = readdirSync(join(runDir, name)).slice(0, 4);
      } catch {
        // a file, not a directory
      }
      return inside.length > 0 ? `${name} (${inside.join(', ')})` : name;
    });
    rmSync(runDir, { recursive: true, force: true });
    if (left.length > 0) {
      // Vitest reports an error thrown here but still exits 0: set the exit code as well.
      process.exitCode = 1;
      throw new Error(
        `tests left ${left.length} temporary entr${left.length === 1 ? 'y' : 'ies'} behind (now removed): ${left.sort().join(', ')}. ` +
          'Remove what a test creates in afterAll or finally.',
      );
    }
  };
}
