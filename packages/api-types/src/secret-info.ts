/**
 * Secrets as their owners see them through the API (issue 16): summaries, versions' metadata and
 * leases — never a value or a credential. Free of Node types, so the web console reads them
 * through `@ward/api-types/console`; secrets.ts re-exports them beside the agent's wire shapes.
 */

/** How a secret's values come to be. */
export type SecretTypeV1 = 'static' | 'random' | 'keypair' | 'postgres';

/** A secret as `GET /v1/secrets` lists it: never a value. */
export interface SecretSummaryV1 {
  secret: string;
  /** The owning service's key (from the `Secret` document; null when undeclared). */
  owner: string | null;
  type: SecretTypeV1;
  /** Service keys allowed to read it. */
  readers: string[];
  currentVersion: number | null;
  /** Versions kept (destroyed ones included). */
  versionCount: number;
  /** ISO time of the newest version, or null before the first. */
  updatedAt: string | null;
  /** Rotation settings as durations (`24h`); `every` null when not scheduled. */
  rotation: { every: string | null; grace: string; activation: string };
  nextRotationAt: string | null;
  activeLeases: number;
}

/** One version's metadata (`GET /v1/secrets/:secret/versions`): never a value. */
export interface SecretVersionInfoV1 {
  version: number;
  createdAt: string;
  createdBy: string;
  notBefore: string;
  notAfter: string | null;
  state: 'pending' | 'current' | 'previous' | 'expired' | 'destroyed';
  source: 'put' | 'rotate' | 'rollback';
  /** The key-encryption key that wraps its data key. */
  kek: string;
}

/** A lease as listed to owners (`GET /v1/secrets/:secret/leases`): never the credential. */
export interface LeaseInfoV1 {
  id: string;
  secret: string;
  service: string;
  node: string;
  agent: string;
  role: string;
  createdAt: string;
  expiresAt: string;
  maxExpiresAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
}

/** Answer of a value write (`PUT`, `POST …/rotate`, `POST …/rollback`): never the value. */
export interface SecretWriteResultV1 {
  secret: string;
  version: number;
  /** ISO time from which the new version is current. */
  notBefore: string;
  /** For a rollback: the version whose value the new one holds. */
  from?: number;
}
