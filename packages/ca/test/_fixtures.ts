import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs the real openssl CLI over files written to a temp dir; returns stdout (throws on failure). */
export function openssl(files: Record<string, string>, args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ca-ossl-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Like {@link openssl} but returns the exit status and output instead of throwing. */
export function opensslStatus(
  files: Record<string, string>,
  args: string[],
): { ok: boolean; out: string } {
  try {
    return { ok: true, out: openssl(files, args) };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
