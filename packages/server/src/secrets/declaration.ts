/**
 * Reads a stored `Secret` document (SPEC §1) with its defaults applied. An adapter of its own
 * until `@ward/policy` exports `secretDocumentKey`/`secretSettings`: the integrator replaces the
 * body of {@link declarationOf} with those. A document that does not have the shape gives
 * undefined (the apply path validates documents; this is the read side).
 */
import { canonicalServiceKey } from '@ward/spiffe';

export type SecretType = 'static' | 'random' | 'keypair' | 'postgres';

export interface SecretDeclaration {
  /** The secret's key (`name`, `namespace/name`). */
  key: string;
  /** The owning service's key. */
  owner: string;
  /** Reader service keys, sorted. */
  readers: string[];
  type: SecretType;
  rotation: { everyMs: number | null; graceMs: number; activationMs: number };
  random?: { length: number; alphabet: 'base64url' | 'hex' | 'alphanumeric' };
  keypair?: { algorithm: 'ed25519' | 'ecdsa-p256' | 'rsa-2048' };
  postgres?: { connectionKey: string; ttlMs: number; maxTtlMs: number; grants: string[] };
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `90s`, `1h`, `250ms` → ms; undefined when not a duration. */
export function durationMs(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** ms → the largest unit that divides it (`3600000` → `1h`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

function ref(value: unknown, namespace: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  const q = value.includes('/') ? value : namespace === 'default' ? value : `${namespace}/${value}`;
  return canonicalServiceKey(q);
}

function duration(value: unknown, fallback: number): number | undefined {
  return value === undefined ? fallback : durationMs(value);
}

/** The declaration of a stored `Secret` document body, or undefined when it is not one. */
export function declarationOf(body: unknown): SecretDeclaration | undefined {
  const doc = body as {
    kind?: unknown;
    metadata?: { name?: unknown; namespace?: unknown };
    spec?: Record<string, unknown>;
  } | null;
  if (typeof doc !== 'object' || doc === null || doc.kind !== 'Secret') return undefined;
  const namespace =
    typeof doc.metadata?.namespace === 'string' ? doc.metadata.namespace : 'default';
  const key = ref(doc.metadata?.name, namespace);
  const spec = doc.spec;
  if (!key || typeof spec !== 'object' || spec === null) return undefined;
  const owner = ref(spec.owner, namespace);
  if (!owner) return undefined;
  const readerRefs = spec.readers === undefined ? [] : spec.readers;
  if (!Array.isArray(readerRefs)) return undefined;
  const readers = new Set<string>();
  for (const r of readerRefs) {
    const k = ref(r, namespace);
    if (!k) return undefined;
    readers.add(k);
  }
  const type = (spec.type ?? 'static') as SecretType;
  if (!['static', 'random', 'keypair', 'postgres'].includes(type)) return undefined;
  const rot = (spec.rotation ?? {}) as Record<string, unknown>;
  const everyMs = rot.every === undefined ? null : durationMs(rot.every);
  const graceMs = duration(rot.grace, 3_600_000);
  const activationMs = duration(rot.activation, 5_000);
  if (everyMs === undefined || graceMs === undefined || activationMs === undefined)
    return undefined;
  const out: SecretDeclaration = {
    key,
    owner,
    readers: [...readers].sort(),
    type,
    rotation: {
      everyMs: type === 'random' || type === 'keypair' ? everyMs : null,
      graceMs,
      activationMs,
    },
  };
  if (type === 'random') {
    const r = (spec.random ?? {}) as Record<string, unknown>;
    const length = r.length ?? 32;
    const alphabet = r.alphabet ?? 'base64url';
    if (
      typeof length !== 'number' ||
      !['base64url', 'hex', 'alphanumeric'].includes(alphabet as string)
    ) {
      return undefined;
    }
    out.random = { length, alphabet: alphabet as 'base64url' };
  }
  if (type === 'keypair') {
    const algorithm = ((spec.keypair ?? {}) as Record<string, unknown>).algorithm ?? 'ed25519';
    if (!['ed25519', 'ecdsa-p256', 'rsa-2048'].includes(algorithm as string)) return undefined;
    out.keypair = { algorithm: algorithm as 'ed25519' };
  }
  if (type === 'postgres') {
    const p = (spec.postgres ?? {}) as Record<string, unknown>;
    const connectionKey = ref(p.connection, namespace);
    const ttlMs = duration(p.ttl, 3_600_000);
    const maxTtlMs = duration(p.maxTtl, 86_400_000);
    const grants = p.grants;
    if (
      !connectionKey ||
      ttlMs === undefined ||
      maxTtlMs === undefined ||
      !Array.isArray(grants) ||
      !grants.every((g) => typeof g === 'string')
    ) {
      return undefined;
    }
    out.postgres = { connectionKey, ttlMs, maxTtlMs, grants: grants as string[] };
  }
  return out;
}
