/**
 * Table types for Kysely. Every column is portable between SQLite and PostgreSQL: integers (a
 * 32-bit revision counter outlives any deployment), text, and JSON kept as text (so both dialects
 * return the exact bytes that were stored, which keeps bundle payloads byte-identical across
 * replicas).
 */
import type { Generated } from 'kysely';

export interface StateTable {
  id: number;
  /** Global monotonic revision: bumped once per committed change set. */
  revision: number;
  /** Revision of the last passport-key rotation; every bundle changes then. */
  keys_revision: number;
  /** 1 once the first-start admin token was generated. */
  bootstrapped: number;
  /** Sequence number of the last audit entry (the audit chain's head; 0 before the first). */
  audit_seq: Generated<number>;
  /** Hash of the last audit entry (GENESIS_HASH before the first; src/audit/chain.ts). */
  audit_head: Generated<string>;
  /**
   * 1 once stored documents were rewritten for namespaces (store/migrate-namespaces.ts): the
   * marker that makes that data migration run once.
   */
  namespaces_migrated: Generated<number>;
}

export interface DocumentsTable {
  kind: string;
  name: string;
  /** For intentions: spec.destination (indexed: a bundle reads the intentions on one service). */
  destination: string | null;
  /** JSON text of the document. */
  body: string;
  created_revision: number;
  updated_revision: number;
  updated_at: string;
  updated_by: string;
}

export interface RevisionsTable {
  revision: number;
  at: string;
  actor_id: string;
  actor_name: string;
  /** `apply`, `create`, `replace`, `delete`, `rotate-passport-keys`. */
  operation: string;
  /** JSON array of the services whose bundle changed (`["*"]` for all). */
  services: string;
  /**
   * JSON array of the secret keys whose declaration or value changed (migration 0005; `[]`
   * before). Server-side only: never in a PDP watch event.
   */
  secrets: string;
}

export interface ChangesTable {
  revision: number;
  seq: number;
  kind: string;
  name: string;
  action: string;
  before: string | null;
  after: string | null;
  file: string | null;
}

export interface ServiceRevisionsTable {
  service: string;
  revision: number;
}

export interface TokensTable {
  id: string;
  name: string;
  scope: string;
  /** JSON array of service keys for `team` tokens (for `pdp`: its one service). */
  services: string;
  /** JSON array of namespaces a `team` token owns whole (migration 0004; `[]` before). */
  namespaces: string;
  /** Hex SHA-256 of the token. */
  hash: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor_id: string;
  actor_name: string;
  action: string;
  target: string;
  revision: number | null;
  /** JSON object with details. */
  detail: string;
  /** Position in the hash chain; NULL only on a row inserted behind the chain's back. */
  seq: number | null;
  /** The previous entry's `hash` (src/audit/chain.ts). */
  prev_hash: string | null;
  /** SHA-256 over the entry's canonical serialisation (src/audit/chain.ts). */
  hash: string | null;
}

export interface PassportKeysTable {
  kid: string;
  /** base64url: the raw HMAC key (HS256) or the Ed25519 private seed (EdDSA). Secret. */
  secret: string;
  /** Trust zone (migration 0002); `default` for keys made before zones. */
  zone: Generated<string>;
  /** `HS256` or `EdDSA` (migration 0002). */
  alg: Generated<string>;
  /** EdDSA: base64url raw public key (not secret); null for HS256. */
  public_key: string | null;
  created_at: string;
  created_revision: number;
  /** `active` (signs and verifies), `previous` (verifies only), `retired` (gone from bundles). */
  status: string;
}

export interface Database {
  ward_state: StateTable;
  documents: DocumentsTable;
  revisions: RevisionsTable;
  changes: ChangesTable;
  service_revisions: ServiceRevisionsTable;
  tokens: TokensTable;
  audit_log: AuditTable;
  passport_keys: PassportKeysTable;
}
