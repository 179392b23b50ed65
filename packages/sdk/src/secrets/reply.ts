/**
 * Reads one `WatchSecret` reply of the node agent. The agent is local but not trusted with the
 * shape of what it relays: a reply is checked against the wire contract and the value limits
 * (≤ 64 fields, field names `^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`, names + values ≤ 64 KiB UTF-8)
 * before anything of it is served, and turned into frozen {@link SecretValue}s once, here.
 * Refusals name the offending field, never a value.
 */
import type { SecretTypeV1 } from '@ward/api-types';
import { checkSecretData, MAX_SECRET_BYTES, SecretsError } from '@ward/secrets';
import { SecretsClientError } from './errors.ts';

/** One version of a secret as the SDK serves it (frozen; built once per reply). */
export interface SecretValue {
  /** The secret's key (`name` or `namespace/name`). */
  readonly secret: string;
  readonly version: number;
  /** The value's fields (Vault KV v2's `data`). */
  readonly data: Readonly<Record<string, string>>;
  /** `data.value`: the value of a single-valued secret. */
  readonly value: string | undefined;
  /** Epoch ms from which callers use it. */
  readonly notBefore: number;
  /** Epoch ms from which it is no longer accepted; null while it is the newest version. */
  readonly notAfter: number | null;
  /** The lease behind a dynamic credential. */
  readonly lease?: { readonly id: string; readonly expiresAt: number };
}

/** A checked reply: the versions, newest first. */
export interface ParsedReply {
  readonly type: SecretTypeV1;
  readonly versions: readonly SecretValue[];
}

export const MAX_VERSIONS = 32;
export const MAX_DATA_BYTES = MAX_SECRET_BYTES;
const TYPES: ReadonlySet<string> = new Set(['static', 'random', 'keypair', 'postgres']);
const MAX_LEASE_ID = 256;

/**
 * Checks `message` as the reply for the secret `key` and builds its values. Throws
 * SECRETS_BAD_REPLY naming the first offending field.
 */
export function parseSecretReply(message: unknown, key: string): ParsedReply {
  const bad = (field: string, why: string): SecretsClientError =>
    new SecretsClientError('SECRETS_BAD_REPLY', `agent reply for ${key}: ${field} ${why}`, {
      secret: key,
    });
  if (!isRecord(message)) throw bad('reply', 'is not an object');
  if (message.secret !== key) throw bad('secret', `is not ${key}`);
  const type = message.type;
  if (typeof type !== 'string' || !TYPES.has(type)) throw bad('type', 'is not a secret type');
  const raw = message.versions;
  if (!Array.isArray(raw)) throw bad('versions', 'is not an array');
  if (raw.length > MAX_VERSIONS) throw bad('versions', `has more than ${MAX_VERSIONS} entries`);
  let lease: SecretValue['lease'];
  if (message.lease !== undefined) {
    const l = message.lease;
    if (!isRecord(l)) throw bad('lease', 'is not an object');
    if (typeof l.id !== 'string' || l.id.length === 0 || l.id.length > MAX_LEASE_ID) {
      throw bad('lease.id', `is not a string of 1..${MAX_LEASE_ID} characters`);
    }
    if (!isTime(l.expiresAt)) throw bad('lease.expiresAt', 'is not an epoch-ms integer');
    lease = Object.freeze({ id: l.id, expiresAt: l.expiresAt });
  }
  const seen = new Set<number>();
  const versions: SecretValue[] = [];
  for (let i = 0; i < raw.length; i++) {
    const v: unknown = raw[i];
    const at = `versions[${i}]`;
    if (!isRecord(v)) throw bad(at, 'is not an object');
    const version = v.version;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw bad(`${at}.version`, 'is not an integer >= 1');
    }
    if (seen.has(version)) throw bad(`${at}.version`, 'repeats an earlier version');
    seen.add(version);
    if (!isTime(v.notBefore)) throw bad(`${at}.notBefore`, 'is not an epoch-ms integer');
    if (v.notAfter !== null && !isTime(v.notAfter)) {
      throw bad(`${at}.notAfter`, 'is neither null nor an epoch-ms integer');
    }
    const data = checkData(v.data, `${at}.data`, bad);
    const value: SecretValue = {
      secret: key,
      version,
      data,
      value: Object.hasOwn(data, 'value') ? data.value : undefined,
      notBefore: v.notBefore,
      notAfter: v.notAfter,
      ...(lease === undefined ? {} : { lease }),
    };
    versions.push(Object.freeze(value));
  }
  versions.sort((a, b) => b.version - a.version);
  return { type: type as SecretTypeV1, versions };
}

function checkData(
  data: unknown,
  at: string,
  bad: (field: string, why: string) => SecretsClientError,
): Readonly<Record<string, string>> {
  // The control plane's own limits; the message names the field, never the value.
  try {
    return Object.freeze(checkSecretData(data));
  } catch (error) {
    if (error instanceof SecretsError) throw bad(at, error.message);
    throw error;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
