/**
 * `ward gateway`, the edge: external identity (OIDC bearer tokens, API keys) in, passports out,
 * policy at the edge, rate limits, request hygiene and mTLS upstreams through the SDK's client.
 */
export { GatewayError, type GatewayErrorCode } from './errors.ts';
export { type ApiKeyVerifier, createApiKeyVerifier } from './identity/api-keys.ts';
export { createAuthenticator } from './identity/authenticator.ts';
export { MAX_API_KEY_BYTES, MAX_TOKEN_BYTES } from './identity/credentials.ts';
export {
  createOidcVerifier,
  DEFAULT_ALGORITHMS,
  type OidcVerifier,
  type OidcVerifierOptions,
  type VerifiedToken,
} from './identity/oidc.ts';
export type { GatewayApiKey, GatewayIdentitySpec, GatewayOidc } from './identity/types.ts';
