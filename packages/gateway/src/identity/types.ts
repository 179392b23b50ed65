/**
 * The parts of `Gateway.spec` that external identity reads (docs/gateway.md). Structural on
 * purpose: the full, validated Gateway spec type is assignable to `GatewayIdentitySpec`.
 */

/** One trusted issuer (`Gateway.spec.oidc[]`). */
export interface GatewayOidc {
  /** The exact `iss`; discovery at `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  /** The token's `aud` must contain one of these (at least one). */
  audiences: string[];
  /** Allowed JWS algorithms; default RS256, PS256, ES256, EdDSA. Never `none` or HS*. */
  algorithms?: string[];
  /** Skips discovery when set. */
  jwksUri?: string;
  /** Default 30, at most 300. */
  clockSkewSec?: number;
  /** Dot path of the subject claim; default `sub`. */
  subjectClaim?: string;
}

/** One machine client (`Gateway.spec.apiKeys[]`): only the key's SHA-256 is configured. */
export interface GatewayApiKey {
  id: string;
  /** SHA-256 of the key text, 64 hex digits. */
  sha256: string;
  subject: string;
  attrs?: Record<string, unknown>;
}

/** What `createAuthenticator` needs of a Gateway spec. */
export interface GatewayIdentitySpec {
  oidc?: GatewayOidc[];
  apiKeys?: GatewayApiKey[];
  passport?: {
    /** Passport attr name -> dot path into the token's claims. */
    attrs?: Record<string, string>;
  };
}
