import type { PolicyDocument } from '@ward/policy';

/**
 * A passport key as distributed in bundles: an HMAC-SHA-256 secret (`HS256`, symmetric: whoever
 * holds it can mint) or an Ed25519 public key (`EdDSA`), with the private key only in the bundle
 * of a minting service. Only the keys of the service's own trust zone are distributed.
 */
export interface PassportKeyV1 {
  kid: string;
  alg: 'HS256' | 'EdDSA';
  /** base64url of the raw key bytes: the HS256 secret, or the 32-byte Ed25519 public key. */
  key: string;
  /** EdDSA, minting services only: base64url of the 32-byte Ed25519 private seed. */
  privateKey?: string;
  /** Trust zone of the key. */
  zone?: string;
  /** ISO time after which the key is no longer accepted for verification, if any. */
  notAfter?: string;
}

/** How the bundle's service takes part in passport trust (from `spec.passport` and its rules). */
export interface BundlePassportV1 {
  /** The service's trust zone; verifiers accept the audience `zone:<zone>` and their name. */
  zone: string;
  /** Mints passports (its keys include the signing key). */
  mint: boolean;
  /** Verifies passports; false: the bundle carries no keys and passports are ignored. */
  verify: boolean;
  /** Largest `exp - iat` accepted, seconds. */
  maxLifetimeSec: number;
}

/**
 * Everything a destination service needs to decide locally: the intentions on it, the Service
 * documents of the identities they reference, and the passport keys.
 */
export interface BundleV1 {
  apiVersion: 'ward.dev/v1';
  kind: 'Bundle';
  /** The destination service this bundle is for: its service key: `name`, or `namespace/name` outside the default namespace. */
  service: string;
  /** Global, strictly monotonic control-plane revision at which the bundle was built. */
  revision: number;
  /** ISO 8601. */
  issuedAt: string;
  trustDomain: string;
  documents: PolicyDocument[];
  passportKeys: PassportKeyV1[];
  /** Absent in bundles of older control planes. */
  passport?: BundlePassportV1;
}

/**
 * The envelope that travels and is cached on disk. The signature covers the exact UTF-8 bytes of
 * `payload` (the JSON text of a `BundleV1`), so no canonicalisation is needed to verify it.
 */
export interface SignedBundleV1 {
  /** JSON text of a `BundleV1`. */
  payload: string;
  /** base64url Ed25519 signature over the UTF-8 bytes of `payload`. */
  signature: string;
  /** Identifies the control-plane signing key (base64url SHA-256 of its raw public key, first 16 chars). */
  keyId: string;
  /** `sha256-<base64url>` of the payload bytes; also the HTTP ETag. */
  hash: string;
}

/** Data of one server-sent event on `GET /v1/watch` (event name `revision`). */
export interface WatchEventV1 {
  revision: number;
  /** Keys of the services whose bundle changed at this revision; `["*"]` when every bundle changed. */
  services: string[];
}
