import type { PolicyDocument } from '@ward/policy';

/** A passport verification key as distributed in bundles (HMAC-SHA-256, symmetric). */
export interface PassportKeyV1 {
  kid: string;
  alg: 'HS256';
  /** base64url of the raw key bytes. */
  key: string;
  /** ISO time after which the key is no longer accepted for verification, if any. */
  notAfter?: string;
}

/**
 * Everything a destination service needs to decide locally: the intentions on it, the Service
 * documents of the identities they reference, and the passport keys.
 */
export interface BundleV1 {
  apiVersion: 'ward.dev/v1';
  kind: 'Bundle';
  /** The destination service this bundle is for. */
  service: string;
  /** Global, strictly monotonic control-plane revision at which the bundle was built. */
  revision: number;
  /** ISO 8601. */
  issuedAt: string;
  trustDomain: string;
  documents: PolicyDocument[];
  passportKeys: PassportKeyV1[];
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
  /** Services whose bundle changed at this revision; `["*"]` when every bundle changed. */
  services: string[];
}
