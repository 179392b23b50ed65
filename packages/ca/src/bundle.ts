import { X509Certificate as NodeCert } from 'node:crypto';
import type { Authority } from './authority.ts';
import type { JsonWebKey } from './webcrypto.ts';
import { pemOf } from './x509.ts';

/** The X.509 trust bundle (root certificates) as concatenated PEM. */
export function trustBundlePem(authority: Authority): string {
  return authority.roots.map((r) => pemOf(r)).join('');
}

/** The trust bundle as Node certificates (for chain checks). */
export function trustBundleCerts(authority: Authority): NodeCert[] {
  return authority.roots.map((r) => new NodeCert(Buffer.from(r.rawData)));
}

/**
 * The trust bundle in the SPIFFE bundle format (SPIFFE Trust Domain and Bundle §4, X509-SVID
 * §6.1): a JWK Set with one `use: "x509-svid"` entry per root carrying `x5c` and no `kid`, plus
 * the JWT-SVID keys with `use: "jwt-svid"` and their `kid`.
 */
export async function spiffeBundle(
  authority: Authority,
  refreshHintSeconds = 300,
): Promise<{ keys: JsonWebKey[]; spiffe_refresh_hint: number }> {
  const keys: JsonWebKey[] = [];
  for (const root of authority.roots) {
    const jwk = await crypto.subtle.exportKey('jwk', await root.publicKey.export());
    keys.push({
      kty: jwk.kty,
      crv: jwk.crv,
      x: jwk.x,
      y: jwk.y,
      use: 'x509-svid',
      x5c: [Buffer.from(root.rawData).toString('base64')],
    } as JsonWebKey);
  }
  keys.push(...authority.jwtPublicKeys);
  return { keys, spiffe_refresh_hint: refreshHintSeconds };
}

/** The JWT-SVID bundle: a JWK Set of the CA's JWT signing keys. */
export function jwtBundle(authority: Authority): { keys: JsonWebKey[] } {
  return { keys: [...authority.jwtPublicKeys] };
}
