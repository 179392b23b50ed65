/**
 * Re-encrypts a CA state from one seal key to another (seal-key rotation). Pure: the caller
 * loads and saves the state. Idempotent: a key that already opens with `to` is resealed as it
 * is, so a rotation interrupted half-way can simply be run again.
 */
import {
  type AuthorityStateV1,
  purposeIntermediate,
  purposeJwt,
  purposeRoot,
} from './authority.ts';
import { certificatesFromPem } from './pem.ts';
import { type SealKey, seal, unseal } from './seal.ts';
import { x509 } from './x509.ts';

/** Opens `sealed` with `to` (already rotated) or else `from`; throws `CA_UNSEAL` when neither. */
export function openEither(from: SealKey, to: SealKey, sealed: string, purpose: string): Buffer {
  try {
    return unseal(to, sealed, purpose);
  } catch {
    return unseal(from, sealed, purpose);
  }
}

function serialOf(pem: string): string {
  return new x509.X509Certificate(certificatesFromPem(pem)[0]!).serialNumber;
}

/** The same state with every private key sealed under `to` instead of `from`. */
export function resealAuthority(
  state: AuthorityStateV1,
  from: SealKey,
  to: SealKey,
): AuthorityStateV1 {
  const td = state.trustDomain;
  const again = (sealed: string, purpose: string) =>
    seal(to, openEither(from, to, sealed, purpose), purpose);
  return {
    ...state,
    roots: state.roots.map((r) =>
      r.key === undefined ? r : { ...r, key: again(r.key, purposeRoot(td, serialOf(r.cert))) },
    ),
    intermediates: state.intermediates.map((i) => ({
      ...i,
      key: again(i.key, purposeIntermediate(td, serialOf(i.cert))),
    })),
    jwtKeys: state.jwtKeys.map((k) => ({ ...k, key: again(k.key, purposeJwt(td, k.kid)) })),
  };
}
