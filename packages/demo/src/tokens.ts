/**
 * The demo's secrets on disk. The control plane stores only token hashes and shows a generated
 * admin token once, but a demo restarted on the same data dir must still print a working token:
 * so the demo makes its own admin token, keeps it in `<dataDir>/admin.token` (mode 0600), and
 * hands it to the control plane as the bootstrap token (what `WARD_ADMIN_TOKEN` does).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { DemoError } from './errors.ts';

/** A token in the control plane's own format (`ward_` + 32 random bytes, base64url). */
export function newToken(): string {
  return `ward_${randomBytes(32).toString('base64url')}`;
}

/**
 * Reads the token kept in `file`, or creates one there (0600, never overwriting a file another
 * process just wrote). Refuses a file others can read: it would hand out admin access.
 */
export function loadOrCreateToken(file: string): { token: string; created: boolean } {
  if (!existsSync(file)) {
    try {
      writeFileSync(file, `${newToken()}\n`, { mode: 0o600, flag: 'wx' });
      return { token: readToken(file), created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new DemoError(
      'DEMO_TOKEN_FILE_UNSAFE',
      `${file} is readable by others (mode ${mode.toString(8)}); run \`chmod 600 ${file}\``,
    );
  }
  return { token: readToken(file), created: false };
}

/** Replaces the token kept in `file` (0600). */
export function saveToken(file: string, token: string): void {
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function readToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) {
    throw new DemoError(
      'DEMO_SETUP_FAILED',
      `${file} does not hold a token; delete it to start over`,
    );
  }
  return token;
}
