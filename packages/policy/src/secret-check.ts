/**
 * Semantic checks of schema-valid `Secret` documents, and the keys and settings the control plane
 * derives from them. A Secret carries no rule: `compile` checks it (so a bad one is refused with
 * its position) and otherwise ignores it; it is in no bundle.
 *
 * The grant templates are SQL run with a CREATEROLE login, so they are held to one statement each
 * (no `;`) with exactly one placeholder, `{{name}}`, which the control plane replaces with the
 * quoted role name it generated: nothing from a request ever reaches them.
 */
import type { ReportProblem } from './gateway-check.ts';
import { canonicalServiceKey, documentKey, documentNamespace } from './namespace.ts';
import type {
  SecretAlphabet,
  SecretDocument,
  SecretKeyAlgorithm,
  SecretSettings,
  SecretType,
} from './secret-types.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/** The defaults `secretSettings` applies. */
export const SECRET_DEFAULTS = Object.freeze({
  type: 'static' as SecretType,
  randomLength: 32,
  alphabet: 'base64url' as SecretAlphabet,
  algorithm: 'ed25519' as SecretKeyAlgorithm,
  grace: '1h',
  activation: '5s',
  ttl: '1h',
  maxTtl: '24h',
});

/**
 * Milliseconds of a duration (`500ms`, `30s`, `5m`, `1h`, `7d`: digits and one unit), or
 * undefined when `text` is not one.
 */
export function durationMs(text: string): number | undefined {
  const m = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(text);
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

/** The bounds of each duration field, in ms (inclusive). */
const BOUNDS: Record<string, { min: number; max: number; text: string }> = {
  '/spec/rotation/every': { min: MINUTE, max: 365 * DAY, text: '1m to 365d' },
  '/spec/rotation/grace': { min: 0, max: 30 * DAY, text: '0s to 30d' },
  '/spec/rotation/activation': { min: 0, max: HOUR, text: '0s to 1h' },
  '/spec/postgres/ttl': { min: MINUTE, max: DAY, text: '1m to 24h' },
  '/spec/postgres/maxTtl': { min: MINUTE, max: 30 * DAY, text: '1m to 30d' },
};

/** The canonical key of a Secret (`shop/inventory-api-key`). */
export function secretDocumentKey(doc: Pick<SecretDocument, 'metadata'>): string {
  return documentKey(doc);
}

/**
 * The key of a Secret's owner service (`spec.owner`, relative to the secret's namespace).
 * @throws TypeError when `spec.owner` is not a service reference (a document that does not
 * validate).
 */
export function secretOwnerKey(doc: Pick<SecretDocument, 'metadata' | 'spec'>): string {
  const key =
    typeof doc.spec?.owner === 'string'
      ? canonicalServiceKey(doc.spec.owner, documentNamespace(doc))
      : undefined;
  if (key === undefined) {
    throw new TypeError(`secret "${documentKey(doc)}": spec.owner is not a service reference`);
  }
  return key;
}

/** The canonical keys of a Secret's readers, unique and sorted (invalid references skipped). */
export function secretReaderKeys(doc: Pick<SecretDocument, 'metadata' | 'spec'>): string[] {
  const namespace = documentNamespace(doc);
  const keys = new Set<string>();
  for (const r of doc.spec?.readers ?? []) {
    const key = typeof r === 'string' ? canonicalServiceKey(r, namespace) : undefined;
    if (key !== undefined) keys.add(key);
  }
  return [...keys].sort();
}

/** A Secret's settings: defaults applied, durations in ms (of a valid document). */
export function secretSettings(doc: Pick<SecretDocument, 'metadata' | 'spec'>): SecretSettings {
  const { spec } = doc;
  const type = spec.type ?? SECRET_DEFAULTS.type;
  const ms = (text: string | undefined, fallback: string) =>
    durationMs(text ?? fallback) ?? durationMs(fallback)!;
  const every = spec.rotation?.every;
  const settings: SecretSettings = {
    type,
    rotation: {
      everyMs:
        every !== undefined && (type === 'random' || type === 'keypair')
          ? (durationMs(every) ?? null)
          : null,
      graceMs: ms(spec.rotation?.grace, SECRET_DEFAULTS.grace),
      activationMs: ms(spec.rotation?.activation, SECRET_DEFAULTS.activation),
    },
  };
  if (type === 'random') {
    settings.random = {
      length: spec.random?.length ?? SECRET_DEFAULTS.randomLength,
      alphabet: spec.random?.alphabet ?? SECRET_DEFAULTS.alphabet,
    };
  } else if (type === 'keypair') {
    settings.keypair = { algorithm: spec.keypair?.algorithm ?? SECRET_DEFAULTS.algorithm };
  } else if (type === 'postgres' && spec.postgres) {
    const namespace = documentNamespace(doc);
    const pg = spec.postgres;
    settings.postgres = {
      connectionKey: canonicalServiceKey(pg.connection, namespace) ?? pg.connection,
      ttlMs: ms(pg.ttl, SECRET_DEFAULTS.ttl),
      maxTtlMs: ms(pg.maxTtl, SECRET_DEFAULTS.maxTtl),
      grants: [...pg.grants],
    };
  }
  return settings;
}

/** Why a grant template cannot be run, or undefined. */
export function grantProblem(grant: string): string | undefined {
  const shown = JSON.stringify(grant.slice(0, 60));
  if (grant.includes(';')) {
    return `grant ${shown} must be one statement, without ";"`;
  }
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(grant)) {
    return `grant ${shown} must not hold control characters`;
  }
  const placeholders = grant.match(/\{\{[^}]*\}\}/g) ?? [];
  const other = placeholders.find((p) => p !== '{{name}}');
  if (other !== undefined) {
    return `grant ${shown}: ${JSON.stringify(other.slice(0, 40))} is not a placeholder; only {{name}} (the role) is`;
  }
  if (placeholders.length === 0) {
    return `grant ${shown} must name the new role as {{name}}`;
  }
  const rest = grant.replaceAll('{{name}}', '');
  if (rest.includes('{{') || rest.includes('}}')) {
    return `grant ${shown} has an unbalanced "{{" or "}}"; only {{name}} is a placeholder`;
  }
  return undefined;
}

/** Checks a schema-valid Secret; every problem goes to `report`. */
export function checkSecret(secret: SecretDocument, report: ReportProblem): void {
  const { spec } = secret;
  const namespace = documentNamespace(secret);
  const type = spec.type ?? SECRET_DEFAULTS.type;
  const seen = new Map<string, number>();
  spec.readers?.forEach((reader, i) => {
    const at = `/spec/readers/${i}`;
    if (reader.includes('*')) {
      report(
        'POLICY_SECRET_INVALID',
        at,
        `reader "${reader.slice(0, 127)}": a secret's readers are named services; "*" and patterns are not allowed`,
      );
      return;
    }
    const key = canonicalServiceKey(reader, namespace);
    if (key === undefined) {
      report(
        'POLICY_SECRET_INVALID',
        at,
        `reader "${reader.slice(0, 127)}" is not a service (name or namespace/name)`,
      );
      return;
    }
    const first = seen.get(key);
    if (first !== undefined) {
      report('POLICY_DUPLICATE_NAME', at, `reader "${key}" is already listed (readers/${first})`);
      return;
    }
    seen.set(key, i);
  });
  for (const block of ['random', 'keypair', 'postgres'] as const) {
    if (spec[block] !== undefined && type !== block) {
      report(
        'POLICY_SECRET_INVALID',
        `/spec/${block}`,
        `"${block}" goes only with type ${block} (this secret is ${type})`,
      );
    }
  }
  if (type === 'postgres' && spec.postgres === undefined) {
    report('POLICY_SECRET_INVALID', '/spec/type', 'a postgres secret needs a "postgres" block');
  }
  if (spec.rotation?.every !== undefined && type !== 'random' && type !== 'keypair') {
    report(
      'POLICY_SECRET_INVALID',
      '/spec/rotation/every',
      `scheduled rotation is only for generated secrets (random, keypair), not ${type}`,
    );
  }
  const durations: [string, string | undefined][] = [
    ['/spec/rotation/every', spec.rotation?.every],
    ['/spec/rotation/grace', spec.rotation?.grace],
    ['/spec/rotation/activation', spec.rotation?.activation],
    ['/spec/postgres/ttl', spec.postgres?.ttl],
    ['/spec/postgres/maxTtl', spec.postgres?.maxTtl],
  ];
  for (const [path, text] of durations) {
    if (text === undefined) continue;
    const ms = durationMs(text);
    const bounds = BOUNDS[path]!;
    if (ms === undefined || ms < bounds.min || ms > bounds.max) {
      report('POLICY_DURATION_INVALID', path, `${text} is outside ${bounds.text}`);
    }
  }
  const pg = spec.postgres;
  if (pg !== undefined) {
    const ttl = durationMs(pg.ttl ?? SECRET_DEFAULTS.ttl);
    const maxTtl = durationMs(pg.maxTtl ?? SECRET_DEFAULTS.maxTtl);
    if (ttl !== undefined && maxTtl !== undefined && maxTtl < ttl) {
      report(
        'POLICY_DURATION_INVALID',
        pg.maxTtl !== undefined ? '/spec/postgres/maxTtl' : '/spec/postgres/ttl',
        `maxTtl ${pg.maxTtl ?? SECRET_DEFAULTS.maxTtl} is shorter than ttl ${pg.ttl ?? SECRET_DEFAULTS.ttl}`,
      );
    }
    if (canonicalServiceKey(pg.connection, namespace) === documentKey(secret)) {
      report(
        'POLICY_SECRET_INVALID',
        '/spec/postgres/connection',
        'a postgres secret cannot be its own connection (it names a static Secret)',
      );
    }
    pg.grants.forEach((grant, i) => {
      const problem = grantProblem(grant);
      if (problem) report('POLICY_SECRET_INVALID', `/spec/postgres/grants/${i}`, problem);
    });
  }
}
