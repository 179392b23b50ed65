/**
 * The Secrets view's data: where a secret lives in the API and in the console's URL, how its
 * times are shown, and which actions the signed-in token is offered. The server checks every
 * request itself; this only decides what is enabled. Nothing here ever touches a value: the
 * console reads metadata only (no `/value` path is built anywhere in it).
 */
import type { SecretSummaryV1, SecretVersionInfoV1 } from '@ward/api-types/console';
import { canonicalServiceKey } from '@ward/spiffe';
import type { Me } from '../api.ts';
import { countdown } from '../fleet/model.ts';
import { owns } from '../ownership.ts';

/**
 * The secret a console URL names (`#/secrets?secret=shop/api-key`), as its canonical key, or
 * null when the text is not a secret key (secret keys are shaped like service keys).
 */
export function secretKeyFromUrl(text: string): string | null {
  return canonicalServiceKey(text) ?? null;
}

/** The API path of a secret (its key is one percent-encoded segment: `shop%2Fapi-key`). */
export function secretPath(
  key: string,
  tail: '' | '/leases' | '/rotate' | '/rollback' = '',
): string {
  return `/v1/secrets/${encodeURIComponent(key)}${tail}`;
}

/** The console's link to a secret's detail. */
export function secretHref(key: string): string {
  return `#/secrets?${new URLSearchParams({ secret: key }).toString()}`;
}

/** The console's page of a service: the Graph view with the service selected. */
export function serviceHref(key: string): string {
  return `#/graph?${new URLSearchParams({ node: key }).toString()}`;
}

/** `2025-01-02 03:04:05 UTC` from an ISO time; `–` for none; the text itself if unparsable. */
export function stamp(iso: string | null): string {
  if (iso === null) return '–';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** `in 3h 02m`, `due` once past, `–` for none. */
export function dueIn(iso: string | null, now: number): string {
  if (iso === null) return '–';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return ms <= now ? 'due' : `in ${countdown(ms - now)}`;
}

/** Whether the token may write the secret's values (admin, or a team owning its owner). */
export function mayManage(me: Me, s: SecretSummaryV1): boolean {
  return s.owner !== null && owns(me, s.owner);
}

/** Whether the server generates the secret's values (only those can be rotated). */
export function isGenerated(s: SecretSummaryV1): boolean {
  return s.type === 'random' || s.type === 'keypair';
}

/**
 * Whether a rollback to `v` makes sense: its value still exists (not destroyed) and it is not
 * the newest version (rolling back to that would write the same value again).
 */
export function mayRollBackTo(
  v: SecretVersionInfoV1,
  versions: readonly SecretVersionInfoV1[],
): boolean {
  if (v.state === 'destroyed') return false;
  const newest = versions.reduce((m, x) => Math.max(m, x.version), 0);
  return v.version !== newest;
}

/** Versions newest first. */
export function newestFirst(versions: readonly SecretVersionInfoV1[]): SecretVersionInfoV1[] {
  return [...versions].sort((a, b) => b.version - a.version);
}

/** Whether a summary passes the text filter (secret, owner or a reader). */
export function matchesSecret(s: SecretSummaryV1, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (!t) return true;
  return [s.secret, s.owner ?? '', ...s.readers].some((v) => v.toLowerCase().includes(t));
}
