import * as yarnLockfile from '@yarnpkg/lockfile';
import type { Inventory } from '../types.ts';
import { exactVersion, fail, isPackageName, isRecord, own, PackageSet } from './shared.ts';

const CODE = 'VULNS_BAD_LOCKFILE';

// The package is a CommonJS bundle: Node's ESM import sees `parse` only on the default export,
// bundlers' interop (Vitest) as a named export. Either way, take the function itself.
type Parse = typeof yarnLockfile.parse;
const lib = yarnLockfile as unknown as { parse?: Parse; default?: { parse?: Parse } };
const parseLockfile: Parse = (() => {
  const parse = typeof lib.parse === 'function' ? lib.parse : lib.default?.parse;
  if (typeof parse !== 'function') throw new TypeError('@yarnpkg/lockfile has no parse()');
  return parse;
})();

/**
 * Reads a yarn classic (v1) `yarn.lock`. Each package is listed once per name@version (its path).
 * The lockfile does not say which packages are direct or development-only, so neither is set.
 * An alias (`"a@npm:b@^1"`) is listed under the real package's name.
 *
 * @example
 * readYarnClassicLockfile(text, 'yarn.lock').packages; // [{ name: 'debug', version: '4.3.4', path: 'debug@4.3.4' }, …]
 */
export function readYarnClassicLockfile(text: string, file: string): Inventory {
  let object: Record<string, unknown>;
  try {
    const parsed = parseLockfile(text);
    if (parsed.type === 'conflict')
      fail(CODE, file, 'the lockfile has merge conflicts yarn cannot resolve');
    object = parsed.object;
  } catch (err) {
    if (err instanceof Error && err.name === 'VulnsError') throw err;
    const message = err instanceof Error ? err.message : String(err);
    const line = /(\d+):\d+ in lockfile/.exec(message)?.[1];
    fail(
      CODE,
      file,
      `not a yarn lockfile (${message.slice(0, 200)})`,
      line === undefined ? undefined : `line ${line}`,
      err,
    );
  }
  if (!isRecord(object)) fail(CODE, file, 'not a yarn lockfile');
  const out = new PackageSet();
  for (const [key, entry] of Object.entries(object)) {
    const at = JSON.stringify(key);
    if (!isRecord(entry)) fail(CODE, file, 'an entry is not a block of fields', at);
    const name = nameOf(key);
    if (name === undefined) fail(CODE, file, 'the entry names no package', at);
    const raw = own(entry, 'version');
    const version = exactVersion(typeof raw === 'number' ? String(raw) : raw);
    if (version === undefined)
      fail(
        CODE,
        file,
        `the version ${JSON.stringify(raw) ?? '(missing)'} is not exact`,
        `${at}.version`,
      );
    out.add({ name, version, path: `${name}@${version}` });
  }
  return out.inventory('yarn-classic', file);
}

/** `a@^1`, `@s/a@^1` and an alias `a@npm:@s/b@^1` (its real name: `@s/b`). */
function nameOf(key: string): string | undefined {
  const at = key.indexOf('@', 1);
  if (at < 0) return isPackageName(key) ? key : undefined;
  const name = key.slice(0, at);
  const range = key.slice(at + 1);
  if (range.startsWith('npm:')) {
    const spec = range.slice(4);
    const split = spec.indexOf('@', 1);
    const real = split < 0 ? spec : spec.slice(0, split);
    // `a@npm:^1` is not an alias, only a protocol.
    if (isPackageName(real) && !/^[\^~<>=\d*]/.test(real)) return real;
  }
  return isPackageName(name) ? name : undefined;
}
