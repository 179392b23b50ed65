/**
 * The life of a secret's versions in time. A version is valid from `notBefore` to `notAfter`
 * (exclusive; null = until superseded and then its grace ends). Rotation never swaps a value at
 * one instant everywhere — the fleet learns of a new version over the push stream, so:
 *
 * - a new version is delivered at once but becomes *current* (what callers send) only at
 *   `notBefore = created + activation`, once every holder has had time to receive it;
 * - the version it replaces stays *valid* (what verifiers accept) until `notBefore + grace`.
 *
 * So a caller switching to the new key never meets a verifier that has not heard of it, and a
 * caller still on the old key is accepted through the grace period — the AWS Secrets Manager
 * AWSPENDING/AWSCURRENT/AWSPREVIOUS stages, computed from timestamps so every process agrees
 * without a second push. Times are epoch milliseconds.
 */
import { SecretsError } from './errors.ts';

/** One version's timing (values travel separately). */
export interface VersionTimes {
  /** 1, 2, 3 … per secret. */
  version: number;
  /** When the version becomes current (callers switch to it). */
  notBefore: number;
  /** When it stops being accepted; null while it is the newest version. */
  notAfter: number | null;
}

/** Defaults of a rotation (a `Secret` document's `spec.rotation` overrides them). */
export const DEFAULT_ACTIVATION_MS = 5_000;
export const DEFAULT_GRACE_MS = 60 * 60_000;

/** Whether `v` is accepted at `now` (pending versions are: verifiers must know them early). */
export function isValid(v: VersionTimes, now: number): boolean {
  return v.notAfter === null || now < v.notAfter;
}

/**
 * The version callers use at `now`: the newest whose `notBefore` has passed and that is still
 * valid; before any has activated (a secret's first version is active at once), the oldest valid.
 */
export function currentVersion<V extends VersionTimes>(
  versions: readonly V[],
  now: number,
): V | undefined {
  let best: V | undefined;
  let oldestValid: V | undefined;
  for (const v of versions) {
    if (!isValid(v, now)) continue;
    if (!oldestValid || v.version < oldestValid.version) oldestValid = v;
    if (v.notBefore <= now && (!best || v.version > best.version)) best = v;
  }
  return best ?? oldestValid;
}

/** Every version accepted at `now`, newest first (a verifier checks each). */
export function validVersions<V extends VersionTimes>(versions: readonly V[], now: number): V[] {
  return versions.filter((v) => isValid(v, now)).sort((a, b) => b.version - a.version);
}

/**
 * The next instant at which {@link currentVersion} or {@link validVersions} changes after `now`
 * (a pending version activates, an old one expires), or undefined when nothing is scheduled:
 * holders set one timer for it instead of polling.
 */
export function nextTransition(versions: readonly VersionTimes[], now: number): number | undefined {
  let next: number | undefined;
  for (const v of versions) {
    for (const t of [v.notBefore, v.notAfter]) {
      if (t !== null && t > now && (next === undefined || t < next)) next = t;
    }
  }
  return next;
}

/**
 * Timing of a new version added at `now` to `versions`: it activates after `activationMs` (at
 * once for a first version), and every still-open version closes `graceMs` after that. Returns
 * the new version's times and the updated `notAfter` of the versions it supersedes.
 */
export function planNewVersion(
  versions: readonly VersionTimes[],
  now: number,
  options: { activationMs?: number; graceMs?: number } = {},
): { next: VersionTimes; superseded: { version: number; notAfter: number }[] } {
  const activationMs = options.activationMs ?? DEFAULT_ACTIVATION_MS;
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  for (const [field, ms] of [
    ['activationMs', activationMs],
    ['graceMs', graceMs],
  ] as const) {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new SecretsError('SECRETS_BAD_VERSIONS', `${field} must be an integer >= 0`, { field });
    }
  }
  const newest = versions.reduce((m, v) => Math.max(m, v.version), 0);
  const first = !versions.some((v) => isValid(v, now));
  const notBefore = first ? now : now + activationMs;
  const superseded = versions
    .filter((v) => v.notAfter === null || v.notAfter > notBefore + graceMs)
    .map((v) => ({ version: v.version, notAfter: notBefore + graceMs }));
  return { next: { version: newest + 1, notBefore, notAfter: null }, superseded };
}

/** When a secret rotated every `everyMs`, last at `lastCreatedAt`, is next due. */
export function nextRotation(lastCreatedAt: number, everyMs: number): number {
  return lastCreatedAt + everyMs;
}
