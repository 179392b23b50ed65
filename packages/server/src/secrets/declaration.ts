/**
 * A stored `Secret` document (docs/policy-language.md) read with its defaults applied, through
 * `@ward/policy`'s helpers: the one reading of the kind. Stored documents were validated at
 * apply; a row that still does not have the shape (written behind the API's back) gives
 * undefined rather than a half-read declaration.
 */
import {
  durationMs,
  type SecretDocument,
  type SecretSettings,
  secretDocumentKey,
  secretOwnerKey,
  secretReaderKeys,
  secretSettings,
} from '@ward/policy';

export { durationMs };

export type SecretType = SecretSettings['type'];

/** A Secret's key, owner and readers (canonical keys) with its settings. */
export interface SecretDeclaration extends SecretSettings {
  /** The secret's key (`name`, `namespace/name`). */
  key: string;
  /** The owning service's key. */
  owner: string;
  /** Reader service keys, sorted. */
  readers: string[];
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** ms → the largest unit that divides it (`3600000` → `1h`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

/** The declaration of a stored `Secret` document body, or undefined when it is not one. */
export function declarationOf(body: unknown): SecretDeclaration | undefined {
  const doc = body as SecretDocument | null;
  if (typeof doc !== 'object' || doc === null || doc.kind !== 'Secret') return undefined;
  if (typeof doc.spec !== 'object' || doc.spec === null) return undefined;
  try {
    return {
      key: secretDocumentKey(doc),
      owner: secretOwnerKey(doc),
      readers: secretReaderKeys(doc),
      ...secretSettings(doc),
    };
  } catch {
    return undefined;
  }
}
