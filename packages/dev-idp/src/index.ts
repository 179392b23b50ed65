/** A development OpenID provider for the demo and tests (oidc-provider on loopback). */
export {
  type DevIdp,
  type DevIdpClaims,
  type DevIdpOptions,
  signIn,
  startDevIdp,
} from './dev-idp.ts';
export type { DevIdpAlg } from './keys.ts';
