/**
 * Signing keys of the dev IdP: generated at start and on rotation, held in memory only (never
 * written to disk), exported as private JWKs for oidc-provider's `jwks` configuration.
 */
import { generateKeyPair, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

/** The JWS algorithms the dev IdP signs access tokens with. */
export type DevIdpAlg = 'RS256' | 'ES256';

export const DEV_IDP_ALGS: readonly DevIdpAlg[] = ['RS256', 'ES256'];

/** A private JWK as oidc-provider takes it: `kid`, `alg` and `use` pinned. */
export interface SigningJwk {
  kid: string;
  alg: DevIdpAlg;
  use: 'sig';
  kty: string;
  [member: string]: unknown;
}

/** A fresh key pair for `alg`, with a random `kid` (so a rotation is visible in the JWKS). */
export async function generateSigningKey(alg: DevIdpAlg): Promise<SigningJwk> {
  const { privateKey } =
    alg === 'RS256'
      ? await generate('rsa', { modulusLength: 2048 })
      : await generate('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk,
    kty: String(jwk.kty),
    kid: `${alg.toLowerCase()}-${randomUUID()}`,
    alg,
    use: 'sig',
  };
}

/** One key per algorithm, in DEV_IDP_ALGS order. */
export function generateKeySet(): Promise<SigningJwk[]> {
  return Promise.all(DEV_IDP_ALGS.map((alg) => generateSigningKey(alg)));
}
