/**
 * The gateway's Authenticator (contracts.ts): a bearer token goes to the OIDC verifier, an API
 * key to the API key table, no credential is `undefined` (the route decides whether that is
 * fine), and two credentials are refused (credentials.ts says why).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Authenticator, Principal } from '../contracts.ts';
import { GatewayError } from '../errors.ts';
import { createApiKeyVerifier } from './api-keys.ts';
import { type ClaimMapping, compileClaimMapping, mapClaims } from './claims.ts';
import { readCredential } from './credentials.ts';
import { createOidcVerifier, type OidcVerifierOptions } from './oidc.ts';
import type { GatewayIdentitySpec } from './types.ts';

export function createAuthenticator(
  spec: GatewayIdentitySpec,
  options: OidcVerifierOptions = {},
): Authenticator {
  if (spec === null || typeof spec !== 'object')
    throw new TypeError('createAuthenticator: spec must be an object');
  const issuers = spec.oidc ?? [];
  // The attrs are shared by every issuer; the subject claim is per issuer. Compiled (and so
  // checked) once, even with no issuer configured.
  const mappings = new Map<string, ClaimMapping>();
  try {
    compileClaimMapping(spec.passport?.attrs);
    for (const issuer of issuers) {
      mappings.set(issuer?.issuer, compileClaimMapping(spec.passport?.attrs, issuer?.subjectClaim));
    }
  } catch (error) {
    throw new GatewayError(
      'GATEWAY_CONFIG_INVALID',
      `Gateway spec.passport.attrs or spec.oidc[].subjectClaim: ${(error as Error).message}`,
    );
  }
  const apiKeys = createApiKeyVerifier(spec.apiKeys ?? []);
  const oidc = createOidcVerifier(issuers, options);

  return {
    async authenticate(headers: IncomingHttpHeaders): Promise<Principal | undefined> {
      const credential = readCredential(headers);
      if (credential === undefined) return undefined;
      if (credential.kind === 'apiKey') return apiKeys.verify(credential.key);
      const verified = await oidc.verify(credential.token);
      const mapping = mappings.get(verified.issuer.issuer) as ClaimMapping;
      const { subject, attrs } = mapClaims(verified.claims, mapping);
      return {
        kind: 'oidc',
        subject,
        attrs,
        issuer: verified.issuer.issuer,
        expiresAt: verified.exp,
      };
    },
    close: () => oidc.close(),
  };
}
