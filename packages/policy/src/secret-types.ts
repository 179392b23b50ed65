/**
 * The `Secret` document kind (issue 16): who owns a secret, which services may read it, how its
 * value is made (static, generated, or a dynamic PostgreSQL login) and rotated. It declares and
 * authorizes; it holds no value and no rule, and it is in no bundle. secret-check.ts checks it.
 */
import type { API_VERSION, Metadata } from './types.ts';

/** How a secret's value comes to be. */
export type SecretType = 'static' | 'random' | 'keypair' | 'postgres';

/** Characters of a generated `random` value. */
export type SecretAlphabet = 'base64url' | 'hex' | 'alphanumeric';

/** Key algorithm of a generated `keypair` value. */
export type SecretKeyAlgorithm = 'ed25519' | 'ecdsa-p256' | 'rsa-2048';

/** `kind: Secret` — a secret's owner, readers, type and rotation; its key is the secret's key. */
export interface SecretDocument {
  apiVersion: typeof API_VERSION;
  kind: 'Secret';
  metadata: Metadata;
  spec: {
    /**
     * The owning service (`name` in this namespace, or `namespace/name`): its owners write the
     * document and the values.
     */
    owner: string;
    /** Services allowed to read the value; unique, no `*`. Default none. */
    readers?: string[];
    /** Default `static`. */
    type?: SecretType;
    /** Only with `type: random`. */
    random?: { length?: number; alphabet?: SecretAlphabet };
    /** Only with `type: keypair`. */
    keypair?: { algorithm?: SecretKeyAlgorithm };
    rotation?: {
      /** Scheduled rotation (only `random` and `keypair`); at least 1m. */
      every?: string;
      /** How long a replaced version stays valid: 0s..30d, default 1h. */
      grace?: string;
      /** Delay before a new version becomes current: 0s..1h, default 5s. */
      activation?: string;
    };
    /** Required with `type: postgres`, refused otherwise. */
    postgres?: {
      /** A static Secret whose field `url` is a postgres:// URL of a role with CREATEROLE. */
      connection: string;
      /** Lease time: 1m..24h, default 1h. */
      ttl?: string;
      /** Longest life of one login: ttl..30d, default 24h. */
      maxTtl?: string;
      /** 1..32 statements; `{{name}}` becomes the quoted role name. */
      grants: string[];
    };
  };
}

/** A Secret's settings with every default applied and durations in milliseconds. */
export interface SecretSettings {
  type: SecretType;
  random?: { length: number; alphabet: SecretAlphabet };
  keypair?: { algorithm: SecretKeyAlgorithm };
  rotation: { everyMs: number | null; graceMs: number; activationMs: number };
  postgres?: { connectionKey: string; ttlMs: number; maxTtlMs: number; grants: string[] };
}
