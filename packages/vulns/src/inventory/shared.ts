import semver from 'semver';
import { VulnsError } from '../errors.ts';
import type { InstalledPackage, Inventory } from '../types.ts';

/** The error code of a lockfile reader or of an SBOM reader. */
export type InputCode = 'VULNS_BAD_LOCKFILE' | 'VULNS_BAD_SBOM';

export function fail(
  code: InputCode,
  file: string,
  message: string,
  at?: string,
  cause?: unknown,
): never {
  const where = at === undefined ? file : `${file} (${at})`;
  throw new VulnsError(code, `${where}: ${message}`, {
    file,
    ...(at === undefined ? {} : { at }),
    ...(cause === undefined ? {} : { cause }),
  });
}

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property only: a key such as `constructor` or `__proto__` never reads the prototype. */
export function own(obj: Json, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Where in the text an offset falls, as `line N`. */
export function lineOf(text: string, offset: number): string {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return `line ${line}`;
}

/** Parses JSON, naming the line of a syntax error. */
export function parseJson(code: InputCode, text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return fail(
      code,
      file,
      `not JSON (${message.slice(0, 200)})`,
      jsonErrorLine(text, message),
      err,
    );
  }
}

/**
 * The line of a JSON.parse error. V8 gives a position for some errors only; for an unexpected
 * token it quotes the text around it (`Unexpected token '}', ..."  "x": \n}" is not valid JSON`),
 * which is found again in the text.
 */
function jsonErrorLine(text: string, message: string): string | undefined {
  const line = /\(line (\d+) column \d+\)/.exec(message)?.[1];
  if (line !== undefined) return `line ${line}`;
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position !== undefined) return lineOf(text, Number(position));
  if (/Unexpected end of JSON input/.test(message)) return lineOf(text, text.length);
  const quoted =
    /^Unexpected token '(.+?)', (?:\.\.\.)?"([\s\S]*?)(?:\.\.\.)?" is not valid JSON$/.exec(
      message,
    );
  if (quoted?.[1] !== undefined && quoted[2] !== undefined) {
    const at = text.indexOf(quoted[2]);
    const token = quoted[2].indexOf(quoted[1]);
    if (at >= 0 && token >= 0) return lineOf(text, at + token);
  }
  return undefined;
}

// npm's rules for a package name, loosely: scoped or not, no spaces, no path tricks.
const NAME = /^(?:@[a-z0-9][\w.~-]*\/)?[a-z0-9_.~-][\w.~-]*$/i;

export function isPackageName(name: string): boolean {
  return name.length > 0 && name.length <= 214 && NAME.test(name) && name !== '.' && name !== '..';
}

/** An exact version (semver, npm's loose reading allowed), normalised; undefined otherwise. */
export function exactVersion(version: unknown): string | undefined {
  if (typeof version !== 'string' || version.length > 256) return undefined;
  return semver.valid(version, { loose: true }) ?? undefined;
}

/**
 * Collects packages, one per name@version@path: a package met twice is direct if either says so,
 * and development-only only if both say so.
 */
export class PackageSet {
  readonly #byKey = new Map<string, InstalledPackage>();

  add(pkg: InstalledPackage): void {
    const key = `${pkg.name}@${pkg.version}@${pkg.path}`;
    const seen = this.#byKey.get(key);
    if (seen === undefined) {
      const entry: InstalledPackage = { name: pkg.name, version: pkg.version, path: pkg.path };
      if (pkg.direct !== undefined) entry.direct = pkg.direct;
      if (pkg.dev !== undefined) entry.dev = pkg.dev;
      this.#byKey.set(key, entry);
      return;
    }
    if (pkg.direct !== undefined) seen.direct = seen.direct === true || pkg.direct;
    if (pkg.dev !== undefined) seen.dev = seen.dev === undefined ? pkg.dev : seen.dev && pkg.dev;
  }

  inventory(format: string, file: string): Inventory {
    return { format, file, packages: [...this.#byKey.values()] };
  }
}
