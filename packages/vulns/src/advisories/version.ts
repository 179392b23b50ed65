/**
 * OSV range evaluation for npm (SEMVER and ECOSYSTEM ranges both use SemVer 2.0 precedence,
 * prereleases included: `1.0.0-beta` sorts before `1.0.0`, so `[0, 1.0.0)` holds it).
 */

import semver from 'semver';
import type { AffectedPackage, OsvEvent } from '../types.ts';

type SemVer = semver.SemVer;

/** A version of an OSV event or an installed package; `undefined` when not a semantic version. */
export function parseRangeVersion(v: string): SemVer | undefined {
  if (v.length > 256) return undefined;
  return semver.parse(v) ?? semver.parse(v, { loose: true }) ?? undefined;
}

/** One event with its version parsed: `-Infinity` for `introduced: "0"`, `Infinity` for a `*` limit. */
interface CompiledEvent {
  kind: 'introduced' | 'fixed' | 'last_affected' | 'limit';
  at: SemVer | number;
}

export interface CompiledRange {
  /** Events other than limits, sorted by version (ties keep their order in the record). */
  events: CompiledEvent[];
  /** Limit versions; empty when none (OSV's implicit `*`). */
  limits: (SemVer | number)[];
}

export interface CompiledAffected {
  versions: Set<string>;
  ranges: CompiledRange[];
}

function kindOf(e: OsvEvent): CompiledEvent['kind'] {
  if ('introduced' in e) return 'introduced';
  if ('fixed' in e) return 'fixed';
  if ('last_affected' in e) return 'last_affected';
  return 'limit';
}

function versionOf(e: OsvEvent): string {
  return Object.values(e)[0] as string;
}

function cmp(a: SemVer | number, b: SemVer | number): number {
  if (typeof a === 'number' || typeof b === 'number') {
    const x = typeof a === 'number' ? a : 0;
    const y = typeof b === 'number' ? b : 0;
    return x === y ? 0 : x < y ? -1 : 1;
  }
  return a.compare(b);
}

/** Compiles ranges once; events whose version does not parse are left out (the parser refuses them). */
export function compileAffected(a: AffectedPackage): CompiledAffected {
  const ranges: CompiledRange[] = [];
  for (const r of a.ranges) {
    const events: CompiledEvent[] = [];
    const limits: (SemVer | number)[] = [];
    for (const e of r.events) {
      const kind = kindOf(e);
      const v = versionOf(e);
      let at: SemVer | number | undefined;
      if (kind === 'introduced' && v === '0') at = Number.NEGATIVE_INFINITY;
      else if (kind === 'limit' && v.includes('*')) at = Number.POSITIVE_INFINITY;
      else at = parseRangeVersion(v);
      if (at === undefined) continue;
      if (kind === 'limit') limits.push(at);
      else events.push({ kind, at });
    }
    // Array.prototype.sort is stable: equal versions keep the record's order.
    events.sort((x, y) => cmp(x.at, y.at));
    ranges.push({ events, limits });
  }
  return { versions: new Set(a.versions), ranges };
}

/**
 * OSV's `IsVulnerable` for one affected package (schema "Evaluation"): listed in `versions`, or
 * inside any range. `version` is the installed version string; `parsed` its parse (or undefined).
 */
export function isAffected(
  c: CompiledAffected,
  version: string,
  parsed: SemVer | undefined,
): boolean {
  if (c.versions.has(version)) return true;
  if (parsed === undefined) return false;
  for (const r of c.ranges) {
    if (r.limits.length > 0 && !r.limits.some((l) => cmp(parsed, l) < 0)) continue;
    let vulnerable = false;
    for (const e of r.events) {
      const d = cmp(parsed, e.at);
      if (e.kind === 'introduced') {
        if (d >= 0) vulnerable = true;
      } else if (e.kind === 'fixed') {
        if (d >= 0) vulnerable = false;
      } else if (d > 0) {
        // last_affected is inclusive: only versions after it are unaffected.
        vulnerable = false;
      }
    }
    if (vulnerable) return true;
  }
  return false;
}
