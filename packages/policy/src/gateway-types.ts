/**
 * The edge's document kinds, `Gateway` and `Route` (issue 15): the gateway's configuration, carried
 * in the gateway service's own bundle. They hold no rules; gateway-check.ts checks them.
 */
import type { API_VERSION, Metadata } from './types.ts';

/** One trusted OpenID Connect issuer of a Gateway (`spec.oidc[]`). */
export interface GatewayOidcIssuer {
  /** The exact `iss`; https (http only for a loopback host). Discovery is under it. */
  issuer: string;
  /** The token's `aud` must contain one of these. */
  audiences: string[];
  /** Allowed JWS algorithms; default `DEFAULT_GATEWAY_ALGORITHMS`. Never `none` or HS*. */
  algorithms?: string[];
  /** The issuer's JWKS; skips discovery when given. */
  jwksUri?: string;
  /** Default 30, at most 300. */
  clockSkewSec?: number;
  /** The claim that becomes the passport subject; default `sub`. */
  subjectClaim?: string;
}

/** A machine client of a Gateway: only the SHA-256 of its key is ever stored. */
export interface GatewayApiKey {
  id: string;
  /** SHA-256 of the key text, 64 lower-case hex digits. */
  sha256: string;
  subject: string;
  attrs?: Record<string, unknown>;
}

export interface GatewayCors {
  /** Exact origins (`https://host[:port]`), or `*` (then `credentials` must be false). */
  origins: string[];
  methods?: string[];
  headers?: string[];
  credentials?: boolean;
  maxAgeSec?: number;
}

/** `kind: Gateway` — the edge's configuration; its key is the gateway service's key. */
export interface GatewayDocument {
  apiVersion: typeof API_VERSION;
  kind: 'Gateway';
  metadata: Metadata;
  spec: {
    oidc?: GatewayOidcIssuer[];
    apiKeys?: GatewayApiKey[];
    passport?: {
      /** Default 60; at most the zone's maximum lifetime. */
      ttlSec?: number;
      /** Passport attribute name -> dot path into the token's claims. */
      attrs?: Record<string, string>;
    };
    limits?: { maxBodyBytes?: number; maxHeaderBytes?: number; requestTimeoutMs?: number };
    cors?: GatewayCors;
    /** CIDRs of proxies whose forwarding headers are extended rather than replaced. */
    trustedProxies?: string[];
    rateLimit?: { failureMode?: 'open' | 'closed' };
  };
}

export type RouteAuth = 'required' | 'optional' | 'none';

export interface RouteRateLimit {
  by: 'ip' | 'user' | 'apiKey' | 'route';
  limit: number;
  windowSec: number;
}

/** `kind: Route` — one path of a Gateway (in the gateway's namespace) and its upstream. */
export interface RouteDocument {
  apiVersion: typeof API_VERSION;
  kind: 'Route';
  metadata: Metadata;
  spec: {
    /** The gateway's name, in this document's namespace. */
    gateway: string;
    match: {
      /** Exactly one of `pathPrefix` and `path`. */
      pathPrefix?: string;
      path?: string;
      methods?: string[];
      hosts?: string[];
    };
    /** Default `required`. */
    auth?: RouteAuth;
    upstream: {
      /** A service, relative to the namespace (`name` or `namespace/name`). */
      service: string;
      endpoints: string[];
      stripPrefix?: boolean;
      timeoutMs?: number;
      healthCheck?: { path: string; intervalMs?: number };
    };
    rateLimits?: RouteRateLimit[];
    /** A JSON Schema (draft 2020-12) for `application/json` bodies. */
    requestSchema?: Record<string, unknown> | boolean;
  };
}
