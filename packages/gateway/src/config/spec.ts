/**
 * The `Gateway` and `Route` documents as SPEC.md (issue 15) defines them. Declared here because
 * @ward/policy does not know these kinds on this branch; the merge replaces them with its types.
 */

export interface DocumentMetadata {
  name: string;
  namespace?: string;
}

export interface OidcIssuerSpec {
  issuer: string;
  audiences: string[];
  algorithms?: string[];
  jwksUri?: string;
  clockSkewSec?: number;
  subjectClaim?: string;
}

export interface ApiKeySpec {
  id: string;
  sha256: string;
  subject: string;
  attrs?: Record<string, unknown>;
}

export interface CorsSpec {
  origins: string[];
  methods?: string[];
  headers?: string[];
  credentials?: boolean;
  maxAgeSec?: number;
}

export interface GatewaySpec {
  oidc?: OidcIssuerSpec[];
  apiKeys?: ApiKeySpec[];
  passport?: { ttlSec?: number; attrs?: Record<string, string> };
  limits?: { maxBodyBytes?: number; maxHeaderBytes?: number; requestTimeoutMs?: number };
  cors?: CorsSpec;
  trustedProxies?: string[];
  rateLimit?: { failureMode?: 'open' | 'closed' };
}

export interface GatewayDocument {
  apiVersion: 'ward.dev/v1';
  kind: 'Gateway';
  metadata: DocumentMetadata;
  spec: GatewaySpec;
}

export type RouteAuth = 'required' | 'optional' | 'none';

export interface RouteSpec {
  gateway: string;
  match: {
    pathPrefix?: string;
    path?: string;
    methods?: string[];
    hosts?: string[];
  };
  auth?: RouteAuth;
  upstream: {
    service: string;
    endpoints: string[];
    stripPrefix?: boolean;
    timeoutMs?: number;
    healthCheck?: { path: string; intervalMs?: number };
  };
  rateLimits?: { by: 'ip' | 'user' | 'apiKey' | 'route'; limit: number; windowSec: number }[];
  requestSchema?: Record<string, unknown>;
}

export interface RouteDocument {
  apiVersion: 'ward.dev/v1';
  kind: 'Route';
  metadata: DocumentMetadata;
  spec: RouteSpec;
}
